"""How many repeats of an arm train together (`execution.batch_repeats`), measured, not guessed.

`auto` is 1 on a CPU: measured on this project's 2-core CPU (bench/RESULTS.md), a stacked
model never beats training the repeats one by one (small_cnn 28 px, batch 64, R=8: 2,900 img/s
one by one, 2,650 stacked), because a CPU kernel is already busy at one member's size. On a GPU
one member leaves the device idle, so `auto` times a few steps at R = 1, 2, 4, ... and keeps the
fastest aggregate rate (at least half a second of training each); the answer is cached per device,
model, shape, precision and slots per GPU under the state directory.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
from pathlib import Path
from typing import Any

import torch

from core.spec import ExperimentSpec
from core.training.bench import PROBE_STEPS, group_rate

log = logging.getLogger(__name__)

PROBE_CANDIDATES = (1, 2, 4, 8, 16, 32, 64)
PROBE_GAIN = 1.05  # a larger R must beat the best so far by 5% to be worth its memory
# Timed training per candidate, at least: a few steps take milliseconds on an H100, where
# launch jitter and clock ramp-up would decide the answer.
PROBE_SECONDS = 0.5
PROBE_MAX_EPOCHS = 1000
# cuBLAS and cuDNN report a failed allocation in their own words, not as OutOfMemoryError.
ALLOCATION_FAILURES = ("out of memory", "CUBLAS_STATUS_ALLOC_FAILED", "CUDNN_STATUS_ALLOC_FAILED")


def cache_dir() -> Path:
    """Where measured answers are kept: $INITLAB_CACHE_DIR, else the state dir's `cache`
    ($INITLAB_STATE_DIR, default ./var)."""
    if os.environ.get("INITLAB_CACHE_DIR"):
        return Path(os.environ["INITLAB_CACHE_DIR"])
    return Path(os.environ.get("INITLAB_STATE_DIR") or "var") / "cache"


def slots_sharing_device() -> int:
    """K, the worker slots sharing this GPU (INITLAB_SLOTS_PER_GPU, set by `initlab worker`):
    each has 1/K of its memory, so the best R depends on K."""
    return max(1, int(os.environ.get("INITLAB_SLOTS_PER_GPU") or 1))


def out_of_memory(error: BaseException) -> bool:
    """Whether `error` is the device running out of memory, in any library's words."""
    if isinstance(error, torch.OutOfMemoryError):
        return True
    return isinstance(error, RuntimeError) and any(m in str(error) for m in ALLOCATION_FAILURES)


def timed_rate(model: str, members: int, **shape: Any) -> float | None:
    """group_rate over at least PROBE_SECONDS of timed training: a first short measurement
    says how many epochs of its steps make that much."""
    first = group_rate(model, members, **shape)
    if first is None:
        return None
    epoch_seconds = members * PROBE_STEPS * shape["batch_size"] / first
    epochs = min(PROBE_MAX_EPOCHS, max(1, math.ceil(PROBE_SECONDS / epoch_seconds)))
    return group_rate(model, members, repeats=epochs, **shape)


def probe_best(model: str, limit: int, **shape: Any) -> int:
    """The R, up to `limit`, with the best aggregate rate; stops at the first that fails or
    does not pay (out of memory, cuBLAS's or cuDNN's included, counts as failing)."""
    best, best_rate = 1, 0.0
    for r in (c for c in PROBE_CANDIDATES if c <= limit):
        try:
            rate = timed_rate(model, r, **shape)
        except RuntimeError as error:  # OutOfMemoryError is one
            if not out_of_memory(error):
                raise
            break
        finally:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        if rate is None or rate < best_rate * PROBE_GAIN:
            break
        best, best_rate = r, rate
    return best


def device_key(device: torch.device) -> str:
    """A cache key part naming the device model, e.g. 'cuda:NVIDIA H200'."""
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return device.type


def resolve_batch_repeats(
    spec: ExperimentSpec, device: torch.device, image_size: int, num_classes: int
) -> int:
    """R for this experiment on `device`: the spec's integer, or what `auto` measures."""
    wanted = spec.execution.batch_repeats
    if wanted != "auto":
        return min(wanted, spec.repeats)
    if device.type != "cuda" or spec.repeats == 1:
        return 1
    batch, precision = spec.training.batch_size, spec.training.precision
    slots = slots_sharing_device()
    shape = f"{image_size}px|b{batch}|c{num_classes}|{precision}|K{slots}"
    key = f"{device_key(device)}|{spec.model}|{shape}|torch {torch.__version__}"
    path = cache_dir() / "batch_repeats.json"
    cached: dict[str, int] = {}
    with contextlib.suppress(OSError, ValueError):
        cached = json.loads(path.read_text())
    if key not in cached:
        cached[key] = probe_best(
            spec.model,
            spec.repeats,
            image_size=image_size,
            batch_size=batch,
            num_classes=num_classes,
            device=device,
            precision=precision,
        )
        log.info("batch_repeats auto: measured R=%d for %s", cached[key], key)
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(cached, indent=1))
    return min(cached[key], spec.repeats)


def repeat_groups(repeats: int, size: int) -> list[list[int]]:
    """Repeats 0..repeats-1 in consecutive groups of at most `size`."""
    return [list(range(s, min(s + size, repeats))) for s in range(0, repeats, size)]
