"""Each run's own line for a chart: one arm's repeats, down-sampled to what a chart can show.

The dashboard's "individual runs" overlay reads these from the API instead of every metric row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from core.stats.curves import X_AXES
from core.stats.records import Run, all_phases, check_choice, group, num, series

MAX_POINTS = 200  # a chart panel is a few hundred pixels wide; more points add nothing


def thin(xs: Sequence[float], ys: Sequence[float], points: int) -> tuple[list[float], list[float]]:
    """At most `points` evenly strided points, always keeping the first and the last."""
    if len(xs) <= points:
        return list(xs), list(ys)
    step = (len(xs) - 1) / (points - 1)
    picks = sorted({round(i * step) for i in range(points)})
    return [xs[i] for i in picks], [ys[i] for i in picks]


def _line(run: Run, phase: str, split: str, metric: str, x: str) -> tuple[list[float], list[float]]:
    rows = all_phases(run, split) if phase == "all" else series(run, phase).get(split, [])
    xs, ys = [], []
    for row in rows:
        xv, yv = num(row.get(x)), num(row.get(metric))
        if xv is not None and yv is not None:
            xs.append(xv)
            ys.append(yv)
    return xs, ys


def _check(x: str, points: int) -> None:
    check_choice(x, X_AXES, "x axis")
    if points < 2:
        raise ValueError(f"points must be at least 2, got {points}")


def run_line(
    run: Run, phase: str = "main", split: str = "val", metric: str = "loss", x: str = "epoch",
    points: int = MAX_POINTS,
) -> tuple[list[float], list[float]]:
    """One run's (x, y), at most `points` points; empty where the run lacks the figure."""
    _check(x, points)
    xs, ys = _line(run, phase, split, metric, x)
    return thin(xs, ys, points) if xs else ([], [])


def run_lines(
    runs: Iterable[Run], arm: str, phase: str = "main", split: str = "val", metric: str = "loss",
    x: str = "epoch", points: int = MAX_POINTS,
) -> list[dict[str, Any]]:
    """[{repeat, x, y}] per repeat of `arm` that has the figure, at most `points` points each."""
    _check(x, points)
    lines = ((repeat, run_line(run, phase, split, metric, x, points))
             for repeat, run in group(runs).get(arm, {}).items())
    return [{"repeat": repeat, "x": xs, "y": ys} for repeat, (xs, ys) in lines if xs]
