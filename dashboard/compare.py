"""Comparing experiments: their arms' curves in one chart and their primary comparisons side by
side (two data sets, two schedules, two sweep points). Everything comes from the API."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from dashboard.charts import PALETTE, ArmSeries, CurveView, curve_series

MAX_EXPERIMENTS = 6  # beyond this the chart's colours and the side-by-side columns blur


def parse_ids(raw: str | None) -> list[int]:
    """The experiment ids of '?experiments=3,5' (bad or repeated items dropped, order kept)."""
    ids: list[int] = []
    for item in (raw or "").split(","):
        if item.strip().isdigit() and int(item) not in ids:
            ids.append(int(item))
    return ids[:MAX_EXPERIMENTS]


def label(experiment: Mapping[str, Any]) -> str:
    return f"#{experiment['id']} {experiment['name']}"


def primary_of(experiment: Mapping[str, Any]) -> tuple[str, str, str]:
    """(split, metric, rule) of the experiment's declared primary comparison."""
    primary = experiment["spec"].get("primary") or {}
    return (primary.get("split", "val"), primary.get("metric", "loss"),
            primary.get("rule", "val_loss"))


def primary_mismatch(experiments: Sequence[Mapping[str, Any]]) -> str | None:
    """A warning when the experiments declared different primary comparisons, else None."""
    declared = {label(e): primary_of(e) for e in experiments}
    if len(set(declared.values())) <= 1:
        return None
    each = "; ".join(f"{name}: {s} {m} under {r}" for name, (s, m, r) in declared.items())
    return f"The primary comparisons differ ({each}); each table shows its own."


def overlay_series(
    curves: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]], view: CurveView
) -> list[ArmSeries]:
    """(experiment, /curves body) pairs as one series per experiment and arm, named
    '#id arm' and coloured apart, for one chart with one axis."""
    out: list[ArmSeries] = []
    for experiment, body in curves:
        arms = [arm["name"] for arm in experiment["spec"]["arms"]]
        for s in curve_series(body, view, arms):
            color = PALETTE[len(out) % len(PALETTE)]
            out.append(replace(s, arm=f"#{experiment['id']} {s.arm}", color=color))
    return out
