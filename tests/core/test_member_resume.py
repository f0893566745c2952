"""What a checkpoint holds and what a run resumed from one carries on with
(core/training/member.py).

The resume tests in test_runner.py and test_resume_pairing.py compare metrics and count the
epochs trained; these compare the checkpoints themselves: a run that was killed and resumed
must write, epoch for epoch, the checkpoints an uninterrupted run writes.
"""

from pathlib import Path
from typing import Any

import pytest
import torch

import core.training.writer
from core.data.base import Dataset
from core.training.checkpoint import load_checkpoint, save_checkpoint
from core.training.member import RunHooks
from core.training.runner import RunCancelled, run_group, run_single
from tests.core.conftest import tiny_spec
from tests.core.test_resume_pairing import stop_after

CHECKPOINT_KEYS = {
    "identity",
    "model",
    "optimizer",
    "scheduler",
    "phase",
    "phase_index",
    "epoch",
    "rng",
    "history",
    "wall_seconds",
    "examples_total",
    "seconds_total",
    "init_fingerprint",
}
FOREIGN = "checkpoint belongs to another run or spec; refusing to resume"
# Row fields that do not depend on wall-clock time.
ROW_KEY = ("phase", "epoch", "split", "loss", "accuracy", "lr", "examples", "examples_total")


def record_checkpoints(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every checkpoint the runner writes from now on, read back from disk as it was written."""
    written: list[dict[str, Any]] = []

    def save(state: dict[str, Any], path: Path) -> None:
        save_checkpoint(state, path)
        written.append(load_checkpoint(path))

    monkeypatch.setattr(core.training.writer, "save_checkpoint", save)
    return written


def same(a: Any, b: Any) -> bool:
    """Equal nested dicts, lists and tensors (tensors bit for bit)."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def rows_key(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [tuple(row[k] for k in ROW_KEY) for row in rows]


def test_a_resumed_run_writes_the_checkpoints_an_uninterrupted_run_writes(
    digits_small: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tiny_spec(training={"epochs": 2, "batch_size": 64})
    written = record_checkpoints(monkeypatch)
    run_single(spec, "smart", 0, dataset=digits_small, checkpoint_path=tmp_path / "whole.pt")
    whole = {(s["phase"], s["epoch"]): s for s in written}

    # Killed after stage-1's last epoch: the resumed run starts with stage-2's epoch 0, which
    # trains nothing, so its checkpoint carries what the restore brought back unchanged.
    written.clear()
    path = tmp_path / "killed.pt"
    on_progress, should_stop = stop_after(2)
    with pytest.raises(RunCancelled):
        run_single(
            spec,
            "smart",
            0,
            dataset=digits_small,
            checkpoint_path=path,
            on_progress=on_progress,
            should_stop=should_stop,
        )
    saved = load_checkpoint(path)
    assert (saved["phase"], saved["epoch"]) == ("stage-1", 2)
    written.clear()
    run_single(spec, "smart", 0, dataset=digits_small, checkpoint_path=path)

    resumed = [(s["phase"], s["epoch"]) for s in written]
    assert resumed == list(whole)[list(whole).index(("stage-1", 2)) + 1 :]
    for state in written:
        expected = whole[(state["phase"], state["epoch"])]
        for key in (
            "identity",
            "phase_index",
            "examples_total",
            "init_fingerprint",
            "rng",
            "model",
            "optimizer",
            "scheduler",
        ):
            assert same(state[key], expected[key]), (state["phase"], state["epoch"], key)
        assert rows_key(state["history"]) == rows_key(expected["history"])
        assert state["wall_seconds"].keys() == expected["wall_seconds"].keys()
    # Training time goes on from the checkpoint's: the seconds of each epoch, counted once.
    last = written[-1]
    per_epoch = {(r["phase"], r["epoch"]): r["seconds"] for r in last["history"]}
    assert last["seconds_total"] == pytest.approx(sum(per_epoch.values()))
    assert last["seconds_total"] > saved["seconds_total"] > 0


def test_a_checkpoint_names_its_run_and_holds_its_counters(
    digits_small: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Checkpoints outlive a worker upgrade: these names are the format a later version reads.
    spec = tiny_spec(training={"epochs": 1, "batch_size": 64})
    written = record_checkpoints(monkeypatch)
    result = run_single(spec, "smart", 1, dataset=digits_small, checkpoint_path=tmp_path / "r.pt")
    identity = {"spec": spec.identity_json(), "arm": "smart", "repeat": 1}
    for state in written:
        assert state.keys() == CHECKPOINT_KEYS
        assert state["identity"] == identity
        assert state["init_fingerprint"] == result.init_fingerprint
        # The global RNG state, as torch.get_rng_state gives it, from the first checkpoint on
        # (stage-1's epoch 0 is written before anything was trained).
        assert isinstance(state["rng"], torch.Tensor) and state["rng"].dtype == torch.uint8
        assert state["examples_total"] == sum(
            r["examples"] for r in state["history"] if r["split"] in ("sample", "train")
        )


def test_a_resumed_run_replays_its_stored_rows_one_epoch_at_a_time(
    digits_small: Dataset, tmp_path: Path
) -> None:
    spec = tiny_spec(training={"epochs": 1, "batch_size": 64})
    path = tmp_path / "run.pt"
    first = run_single(spec, "smart", 0, dataset=digits_small, checkpoint_path=path)
    replayed: list[list[dict[str, Any]]] = []
    run_single(
        spec, "smart", 0, dataset=digits_small, checkpoint_path=path, on_epoch=replayed.append
    )
    # `on_epoch` receives one finished epoch at a time: the worker stores each as one commit.
    epochs = list(dict.fromkeys((r["phase"], r["epoch"]) for r in first.metrics))
    assert [{(r["phase"], r["epoch"]) for r in rows} for rows in replayed] == [
        {epoch} for epoch in epochs
    ]
    assert [row for rows in replayed for row in rows] == first.metrics


def test_a_foreign_checkpoint_fails_that_run_alone_with_its_reason(
    digits_small: Dataset, tmp_path: Path
) -> None:
    spec = tiny_spec(
        arms=[{"name": "a", "method": "original"}, {"name": "b", "method": "original"}],
        training={"epochs": 1, "batch_size": 64},
    )
    path = tmp_path / "a0.pt"
    run_single(spec, "a", 0, dataset=digits_small, checkpoint_path=path)
    reseeded = tiny_spec(
        arms=[a.model_dump() for a in spec.arms], seed=1, training={"epochs": 1, "batch_size": 64}
    )
    for other, arm, repeat in ((spec, "a", 1), (spec, "b", 0), (reseeded, "a", 0)):
        result = run_group(other, arm, [RunHooks(repeat, path)], dataset=digits_small)[0]
        assert (result.status, result.error) == ("failed", FOREIGN), (arm, repeat)
        assert result.to_json()["error"] == FOREIGN
    # The checkpoint's own run still resumes from it.
    again = run_group(spec, "a", [RunHooks(0, path)], dataset=digits_small)[0]
    assert again.status == "done" and "error" not in again.to_json()
