"""What a search found, for the API, the CLI and reports: the trials, the pruned share, and the
top schedules' search estimate beside their confirmed estimate (the winner's curse)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from scipy import stats as sps

from core.search.objective import paired_differences
from core.search.plans import PAPER_DEFAULT, top_trials, trial_arm
from core.search.space import schedule, stage_share
from core.search.study import StoredTrial
from core.spec import ExperimentSpec
from core.stats.records import Run


def estimate(diffs: Mapping[int, float]) -> dict[str, Any]:
    """n, mean paired difference and its 95% t interval (None where n is too small)."""
    values = list(diffs.values())
    n = len(values)
    out: dict[str, Any] = {"n": n, "mean_diff": None, "ci95_low": None, "ci95_high": None}
    if n == 0:
        return out
    mean = sum(values) / n
    out["mean_diff"] = mean
    if n > 1:
        sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
        half = float(sps.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
        out.update(ci95_low=mean - half, ci95_high=mean + half)
    return out


def trial_rows(spec: ExperimentSpec, trials: list[StoredTrial]) -> list[dict[str, Any]]:
    """Each trial with its schedule, cost share, state and values."""
    assert spec.search is not None
    arm = spec.arm(spec.search.arm)
    rows = []
    for trial in sorted(trials, key=lambda t: t.number):
        stages = schedule(trial.params, arm)
        rows.append({
            "number": trial.number,
            "state": trial.state,
            "params": trial.params,
            "stages": [s.model_dump(exclude_none=True) for s in stages],
            "preprocess_share": stage_share(stages, spec.training.epochs),
            "value": trial.value,
            "intermediate": {str(k): v for k, v in sorted(trial.intermediate.items())},
        })
    return rows


def counts(trials: list[StoredTrial]) -> dict[str, Any]:
    """How many trials ran, were pruned, completed, failed or were never run (over budget)."""
    ran = [t for t in trials if t.state != "over_budget"]
    pruned = sum(t.state == "pruned" for t in ran)
    return {
        "ran": len(ran),
        "complete": sum(t.state == "complete" for t in ran),
        "pruned": pruned,
        "failed": sum(t.state == "failed" for t in ran),
        "running": sum(t.state == "running" for t in ran),
        "over_budget": len(trials) - len(ran),
        "pruned_share": pruned / len(ran) if ran else None,
    }


def confirmation(
    spec: ExperimentSpec,
    trials: list[StoredTrial],
    runs: Mapping[str, Mapping[int, Run]],
    sequential: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Per confirmed arm (the paper's default, then the top trials): the search's estimate and
    the confirmed one at equal compute on the new seed, their gap, and the primary's sequential
    decision. `runs`: the confirmation's runs by arm then repeat."""
    assert spec.baseline is not None
    base = runs.get(spec.baseline, {})
    decided = {str(row.get("arm")): row for row in sequential}
    arms = [(PAPER_DEFAULT, None)] + [(trial_arm(t.number), t) for t in top_trials(spec, trials)]
    out = []
    for arm, trial in arms:
        confirmed = estimate(paired_differences(runs.get(arm, {}), base, spec))
        searched = None if trial is None else trial.value
        gap = None
        if searched is not None and confirmed["mean_diff"] is not None:
            gap = searched - confirmed["mean_diff"]
        row = decided.get(arm, {})
        out.append({
            "arm": arm,
            "trial": None if trial is None else trial.number,
            "search_estimate": searched,
            "confirmed": confirmed,
            "winners_curse_gap": gap,
            "decision": row.get("decided"),
        })
    return out
