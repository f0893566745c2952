"""What a failed run's error says: what happened, and at which phase and epoch."""

from __future__ import annotations

import gc
import traceback

import torch

from core.methods import plan_for
from core.spec import ExperimentSpec
from core.training.runner import TrainingError, phases_for

Position = tuple[str, int]  # (phase, epoch) of the last recorded epoch


def position(spec: ExperimentSpec, arm: str, last: Position | None) -> str:
    """'phase main, epoch 3': the epoch a run works on after recording `last` (None: nothing)."""
    phases = phases_for(spec, plan_for(spec.arm(arm)))

    def start(index: int) -> str:
        phase = phases[index]
        return f"phase {phase.name}, epoch {0 if phase.is_stage else 1}"

    if last is None:
        return start(0)
    name, epoch = last
    for index, phase in enumerate(phases):
        if phase.name != name:
            continue
        if epoch < phase.epochs:
            return f"phase {name}, epoch {epoch + 1}"
        return start(index + 1) if index + 1 < len(phases) else f"phase {name}, epoch {epoch}"
    return f"phase {name}, after epoch {epoch}"


def describe(error: BaseException, where: str) -> str:
    """One message for the run's `error` column, at most 4000 characters."""
    if isinstance(error, torch.cuda.OutOfMemoryError):
        first = str(error).strip().splitlines()[0] if str(error).strip() else "out of memory"
        message = (
            f"CUDA out of memory in {where}: {first} Lower training.batch_size or "
            "eval_batch_size, or run fewer slots per GPU (--slots-per-gpu), then retry the run."
        )
    else:
        text = str(error) or type(error).__name__
        prefix = "" if isinstance(error, TrainingError) else f"{type(error).__name__}: "
        message = prefix + text
        if " in phase " not in text:  # TrainingError's NaN message names phase and epoch
            message += f" [in {where}]"
    return message[:4000]


def broken_device(error: BaseException) -> bool:
    """Whether `error` is a CUDA error other than out-of-memory: an illegal address or a device
    assert is sticky, every later CUDA call in this process fails, so only a new process helps."""
    if isinstance(error, torch.cuda.OutOfMemoryError):
        return False
    accelerator = getattr(torch, "AcceleratorError", ())  # torch >= 2.8 raises this one
    if accelerator and isinstance(error, accelerator):
        return True
    return isinstance(error, RuntimeError) and str(error).startswith("CUDA error")


def forget_frames(error: BaseException) -> None:
    """Drop the locals of the finished frames `error` and its causes hold (data, model,
    optimiser of the failed run): a kept exception would otherwise keep them all alive."""
    pending, seen = [error], set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        traceback.clear_frames(current.__traceback__)  # skips frames still executing
        current.__traceback__ = None
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]


def empty_device_cache() -> None:
    """Give the allocator's cached blocks back to the device, after every task: the next run
    may have another shape, and slots sharing a GPU need what this one no longer uses."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


def release_memory(error: BaseException | None = None) -> None:
    """After a failure (a CUDA OOM above all), free what the run held, so that the worker's
    next run starts clean. A full collection takes ~0.2 s with torch loaded: failures only."""
    if error is not None:
        forget_frames(error)
    gc.collect()
    empty_device_cache()
