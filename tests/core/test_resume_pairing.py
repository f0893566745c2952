"""What a resumed run trains, and the main-phase data order every arm of a repeat shares.

The resume tests elsewhere compare final metrics only, which a run that retrains from scratch
also reproduces on CPU; these count what is trained after the checkpoint. The pairing tests
record the permutation each trained epoch draws, so an order seeded by anything that differs
between arms (a phase's position, the arm's name) fails here.
"""

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

import core.training.lockstep
from core.data.base import Dataset
from core.training.checkpoint import load_checkpoint
from core.training.runner import RunCancelled, run_single
from tests.core.conftest import tiny_spec

Progress = tuple[str, int, int]


class EpochSpy:
    """Wraps the runner's training pass: records each trained epoch's order, then trains."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.orders: list[str] = []
        self.first_batches: list[list[int]] = []
        self.examples: list[int] = []
        real = core.training.lockstep.train_members_epoch

        def spy(*args: Any, generators: Any, **kwargs: Any) -> Any:
            labels, subsets = args[3], kwargs.get("subsets")
            n = len(labels) if subsets is None else subsets.shape[1]
            for generator in generators:  # one member when a run trains alone
                # A clone draws the same permutation the epoch is about to draw, leaving the
                # real generator untouched: the run trains exactly as it would without the spy.
                clone = torch.Generator().set_state(generator.get_state())
                order = torch.randperm(n, generator=clone)
                self.orders.append(hashlib.sha256(order.numpy().tobytes()).hexdigest())
                self.first_batches.append(order[: kwargs["batch_size"]].tolist())
            results = real(*args, generators=generators, **kwargs)
            self.examples.extend(result.examples for result in results)
            return results

        monkeypatch.setattr(core.training.lockstep, "train_members_epoch", spy)


def progress_log() -> tuple[list[Progress], Callable[[str, int, int], None]]:
    log: list[Progress] = []
    return log, lambda phase, epoch, total: log.append((phase, epoch, total))


def main_orders(
    spec: Any, arm: str, repeat: int, data: Dataset, spy: EpochSpy
) -> dict[int, tuple[str, list[int]]]:
    """Main-phase epoch -> (hash of its permutation, its first batch's indices)."""
    spy.orders.clear()
    spy.first_batches.clear()
    log, on_progress = progress_log()
    run_single(spec, arm, repeat, dataset=data, on_progress=on_progress)
    # Epoch 0 of a stage only measures: every other progress report follows one trained epoch.
    trained = [(phase, epoch) for phase, epoch, _ in log if epoch > 0]
    assert len(trained) == len(spy.orders)
    return {
        epoch: (spy.orders[i], spy.first_batches[i])
        for i, (phase, epoch) in enumerate(trained)
        if phase == "main"
    }


def test_smart_init_main_phase_order_equals_the_baselines_in_every_repeat(
    digits_small: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = EpochSpy(monkeypatch)
    spec = tiny_spec(training={"epochs": 2, "batch_size": 64, "augment": "crop_flip"})
    assert spec.baseline == "original"
    for repeat in range(spec.repeats):
        baseline = main_orders(spec, "original", repeat, digits_small, spy)
        assert sorted(baseline) == [1, 2]
        for arm in ("smart", "repeat", "sp"):
            assert main_orders(spec, arm, repeat, digits_small, spy) == baseline, (arm, repeat)
    # The order is a real draw: epochs and repeats differ.
    assert baseline[1][0] != baseline[2][0]
    assert main_orders(spec, "original", 0, digits_small, spy) != baseline


def stop_after(epochs: int) -> tuple[Callable[[str, int, int], None], Callable[[], bool]]:
    """on_progress and should_stop that cancel the run once `epochs` epochs were trained."""
    done = [0]

    def on_progress(phase: str, epoch: int, total: int) -> None:
        done[0] += epoch > 0

    return on_progress, lambda: done[0] >= epochs


@pytest.mark.parametrize("arm, cancelled_after", [("smart", 3), ("smart", 4), ("original", 2)])
def test_a_resumed_run_trains_only_the_epochs_after_its_checkpoint(
    digits_small: Dataset,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    arm: str,
    cancelled_after: int,
) -> None:
    spec = tiny_spec()
    spy = EpochSpy(monkeypatch)
    whole_log, on_progress = progress_log()
    run_single(spec, arm, 0, dataset=digits_small, on_progress=on_progress)
    whole_examples = list(spy.examples)

    checkpoint = tmp_path / "run.pt"
    counter, should_stop = stop_after(cancelled_after)
    with pytest.raises(RunCancelled):
        run_single(
            spec,
            arm,
            0,
            dataset=digits_small,
            checkpoint_path=checkpoint,
            on_progress=counter,
            should_stop=should_stop,
        )
    saved = load_checkpoint(checkpoint)
    stored = [(row["phase"], row["epoch"]) for row in saved["history"]]
    spy.examples.clear()
    resumed_log, on_progress = progress_log()
    run_single(
        spec, arm, 0, dataset=digits_small, checkpoint_path=checkpoint, on_progress=on_progress
    )
    # Exactly the epochs after the checkpoint's, in order, each trained on as many examples.
    done = len(dict.fromkeys(stored))
    assert (saved["phase"], saved["epoch"]) == whole_log[done - 1][:2]
    assert resumed_log == whole_log[done:]
    trained_before = sum(epoch > 0 for _, epoch, _ in whole_log[:done])
    assert trained_before == cancelled_after
    assert spy.examples == whole_examples[trained_before:]
