"""A sweep's figures: per sweep point and arm, the selected metric over repeats, and the paired
difference to the baseline. Built from API bodies and core.stats.summary (no HTTP, no Streamlit).

A sweep point is one experiment of the sweep; its `swept` values (GET /sweeps/{id}) place it on
the x axis: at the value itself when one numeric path is swept, else at a categorical label.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.stats.summary import select
from dashboard.tables import MISSING, now_running

# Band edges over a point's repeats, as percentiles (min–max is 0–100).
POINT_BANDS = {"iqr": (25.0, 75.0), "minmax": (0.0, 100.0), "p10p90": (10.0, 90.0)}
POINT_BAND_LABELS = {"iqr": "IQR (25–75th percentile)", "minmax": "min–max",
                     "p10p90": "10–90th percentile"}


@dataclass(frozen=True)
class SweepAxis:
    """Where each experiment of a sweep sits on the x axis."""

    title: str
    numeric: bool
    positions: dict[int, Any]  # experiment id -> x (a float, or a label when categorical)
    labels: dict[int, str]  # experiment id -> its swept value(s) as text
    log: bool = False  # suggested: positive values spanning a factor of 10 or more

    def order(self, experiment_ids: Iterable[int]) -> list[int]:
        """The ids left to right: by value on a numeric axis, else as given."""
        ids = [i for i in experiment_ids if i in self.positions]
        return sorted(ids, key=self.positions.__getitem__) if self.numeric else ids


def value_text(value: Any) -> str:
    """A swept value as written in a spec: strings bare, everything else as compact JSON."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def point_label(swept: Mapping[str, Any]) -> str:
    """'training.lr=0.01, seed=1': every swept path of one point."""
    return ", ".join(f"{path}={value_text(value)}" for path, value in swept.items())


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def sweep_axis(experiments: Sequence[Mapping[str, Any]]) -> SweepAxis:
    """A numeric axis for one swept numeric path; otherwise one category per sweep point."""
    paths = list(dict.fromkeys(path for e in experiments for path in e.get("swept", {})))
    if len(paths) == 1:
        path = paths[0]
        values = {int(e["id"]): e.get("swept", {}).get(path) for e in experiments}
        labels = {i: MISSING if v is None else value_text(v) for i, v in values.items()}
        if values and all(_is_number(v) for v in values.values()):
            numbers = {i: float(v) for i, v in values.items()}
            low, high = min(numbers.values()), max(numbers.values())
            return SweepAxis(path, True, numbers, labels, log=low > 0 and high / low >= 10)
        return SweepAxis(path, False, labels, labels)
    labels = {int(e["id"]): point_label(e.get("swept", {})) or f"#{e['id']}" for e in experiments}
    return SweepAxis(" × ".join(paths) or "experiment", False, labels, labels)


