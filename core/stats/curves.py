"""Curves over repeats with bands: per epoch, or per examples / seconds trained on (all phases).

Accuracy stays a fraction here, as it is stored; the tables and paired differences report %.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from scipy import stats as sps

from core.stats.records import Run, all_phases, check_choice, group, num, series

BANDS = ("iqr", "p10p90", "minmax", "std", "ci95")
X_AXES = ("epoch", "examples_total", "seconds_total")
# Above this many distinct x values (seconds differ run to run) the grid is evenly spaced.
MAX_GRID = 200


@functools.lru_cache(maxsize=1024)
def _t975(dof: int) -> float:
    """Student's t 97.5% quantile: the same few repeat counts come back on every x."""
    return float(sps.t.ppf(0.975, dof))


def _lerp(low: np.ndarray, high: np.ndarray, t: np.ndarray) -> np.ndarray:
    """numpy's own linear interpolation for percentiles (exact at t = 0 and t = 1)."""
    diff = high - low
    return np.where(t >= 0.5, high - diff * (1 - t), low + diff * t)


def _group_rows(keys: np.ndarray, values: np.ndarray) -> list[tuple[Any, dict[str, Any]]]:
    """(key, stats row) per distinct key over the values sharing it: n, median, percentiles
    (numpy's linear method), min, max, mean, std and the t-based 95% CI of the mean.

    All groups in one pass: values sorted within their group, percentiles read off by index. A
    thousand runs' curve has a hundred groups, and numpy called once per group cost more than
    the arithmetic.
    """
    order = np.argsort(keys, kind="stable")
    keys, values = keys[order], values[order]
    starts = np.flatnonzero(np.diff(keys, prepend=keys[0] - 1)) if keys.size else keys
    counts = np.diff(np.append(starts, keys.size))
    for start, count in zip(starts.tolist(), counts.tolist(), strict=True):
        values[start:start + count].sort()  # in place, group by group (lexsort is 3x slower)
    means = np.add.reduceat(values, starts) / counts
    deviations = values - np.repeat(means, counts)
    squares = np.add.reduceat(deviations * deviations, starts)
    stds = np.sqrt(squares / np.maximum(counts - 1, 1))
    quantiles = {}
    for name, q in (("p10", 10), ("p25", 25), ("median", 50), ("p75", 75), ("p90", 90)):
        at = (counts - 1) * (q / 100)
        below = np.floor(at).astype(int)
        above = np.minimum(below + 1, counts - 1)
        quantiles[name] = _lerp(values[starts + below], values[starts + above], at - below)
    rows = []
    for i, start in enumerate(starts.tolist()):
        n, mean = int(counts[i]), float(means[i])
        std = float(stds[i]) if n > 1 else None
        half = _t975(n - 1) * std / math.sqrt(n) if std is not None else None
        rows.append((keys[start].item(), {
            "n": n,
            **{name: float(quantile[i]) for name, quantile in quantiles.items()},
            "min": float(values[start]),
            "max": float(values[start + n - 1]),
            "mean": mean,
            "std": std,
            "ci95_low": None if half is None else mean - half,
            "ci95_high": None if half is None else mean + half,
        }))
    return rows


def run_points(
    run: Run, phase: str, split: str, metric: str, x: str = "epoch"
) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of one run, x increasing; at a repeated x the later measurement stands.

    A run's points depend on its own rows only, so a caller may keep them while the run's rows
    are unchanged and pass them to curve_from_points again (the API does, for a live experiment).
    """
    rows = all_phases(run, split) if phase == "all" else series(run, phase).get(split, [])
    by_x: dict[float, float] = {}
    for row in rows:
        xv, yv = num(row.get(x)), num(row.get(metric))
        if xv is not None and yv is not None:
            by_x.pop(xv, None)  # re-insert so a later row at the same x replaces it
            by_x[xv] = yv
    xs = np.array(list(by_x), dtype=float)
    ys = np.array(list(by_x.values()), dtype=float)
    order = np.argsort(xs, kind="stable")
    return xs[order], ys[order]


def _grid(curves: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """The union of the runs' x values, or MAX_GRID evenly spaced points when there are more."""
    xs = np.unique(np.concatenate([c[0] for c in curves]))
    if xs.size <= MAX_GRID:
        return xs
    return np.linspace(xs[0], xs[-1], MAX_GRID)


def _interpolated(curves: list[tuple[np.ndarray, np.ndarray]], x: str) -> list[dict[str, Any]]:
    grid = _grid(curves)
    keys, values = [], []
    for xs, ys in curves:  # each run read off the grid between its own first and last x
        covered = np.flatnonzero((grid >= xs[0]) & (grid <= xs[-1]))
        keys.append(covered)
        values.append(np.interp(grid[covered], xs, ys))
    grouped = _group_rows(np.concatenate(keys), np.concatenate(values))
    return [{"x": float(grid[i]), x: float(grid[i]), **row} for i, row in grouped]


def curve_stats(
    runs: Iterable[Run],
    arm: str,
    phase: str = "main",
    split: str = "val",
    metric: str = "loss",
    x: str = "epoch",
) -> list[dict[str, Any]]:
    """Per x over an arm's repeats: n, median, percentiles, min, max, mean, std, 95% CI.

    x="epoch": one row per recorded epoch of `phase` (keys "epoch" and "x"). x="examples_total"
    or "seconds_total" (what the run had trained on, all phases included, at the end of that
    epoch): each run's points are joined by straight lines and read off on a common grid, the
    union of all runs' x values (or MAX_GRID evenly spaced points from the smallest to the
    largest x when there are more), never extrapolated: a run counts at an x only between its
    own first and last point, and `n` says how many runs cover it. phase="all" (not with
    x="epoch") strings stages, preprocess and main together in training order, so a warm
    start's pre-training shows on the examples axis.
    """
    check_choice(x, X_AXES, "x axis")
    if x == "epoch" and phase == "all":
        raise ValueError("phase 'all' needs x examples_total or seconds_total; epochs restart")
    reps = group(runs).get(arm, {}).values()
    return curve_from_points([run_points(r, phase, split, metric, x) for r in reps], x)


def curve_from_points(
    curves: Iterable[tuple[np.ndarray, np.ndarray]], x: str = "epoch"
) -> list[dict[str, Any]]:
    """curve_stats from the runs' run_points: by epoch, each recorded epoch's values; on the
    examples or seconds axis, the runs read off a common grid (see curve_stats)."""
    drawn = [c for c in curves if c[0].size]
    if x != "epoch":
        return _interpolated(drawn, x) if drawn else []
    if not drawn:
        return []
    epochs = np.concatenate([xs for xs, _ in drawn]).astype(int)
    grouped = _group_rows(epochs, np.concatenate([ys for _, ys in drawn]))
    return [{"epoch": epoch, "x": float(epoch), **row} for epoch, row in grouped]


def band(stats_row: Mapping[str, Any], kind: str = "iqr") -> tuple[float | None, float | None]:
    """The (low, high) edges of a curve_stats row's band; undefined spreads collapse to the mean."""
    check_choice(kind, BANDS, "band")
    if kind in ("iqr", "p10p90", "minmax"):
        low, high = {"iqr": ("p25", "p75"), "p10p90": ("p10", "p90"), "minmax": ("min", "max")}[
            kind
        ]
        return stats_row[low], stats_row[high]
    mean = stats_row["mean"]
    if kind == "ci95" and stats_row.get("ci95_low") is not None:
        return stats_row["ci95_low"], stats_row["ci95_high"]
    std = stats_row.get("std")
    if kind == "std" and std is not None:
        return mean - std, mean + std
    return mean, mean
