"""After a failed run (a CUDA out-of-memory above all) its worker holds none of its tensors.

The kept exception's traceback holds every frame of the failed training, and so its model,
optimiser and data; with several slots on one GPU the others would then run out too. The run
goes through the worker's real execute() on a real database; the out-of-memory is injected
at the first training batch, since no GPU is here to exhaust. Automatic garbage collection is
off during the run, so that only what the worker itself frees counts.
"""

from __future__ import annotations

import gc
import weakref
from pathlib import Path
from typing import Any

import pytest
import torch

import core.training.lockstep
from core.spec import parse_spec
from store import runs
from store.config import Settings
from store.db import Database
from tests.service.servers import tiny_spec
from tests.service.test_store import db  # noqa: F401  (fixture: each dialect)
from worker import failures, tasks


def test_a_failed_runs_model_and_data_are_collected(
    db: Database,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = parse_spec(tiny_spec("oom-memory", epochs=2))
    with db.transaction() as session:
        _, dispatches = runs.create_experiment(session, spec=spec, priority=5)
    settings = Settings(database_url=db.url, artifact_dir=tmp_path, device="cpu")
    monkeypatch.setattr(tasks, "settings", settings)
    held: dict[str, weakref.ref[Any]] = {}

    def out_of_memory(model: torch.nn.Module, optimizer: Any, images: Any, *_: Any, **__: Any):
        held.update(model=weakref.ref(model), optimizer=weakref.ref(optimizer))
        held.update(images=weakref.ref(images))
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(core.training.lockstep, "train_members_epoch", out_of_memory)
    gc.collect()
    gc.disable()
    try:
        ended = tasks.execute(dispatches[0].run_id, task_id=dispatches[0].task_id, worker="w@h")
        alive = sorted(name for name, ref in held.items() if ref() is not None)
    finally:
        gc.enable()
    assert ended == "failed"
    assert set(held) == {"model", "optimizer", "images"}
    assert alive == [], f"still referenced after the failure: {alive}"


def test_every_task_gives_the_cached_device_memory_back(
    db: Database,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run that ends done empties the allocator's cache too."""
    spec = parse_spec(tiny_spec("empties-cache", epochs=1))
    with db.transaction() as session:
        _, dispatches = runs.create_experiment(session, spec=spec, priority=5)
    monkeypatch.setattr(tasks, "settings", Settings(database_url=db.url, artifact_dir=tmp_path))
    emptied: list[bool] = []
    monkeypatch.setattr(tasks, "empty_device_cache", lambda: emptied.append(True))
    ended = tasks.execute(dispatches[0].run_id, task_id=dispatches[0].task_id, worker="w@h")
    assert (ended, emptied) == ("done", [True])


def test_emptying_the_cache_reaches_an_initialised_device(monkeypatch: pytest.MonkeyPatch) -> None:
    """(A GPU faked: none is here.) Nothing happens before CUDA is initialised."""
    emptied: list[bool] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: emptied.append(True))
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    failures.empty_device_cache()
    assert emptied == []
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    failures.empty_device_cache()
    assert emptied == [True]
