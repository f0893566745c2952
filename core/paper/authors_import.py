"""Import the paper authors' stored per-epoch results (an .npz array file) as an experiment.

Layout (github DavidDenisov/Smart-Init, folder results/): `train_losses`, `train_accuracy`,
`val_losses`, `val_accuracy` are runs × arms × epochs, one value per main-phase epoch, epoch 1
first; `test_losses`, `test_accuracy` are runs × arms × 1, measured once after the last epoch.
Loss is mean cross-entropy, accuracy is in percent. Arms are in the order the preset lists them,
and run r of every arm started from the same weights (so runs pair by index). The result is a
results.json document, as `initlab run` writes, marked as imported.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from core.data.base import DataError
from core.methods import plan_for
from core.paper.presets import PRESETS
from core.provenance import TEST_LOSS_IS_VAL_LOSS
from core.spec import ExperimentSpec, parse_spec
from core.training.experiment import build_results, with_selections

PER_EPOCH = {
    "train_losses": ("train", "loss"),
    "train_accuracy": ("train", "accuracy"),
    "val_losses": ("val", "loss"),
    "val_accuracy": ("val", "accuracy"),
}
PER_RUN = {"test_losses": ("test", "loss"), "test_accuracy": ("test", "accuracy")}
KEYS = (*PER_EPOCH, *PER_RUN)
AUTHORS_SOURCE = "github.com/DavidDenisov/Smart-Init, folder results/ (the paper's authors)"
AUTHORS_LICENCE = "CC BY-NC 4.0"
# Training images one full epoch sees: Downsampled ImageNet's train set (Chrabaszcz et al.);
# CIFAR-10's 50,000 less the 10% validation hold-out (Section IV).
TRAIN_EXAMPLES = {"downsampled_imagenet": 1_281_167, "cifar10": 45_000}
# The authors declared no primary comparison; InitLab's default stands in for one.
NO_DECLARED_PRIMARY = (
    "the authors declared no primary comparison: 'primary' here is InitLab's default (val loss"
    " under rule val_loss), fixed before these runs were imported, not by the authors"
)
DERIVED_EXAMPLES = (
    "examples and examples_total are derived from the preset's protocol (training-set size ×"
    " stage fractions × epochs, the original's preprocessing epoch included), not recorded in"
    " the authors' file"
)


class ImportFileError(DataError):
    """An array file that cannot be imported; the message names the file, key and problem."""


def file_sha256(path: Path) -> str:
    """SHA-256 of the file's bytes (the identity of an import: the same file imports once)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    """The six arrays of an authors' file, as float64; refuses pickles and missing keys."""
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise ImportFileError(f"{path}: a single .npy array; expected an .npz archive")
            present = set(archive.files)
            missing = [key for key in KEYS if key not in present]
            if missing:
                raise ImportFileError(
                    f"{path}: missing key(s) {', '.join(missing)}; the file holds"
                    f" {', '.join(sorted(present)) or 'nothing'}; expected {', '.join(KEYS)}"
                )
            arrays = {key: archive[key] for key in KEYS}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as error:
        raise ImportFileError(f"{path}: not a readable .npz array file ({error})") from None
    for key, array in arrays.items():
        if array.dtype.kind not in "fiu":
            raise ImportFileError(f"{path}: {key} has dtype {array.dtype}; expected numbers")
    return {key: array.astype(np.float64) for key, array in arrays.items()}


def check_shapes(path: Path, arrays: dict[str, np.ndarray], arms: list[str]) -> tuple[int, int]:
    """(runs, epochs), after checking every array against the others and the preset's arms."""
    shapes = {key: arrays[key].shape for key in KEYS}
    first = shapes["train_losses"]
    if len(first) != 3:
        raise ImportFileError(
            f"{path}: train_losses has shape {first}; expected runs × arms × epochs (3 axes)"
        )
    runs, n_arms, epochs = first
    if n_arms != len(arms):
        raise ImportFileError(
            f"{path}: the arrays hold {n_arms} arm(s) (axis 1) but the preset has {len(arms)}:"
            f" {', '.join(arms)}; choose the preset the file was made for"
        )
    if runs < 1 or epochs < 1:
        raise ImportFileError(f"{path}: train_losses has shape {first}; no runs or no epochs")
    for key in KEYS:
        expected = (runs, n_arms, epochs) if key in PER_EPOCH else (runs, n_arms, 1)
        if shapes[key] != expected:
            what = "runs × arms × epochs" if key in PER_EPOCH else "runs × arms × 1 (measured once)"
            raise ImportFileError(
                f"{path}: {key} has shape {shapes[key]}; expected {expected} ({what},"
                f" as train_losses {first})"
            )
    return runs, epochs


