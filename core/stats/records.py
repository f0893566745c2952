"""Reading results.json run records: finite numbers, runs by arm and repeat, a phase's rows.

A run record is {arm, repeat, seed, init_fingerprint, status, wall_seconds, metrics}; each
metric row is {phase, epoch, split, loss, accuracy, lr, seconds, examples, examples_total,
seconds_total} (DESIGN.md, "Metrics and statistics").
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from core.phase_order import phase_rank

Run = Mapping[str, Any]
Row = Mapping[str, Any]


def check_choice(value: str, valid: Sequence[str], what: str) -> None:
    """Raise ValueError naming `value` and the valid choices when it is not one of them."""
    if value not in valid:
        raise ValueError(f"unknown {what} {value!r}; valid choices: {', '.join(valid)}")


def num(value: Any) -> float | None:
    """A finite float, or None for anything missing or not finite."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def group(runs: Iterable[Run]) -> dict[str, dict[int, Run]]:
    """Runs by arm (first-appearance order) then repeat; a later duplicate replaces an earlier."""
    groups: dict[str, dict[int, Run]] = {}
    for run in runs:
        groups.setdefault(str(run["arm"]), {})[int(run["repeat"])] = run
    return {arm: dict(sorted(reps.items())) for arm, reps in groups.items()}


def series(run: Run, phase: str) -> dict[str, list[Row]]:
    """One phase's rows per split, sorted by epoch; a re-recorded epoch keeps its last row."""
    by_split: dict[str, dict[int, Row]] = {}
    for row in run.get("metrics") or []:
        if row.get("phase") == phase and row.get("epoch") is not None:
            by_split.setdefault(str(row.get("split")), {})[int(row["epoch"])] = row
    return {split: [rows[e] for e in sorted(rows)] for split, rows in by_split.items()}


def all_phases(run: Run, split: str) -> list[Row]:
    """A split's rows of every phase in training order (stages, preprocess, main), by epoch."""
    phases = {str(row.get("phase")) for row in run.get("metrics") or []}
    rows: list[Row] = []
    for phase in sorted(phases, key=phase_rank):
        rows += series(run, phase).get(split, [])
    return rows
