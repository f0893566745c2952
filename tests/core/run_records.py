"""Hand-made results.json run records in the runner's shape, for the statistics tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def record(
    arm: str,
    repeat: int,
    val_losses: Sequence[float],
    *,
    stages: Sequence[int] = (),
    preprocess: int = 0,
    n_train: int = 100,
    fingerprint: str | None = None,
    seconds: float = 2.0,
    accuracy: Sequence[float] | None = None,
) -> dict[str, Any]:
    """One run: stage-k epochs 0..e (each trains n_train / 2 examples), preprocess 1..k and main
    1..E (n_train each); val loss/accuracy per main epoch, examples_total/seconds_total running.
    """
    rows: list[dict[str, Any]] = []
    totals = {"examples": 0, "seconds": 0.0}

    def add(phase: str, epoch: int, trained: int, loss: float, acc: float) -> None:
        totals["examples"] += trained
        totals["seconds"] += seconds if trained else 0.0
        for split, offset in (("val", 0.0), ("test", 0.05), ("train", -0.1)):
            rows.append({
                "phase": phase, "epoch": epoch, "split": split, "loss": loss + offset,
                "accuracy": acc, "lr": 0.001, "seconds": seconds if trained else 0.0,
                "examples": trained, "examples_total": totals["examples"],
                "seconds_total": totals["seconds"],
            })

    for k, epochs in enumerate(stages, start=1):
        for epoch in range(epochs + 1):  # epoch 0 is measured before any training
            add(f"stage-{k}", epoch, n_train // 2 if epoch else 0, 3.0 - 0.1 * epoch, 0.2)
    for epoch in range(1, preprocess + 1):
        add("preprocess", epoch, n_train, 2.8 - 0.1 * epoch, 0.25)
    accuracy = accuracy or [1 - loss / 4 for loss in val_losses]
    for epoch, (loss, acc) in enumerate(zip(val_losses, accuracy, strict=True), start=1):
        add("main", epoch, n_train, loss, acc)
    wall = {"main": seconds * len(val_losses), "preprocess": seconds * preprocess}
    return {
        "arm": arm, "repeat": repeat, "seed": repeat, "status": "done",
        "init_fingerprint": fingerprint or f"fp{repeat}", "wall_seconds": wall, "metrics": rows,
    }