def check_values(path: Path, arrays: dict[str, np.ndarray], arms: list[str]) -> None:
    """Refuse non-finite, negative or >100% values: the authors fill arms not run with inf or -1."""
    for key, array in arrays.items():
        is_accuracy = key.endswith("accuracy")
        bad = ~np.isfinite(array) | (array < 0)
        if is_accuracy:
            bad |= array > 100
        if not bad.any():
            continue
        run, arm, epoch = (int(i) for i in np.argwhere(bad)[0])
        value = float(array[run, arm, epoch])
        valid = "a percentage in 0..100" if is_accuracy else "a finite loss ≥ 0"
        raise ImportFileError(
            f"{path}: {key} holds {int(bad.sum())} invalid value(s), first {value!r} at run"
            f" {run}, arm {arm} ({arms[arm]}), epoch {epoch + 1}; expected {valid} (the authors"
            " fill arms they did not run with inf or -1: such files cannot be imported)"
        )


def imported_spec(preset: str, runs: int, epochs: int, file_name: str) -> ExperimentSpec:
    """The preset's spec with repeats and main-phase epochs taken from the arrays."""
    data = PRESETS.get(preset)()
    data["name"] = f"{preset} (imported: {file_name})"
    data["repeats"] = runs
    data["training"]["epochs"] = epochs
    return parse_spec(data)


def stores_val_loss_as_test(spec: ExperimentSpec) -> bool:
    """The authors' ImageNet code (extra ImageNetV2 test set) saved val loss as 'test_losses'."""
    return spec.dataset.test == "imagenetv2"


def pretraining_examples(spec: ExperimentSpec, arm: str, per_epoch: int) -> int:
    """Examples an arm trains on before main epoch 1: its stages and preprocessing epochs."""
    plan = plan_for(spec.arm(arm))
    stages = sum(round(stage.fraction * per_epoch) * stage.epochs for stage in plan.stages)
    return stages + plan.preprocess_epochs * per_epoch


def run_metrics(
    arrays: dict[str, np.ndarray], run: int, arm: int, counts: tuple[int, int] | None
) -> list[dict[str, Any]]:
    """One main-phase row per epoch and split, then the test row at the final epoch.

    `counts` (examples before main, examples per main epoch) adds the equal-compute axis.
    """
    epochs = arrays["train_losses"].shape[2]
    rows = []
    for split in ("train", "val"):
        loss, accuracy = arrays[f"{split}_losses"], arrays[f"{split}_accuracy"]
        for e in range(epochs):
            rows.append(_row(e + 1, split, loss[run, arm, e], accuracy[run, arm, e]))
    # The test set was measured once, after training: record it at the final epoch.
    test_loss, test_acc = arrays["test_losses"], arrays["test_accuracy"]
    rows.append(_row(epochs, "test", test_loss[run, arm, 0], test_acc[run, arm, 0]))
    if counts is not None:
        before, per_epoch = counts
        for row in rows:
            row["examples"] = per_epoch
            row["examples_total"] = before + per_epoch * row["epoch"]
    return rows


def _row(epoch: int, split: str, loss: float, accuracy_percent: float) -> dict[str, Any]:
    # Accuracy is stored in percent by the authors, as a fraction by InitLab.
    return {
        "phase": "main",
        "epoch": epoch,
        "split": split,
        "loss": float(loss),
        "accuracy": float(accuracy_percent) / 100.0,
    }


def import_authors_file(
    path: Path, preset: str, *, source: str = AUTHORS_SOURCE, licence: str = AUTHORS_LICENCE
) -> dict[str, Any]:
    """The results document (spec, runs, summary, provenance) of an authors' array file."""
    spec_arms = [arm["name"] for arm in PRESETS.get(preset)()["arms"]]
    arrays = read_arrays(path)
    runs, epochs = check_shapes(path, arrays, spec_arms)
    check_values(path, arrays, spec_arms)
    spec = imported_spec(preset, runs, epochs, path.name)
    per_epoch = TRAIN_EXAMPLES.get(spec.dataset.name)
    counts = {
        arm.name: (pretraining_examples(spec, arm.name, per_epoch), per_epoch)
        if per_epoch
        else None
        for arm in spec.arms
    }
    records = [
        with_selections(
            {
                "arm": arm.name,
                "repeat": r,
                "seed": None,
                "init_fingerprint": None,
                "status": "done",
                "wall_seconds": {},
                "metrics": run_metrics(arrays, r, a, counts[arm.name]),
            }
        )
        for r in range(runs)
        for a, arm in enumerate(spec.arms)
    ]
    caveats = [TEST_LOSS_IS_VAL_LOSS] if stores_val_loss_as_test(spec) else []
    caveats.append(NO_DECLARED_PRIMARY)
    provenance = {
        "imported": True,
        "producer": "initlab import (the paper authors' array layout)",
        "file": path.name,
        "sha256": file_sha256(path),
        "source": source,
        "licence": licence,
        "preset": preset,
        "test_loss": "last-epoch validation loss" if stores_val_loss_as_test(spec) else "test loss",
        "caveats": caveats,
        "derived": [DERIVED_EXAMPLES] if per_epoch else [],
    }
    return build_results(spec, records, provenance)