def arms_of(specs: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every arm name in the sweep's specs, in the order they list them."""
    return list(dict.fromkeys(arm["name"] for spec in specs for arm in spec.get("arms", [])))


def repeat_values(
    runs: Iterable[Mapping[str, Any]], *, rule: str, split: str, metric: str
) -> dict[str, dict[int, float]]:
    """arm -> repeat -> the run's figure under `rule` (core.stats.summary.select; accuracy in %)."""
    out: dict[str, dict[int, float]] = {}
    for run in runs:
        value = select(run, rule).get(split, {}).get(metric)
        if value is not None:
            scaled = 100 * value if metric == "accuracy" else value
            out.setdefault(str(run["arm"]), {})[int(run["repeat"])] = float(scaled)
    return out


def spread(values: Sequence[float], band: str) -> dict[str, Any]:
    """n, median and the band's edges over one point's repeats (None where there are none)."""
    if band not in POINT_BANDS:
        raise ValueError(f"unknown band {band!r}; valid choices: {', '.join(POINT_BANDS)}")
    if not values:
        return {"n": 0, "median": None, "low": None, "high": None}
    low, median, high = np.percentile(np.array(values, dtype=float),
                                      [POINT_BANDS[band][0], 50.0, POINT_BANDS[band][1]])
    return {"n": len(values), "median": float(median), "low": float(low), "high": float(high)}


def sweep_points(
    experiments: Sequence[Mapping[str, Any]], runs: Mapping[int, Sequence[Mapping[str, Any]]],
    arms: Sequence[str], *, rule: str, split: str, metric: str, band: str,
) -> list[dict[str, Any]]:
    """Per experiment and arm: n, median and band over repeats of the selected figure."""
    points = []
    for experiment in experiments:
        eid = int(experiment["id"])
        by_arm = repeat_values(runs.get(eid, []), rule=rule, split=split, metric=metric)
        for arm in arms:
            values = list(by_arm.get(arm, {}).values())
            points.append({"experiment": eid, "arm": arm, **spread(values, band)})
    return points


def paired_points(
    experiments: Sequence[Mapping[str, Any]], summaries: Mapping[int, Mapping[str, Any] | None],
    *, rule: str, split: str, metric: str,
) -> list[dict[str, Any]]:
    """Per experiment, each arm minus its baseline: the summary's paired rows for this choice."""
    points = []
    for experiment in experiments:
        eid = int(experiment["id"])
        summary = summaries.get(eid) or {}
        for row in summary.get("paired", {}).get(rule, []):
            if row["split"] == split and row["metric"] == metric:
                points.append({"experiment": eid, **row})
    return points


def _f(value: float | None, digits: int) -> str:
    return MISSING if value is None else f"{value:.{digits}f}"


def swept_columns(experiments: Sequence[Mapping[str, Any]]) -> dict[int, dict[str, str]]:
    """experiment id -> one table column per swept path, holding its value as text."""
    paths = list(dict.fromkeys(path for e in experiments for path in e.get("swept", {})))
    return {
        int(e["id"]): {path: value_text(e["swept"][path]) if path in e.get("swept", {})
                       else MISSING for path in paths}
        for e in experiments
    }


def experiments_frame(experiments: Sequence[Mapping[str, Any]], axis: SweepAxis) -> pd.DataFrame:
    """One row per sweep point: its swept values, status, progress and a link to its page."""
    columns = swept_columns(experiments)
    by_id = {int(e["id"]): e for e in experiments}
    rows = []
    for e in (by_id[eid] for eid in axis.order(by_id)):
        p = e["progress"]
        rows.append({
            "ID": e["id"], **columns[int(e["id"])],
            "Status": e["status"], "Progress": p["fraction"],
            "Runs done": f"{p['runs_done']}/{p['runs_total']}", "Failed": p["runs_failed"],
            "Now": now_running(p), "Open": f"/?experiment={e['id']}",
        })
    return pd.DataFrame(rows)


def along_axis(points: Sequence[Mapping[str, Any]], axis: SweepAxis) -> list[Mapping[str, Any]]:
    """The points left to right along the axis (arms in their given order at each point)."""
    rank = {eid: k for k, eid in enumerate(axis.order(axis.positions))}
    return sorted(points, key=lambda p: rank.get(p["experiment"], len(rank)))


def points_frame(
    points: Sequence[Mapping[str, Any]], experiments: Sequence[Mapping[str, Any]],
    axis: SweepAxis, metric: str,
) -> pd.DataFrame:
    """The chart's figures as a table: per sweep point and arm, n, median and band edges."""
    digits = 2 if metric == "accuracy" else 4
    columns = swept_columns(experiments)
    rows = [
        {"Experiment": p["experiment"], **columns.get(p["experiment"], {}), "Arm": p["arm"],
         "n": p["n"], "Median": _f(p["median"], digits), "Band low": _f(p["low"], digits),
         "Band high": _f(p["high"], digits)}
        for p in along_axis(points, axis)
    ]
    return pd.DataFrame(rows)


def paired_points_frame(
    points: Sequence[Mapping[str, Any]], experiments: Sequence[Mapping[str, Any]],
    axis: SweepAxis,
) -> pd.DataFrame:
    """Per sweep point and arm: paired n, mean difference to the baseline, 95% CI, p, win rate."""
    columns = swept_columns(experiments)
    rows = []
    for p in along_axis(points, axis):
        win = MISSING if p["win_rate"] is None else f"{100 * p['win_rate']:.0f}%"
        rows.append({
            "Experiment": p["experiment"], **columns.get(p["experiment"], {}), "Arm": p["arm"],
            "Baseline": p["baseline"], "n": p["n"],
            "Mean difference": _f(p["mean_diff"], 4),
            "95% CI": f"[{_f(p['ci95_low'], 4)}, {_f(p['ci95_high'], 4)}]",
            "Paired t p": MISSING if p["t_p"] is None else f"{p['t_p']:.3g}", "Win rate": win,
        })
    return pd.DataFrame(rows)
