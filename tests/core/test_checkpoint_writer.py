"""Checkpoints written off the training thread (core/training/writer.py, issue 25 item 9) and
`execution.checkpoint_every`: the files hold what the synchronous path wrote, a commit never runs
ahead of its file, a write error fails the run as before, and sparse checkpoints lose nothing
committed across a kill."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import core.training.writer
from core.data.base import Dataset
from core.spec import SpecError, parse_spec
from core.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from core.training.runner import RunHooks, run_group, run_single
from core.training.stacked import (
    StackedModel,
    member_optimizer_state,
    member_snapshot,
    member_state,
    stack_models,
)
from core.training.writer import HostCopy
from tests.core.conftest import tiny_spec
from tests.core.test_resume_pairing import stop_after

Rows = list[dict[str, Any]]
KEY = ("phase", "epoch", "split", "loss", "accuracy", "lr", "examples", "examples_total")


def serialised(state: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(64, 3)
    )


def step(model: StackedModel, optimizer: torch.optim.Optimizer, members: int) -> None:
    optimizer.zero_grad()
    model(torch.randn(members, 5, 3, 4, 4)).square().mean().backward()
    optimizer.step()


@pytest.mark.parametrize("members", [1, 3])
def test_one_host_copy_splits_into_the_files_the_synchronous_path_wrote(members: int) -> None:
    torch.manual_seed(0)
    models = [net() for _ in range(members)]
    model = stack_models(models)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    step(model, optimizer, members)
    live = (model.module.state_dict(), optimizer.state_dict())
    # What the training thread used to save: each member's slice copied from the live tensors.
    if members == 1:
        before = [serialised({"model": live[0], "optimizer": live[1]})]
    else:
        before = [
            serialised(
                {
                    "model": member_state(live[0], i, members),
                    "optimizer": member_optimizer_state(live[1], i, members),
                }
            )
            for i in range(members)
        ]
    copy = HostCopy(live, torch.device("cpu"))
    step(model, optimizer, members)  # training goes on: the copy keeps the epoch's values
    for i in range(members):
        own_model, own_optimizer = member_snapshot(copy.value(), i, members)
        assert serialised({"model": own_model, "optimizer": own_optimizer}) == before[i]


def test_a_commit_follows_its_file_from_the_writer_thread(
    digits_small: Dataset, tmp_path: Path
) -> None:
    spec = tiny_spec(training={"epochs": 1, "batch_size": 64})
    path = tmp_path / "run.pt"
    delivered: list[tuple[str, int]] = []

    def commit(rows: Rows) -> None:
        assert threading.current_thread() is not threading.main_thread()
        saved = load_checkpoint(path)  # the epoch's own file is whole on disk already
        assert (saved["phase"], saved["epoch"]) == (rows[0]["phase"], rows[0]["epoch"])
        assert saved["history"][-len(rows) :] == rows
        delivered.append((rows[0]["phase"], rows[0]["epoch"]))

    result = run_single(
        spec, "warm", 0, dataset=digits_small, checkpoint_path=path, on_epoch=commit
    )
    # Every epoch delivered, in order, before the run returned.
    assert delivered == list(dict.fromkeys((r["phase"], r["epoch"]) for r in result.metrics))


def test_a_write_error_fails_the_run_with_the_previous_checkpoint_committed(
    digits_small: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tiny_spec(training={"epochs": 2, "batch_size": 64})
    path = tmp_path / "run.pt"
    writes = [0]

    def disk_full_at_the_third(state: dict[str, Any], target: Path) -> None:
        writes[0] += 1
        if writes[0] == 3:
            raise CheckpointError(f"cannot write checkpoint {target}: [Errno 28] No space left")
        save_checkpoint(state, target)

    monkeypatch.setattr(core.training.writer, "save_checkpoint", disk_full_at_the_third)
    committed: list[Rows] = []
    with pytest.raises(CheckpointError, match="No space left"):
        run_single(
            spec, "smart", 0, dataset=digits_small, checkpoint_path=path, on_epoch=committed.append
        )
    assert len(committed) == 2  # the failed epoch's rows never commit
    saved = load_checkpoint(path)
    assert (saved["phase"], saved["epoch"]) == (
        committed[-1][0]["phase"],
        committed[-1][0]["epoch"],
    )
    assert [p.name for p in tmp_path.iterdir()] == ["run.pt"]


def test_sparse_checkpoints_commit_rows_with_their_file_and_resume_losing_nothing(
    digits_small: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An hour between checkpoints: only each phase's last epoch writes one (warm: one stage).
    spec = tiny_spec(training={"epochs": 3, "batch_size": 64}, execution={"checkpoint_every": 3600})
    whole = run_single(spec, "warm", 0, dataset=digits_small)
    path = tmp_path / "run.pt"
    files: list[tuple[str, int]] = []

    def save(state: dict[str, Any], target: Path) -> None:
        save_checkpoint(state, target)
        files.append((state["phase"], state["epoch"]))

    monkeypatch.setattr(core.training.writer, "save_checkpoint", save)
    store: dict[tuple[str, int, str], tuple[Any, ...]] = {}  # the database: upserted rows

    def commit(rows: Rows) -> None:
        history = [tuple(r[k] for k in KEY) for r in load_checkpoint(path)["history"]]
        for row in rows:  # never a committed row the file on disk does not hold
            assert tuple(row[k] for k in KEY) in history
            store[row["phase"], row["epoch"], row["split"]] = tuple(row[k] for k in KEY)

    # Killed in main epoch 2 (three epochs trained): the last file ends the stage, and main
    # epoch 1, whose rows no file holds, was never committed.
    on_progress, should_stop = stop_after(3)
    hooks = RunHooks(0, path, commit, should_stop, on_progress)
    (killed,) = run_group(spec, "warm", [hooks], dataset=digits_small)
    assert killed.status == "cancelled"
    assert files == [("stage-1", 2)]
    assert {(p, e) for p, e, _ in store} == {("stage-1", 0), ("stage-1", 1), ("stage-1", 2)}
    files.clear()
    run_single(spec, "warm", 0, dataset=digits_small, checkpoint_path=path, on_epoch=commit)
    assert files == [("main", 3)]
    assert store == {
        (r["phase"], r["epoch"], r["split"]): tuple(r[k] for k in KEY) for r in whole.metrics
    }


@pytest.mark.parametrize("every", [0, -5, "often", True, 90_000])
def test_checkpoint_every_refuses_what_is_not_epoch_or_seconds(every: object) -> None:
    spec = tiny_spec().model_dump()
    with pytest.raises(SpecError, match="valid choices: 'epoch' or a number of seconds"):
        parse_spec(spec | {"execution": {"checkpoint_every": every}})
    for good in ("epoch", 30, 2.5):
        assert parse_spec(spec | {"execution": {"checkpoint_every": good}})
