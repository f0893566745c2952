"""Hostile or broken files reach a worker through an accepted spec: each run fails with a clear
message, nothing in the files is executed, and the worker goes on. (tests/core/test_data.py
covers the loaders themselves; these go through the API, the worker and the data root.)"""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from core.data import DataError, load_for_spec
from core.data.paths import check_links_inside
from core.spec import DatasetSpec
from tests.core.data_writers import write_cifar, write_imagenet32, write_topimages
from tests.core.test_data_archives import Evil
from tests.service.servers import Api, Service, tiny_spec

pytestmark = pytest.mark.slow  # live servers and workers


def _spec(name: str, dataset: dict[str, Any]) -> dict[str, Any]:
    return {**tiny_spec(name, epochs=1), "dataset": dataset}


def _hostile_folders(data: Path, marker: Path) -> dict[str, tuple[dict[str, Any], str]]:
    """Spec dataset and expected error fragment, per kind of hostile file."""
    write_cifar(data / "cifar-evil")
    evil = {"data": Evil(marker), "labels": [1]}
    (data / "cifar-evil/cifar-10-batches-py/data_batch_1").write_bytes(pickle.dumps(evil, 2))
    batch = write_imagenet32(data / "imnet-truncated") / "train_data_batch_1"
    batch.write_bytes(batch.read_bytes()[:200])
    (data / "imnet-npz").mkdir()
    objects = np.array([b"x", 1], dtype=object)
    np.savez(data / "imnet-npz/train_data_batch_1.npz", data=objects, labels=np.array([1]))
    write_imagenet32(data / "imnet-ok")
    (write_topimages(data / "v2-text") / "2" / "notes.txt").write_text("not an image")
    write_cifar(data / "cifar-linked")
    linked = data / "cifar-linked/cifar-10-batches-py/data_batch_1"
    outside = marker.parent / "data_batch_1"
    shutil.move(linked, outside)
    linked.symlink_to(outside)
    imnet = {"name": "downsampled_imagenet", "image_size": 16}
    return {
        "code in a pickle": (
            {"name": "cifar10", "root": "cifar-evil"},
            "pickle refers to forbidden global posix.system; refused",
        ),
        "truncated pickle": (
            {**imnet, "root": "imnet-truncated"},
            "train_data_batch_1: truncated or corrupt pickle",
        ),
        "npz of objects": ({**imnet, "root": "imnet-npz"}, "npz holds object arrays"),
        "text in an image folder": (
            {**imnet, "root": "imnet-ok", "test": "imagenetv2", "test_root": "v2-text"},
            "notes.txt: not a readable image",
        ),
        "link to a file outside": (
            {"name": "cifar10", "root": "cifar-linked"},
            f"data_batch_1 is a link to {outside}, outside the data root",
        ),
    }


def test_hostile_data_files_fail_their_runs_and_run_nothing(
    sqlite_service: Service, tmp_path: Path
) -> None:
    api = Api(sqlite_service.url)
    marker = tmp_path / "pwned"
    cases = _hostile_folders(Path(sqlite_service.backend.env["INITLAB_DATA_ROOT"]), marker)
    submitted = {kind: api.submit(_spec(kind, ds))["id"] for kind, (ds, _) in cases.items()}
    after = api.submit(tiny_spec("after-the-hostile-files", epochs=1))
    for kind, (_, fragment) in cases.items():
        api.wait_status(submitted[kind], ("failed",), timeout=60)
        (run,) = api.runs(submitted[kind])
        assert run["error"].startswith("DataError: ") and fragment in run["error"], (kind, run)
        assert run["error"].endswith("[in phase main, epoch 1]")
    api.wait_status(after["id"])
    assert not marker.exists(), "the pickle's payload never ran"


def test_a_checkpoint_that_runs_code_is_refused(sqlite_service: Service, tmp_path: Path) -> None:
    """torch.load with weights_only=True: a checkpoint naming os.system does not load."""
    api = Api(sqlite_service.url)
    data = Path(sqlite_service.backend.env["INITLAB_DATA_ROOT"])
    (data / "cifar-late").mkdir()  # there, so the submit is accepted, but empty
    created = api.submit(_spec("evil-checkpoint", {"name": "cifar10", "root": "cifar-late"}))
    api.wait_status(created["id"], ("failed",), timeout=60)  # no data yet: no checkpoint
    (run,) = api.runs(created["id"])
    write_cifar(data / "cifar-late")
    marker = tmp_path / "pwned-by-checkpoint"
    # Checkpoints are per execution (<run>.<fence>.pt): plant one where the retry's execution
    # will look for its own, whatever fence it gets.
    art = Path(sqlite_service.backend.env["INITLAB_ARTIFACT_DIR"])
    art.mkdir(parents=True, exist_ok=True)
    for fence in range(1, 10):
        torch.save({"model": Evil(marker), "identity": None}, art / f"{run['id']}.{fence}.pt")
    assert api.http.post(f"/runs/{run['id']}/retry").status_code == 200
    api.wait_status(created["id"], ("failed",), timeout=60)
    (run,) = api.runs(created["id"])
    planted = f"CheckpointError: cannot read checkpoint {art / str(run['id'])}."
    assert run["error"].startswith(planted)
    assert "Weights only load failed" in run["error"]
    assert not marker.exists()


def test_links_inside_a_data_folder_must_stay_inside_the_root(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    write_cifar(root / "cifar")
    outside.mkdir()
    batches = root / "cifar/cifar-10-batches-py"
    os.symlink(batches / "test_batch", root / "cifar/alias")  # inside: fine
    os.symlink(root / "cifar", batches / "loop")  # a cycle: checked once, no hang
    check_links_inside(root / "cifar", root)
    load_for_spec(DatasetSpec(name="cifar10", root="cifar"), root)
    shutil.move(batches / "test_batch", outside / "test_batch")
    (batches / "test_batch").symlink_to(outside / "test_batch")
    with pytest.raises(
        DataError, match=r"is a link to .*outside/test_batch, outside the data root"
    ):
        load_for_spec(DatasetSpec(name="cifar10", root="cifar"), root)
    load_for_spec(DatasetSpec(name="cifar10", root=str(root / "cifar")), None)  # the CLI's own
