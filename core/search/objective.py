"""The objective of a trial: the spec's primary endpoint as a paired difference (trial arm
minus baseline, same repeat), at equal compute, averaged over repeats.

At equal compute, not at equal epochs: a schedule's stages cost examples, so each trial epoch
(the pruner's steps) is compared with the baseline at the first main epoch that has trained on as
many examples, all phases included (the last epoch where the baseline never gets there), and the
finished trial's value is the summary's equal-compute match (core.stats.equal_compute.match: the
side that trained on more, interpolated at the other's final total).
No selection rule picks the epoch, as in the equal-compute table: the rule would choose on the
same validation figures the search optimises.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from core.spec import ExperimentSpec
from core.stats.equal_compute import match
from core.stats.records import Row, Run, num, series

Direction = Literal["minimize", "maximize"]


def direction(spec: ExperimentSpec) -> Direction:
    """Lower loss is better; higher accuracy is better."""
    return "minimize" if spec.primary.metric == "loss" else "maximize"


def _figure(row: Row | None, metric: str) -> float | None:
    value = num(None if row is None else row.get(metric))
    return None if value is None else (100 * value if metric == "accuracy" else value)


def _main_rows(run: Run, split: str) -> dict[int, Row]:
    return {int(row["epoch"]): row for row in series(run, "main").get(split, [])}


def _baseline_at(base: dict[int, Row], total: float, finished: bool) -> Row | None:
    """The baseline's row at the first epoch reaching `total` examples; its last if it never
    does and is finished; None while it may still get there."""
    for epoch in sorted(base):
        if (num(base[epoch].get("examples_total")) or 0) >= total:
            return base[epoch]
    return base[max(base)] if base and finished else None


def _step_differences(trial: Run, base: Run, spec: ExperimentSpec) -> dict[int, float]:
    split, metric = spec.primary.split, spec.primary.metric
    rows, base_rows = _main_rows(trial, split), _main_rows(base, split)
    out = {}
    for epoch, row in sorted(rows.items()):
        total = num(row.get("examples_total"))
        if total is None:
            continue
        other = _baseline_at(base_rows, total, base.get("status") == "done")
        mine, theirs = _figure(row, metric), _figure(other, metric)
        if mine is None or theirs is None:
            break  # later epochs wait for this one
        out[epoch] = mine - theirs
    return out


def intermediate(
    trial_runs: Mapping[int, Run], base_runs: Mapping[int, Run], spec: ExperimentSpec
) -> dict[int, float]:
    """Main epoch -> mean paired difference so far, for the epochs every repeat has reached."""
    per_repeat = [
        _step_differences(run, base_runs[repeat], spec)
        for repeat, run in trial_runs.items()
        if repeat in base_runs
    ]
    if not per_repeat or len(per_repeat) < len(trial_runs):
        return {}
    steps = set.intersection(*(set(diffs) for diffs in per_repeat))
    return {step: sum(d[step] for d in per_repeat) / len(per_repeat) for step in sorted(steps)}


def paired_differences(
    trial_runs: Mapping[int, Run], base_runs: Mapping[int, Run], spec: ExperimentSpec
) -> dict[int, float]:
    """Repeat -> the finished trial's primary figure minus the baseline's, at equal compute."""
    split, metric = spec.primary.split, spec.primary.metric
    out = {}
    for repeat, run in trial_runs.items():
        if repeat not in base_runs:
            continue
        point = match(run, base_runs[repeat])
        if point is None:
            continue
        mine, theirs = point["_rows"]
        arm_value, base_value = _figure(mine.get(split), metric), _figure(theirs.get(split), metric)
        if arm_value is not None and base_value is not None:
            out[repeat] = arm_value - base_value
    return out


def final_value(
    trial_runs: Mapping[int, Run], base_runs: Mapping[int, Run], spec: ExperimentSpec
) -> float | None:
    """The trial's objective: the mean paired difference at equal compute over every repeat;
    None unless every repeat has one."""
    diffs = paired_differences(trial_runs, base_runs, spec)
    if not diffs or len(diffs) < len(trial_runs):
        return None
    return sum(diffs.values()) / len(diffs)
