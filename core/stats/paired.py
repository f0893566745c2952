"""Paired differences to the baseline by repeat: CI, t/Wilcoxon p, d_z, relative difference,
Holm-adjusted p over a reported family, and the pairing check on initial weights.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats as sps

from core.stats.records import Run, num

DEFAULT_INIT = "pytorch"
SECONDARY = "secondary (Holm-adjusted)"
FLAT = 1e-9  # differences closer than this (relative) are equal: rounding, not variation


def values_of(by_repeat: Mapping[int, Any], split: str, metric: str) -> dict[int, float]:
    """repeat -> the selected figure (accuracy in %), for runs that have one."""
    values = {}
    for repeat, picked in by_repeat.items():
        value = picked.get(split, {}).get(metric)
        if value is not None:
            values[repeat] = 100 * value if metric == "accuracy" else value
    return values


def _p_value(test: Any, *args: Any) -> float | None:
    """A scipy test's p-value, or None where the test is undefined for these data."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return num(test(*args).pvalue)
        except ValueError:
            return None


def constant(diff: np.ndarray) -> bool:
    """Whether the differences are all equal up to floating-point rounding of the figures."""
    return bool(np.ptp(diff) <= FLAT * max(1.0, float(np.max(np.abs(diff)))))


def paired_stats(arm: np.ndarray, base: np.ndarray, metric: str) -> dict[str, Any]:
    """n, mean difference (arm - base), 95% t CI, t/Wilcoxon p, wins/ties/losses, d_z, relative.

    Differences all equal (s.d. 0, n >= 2) are `degenerate`: no CI, t-test or d_z, never a
    zero-width interval. `wilcoxon_n` counts the non-zero differences Wilcoxon's test ranks.
    """
    diff = arm - base
    n = int(diff.size)
    out: dict[str, Any] = {"n": n, "mean_diff": None, "ci95_low": None, "ci95_high": None}
    out.update({"t_p": None, "wilcoxon_p": None, "wilcoxon_n": None})
    out.update({"win_rate": None, "wins": None, "ties": None, "losses": None, "degenerate": None})
    out.update({"d_z": None, "relative_diff": None})
    if n == 0:
        return out
    out.update({"wilcoxon_n": int(np.count_nonzero(diff)), "degenerate": False})
    better = diff < 0 if metric == "loss" else diff > 0
    ties = int(np.count_nonzero(diff == 0))
    out.update({"wins": int(better.sum()), "ties": ties, "losses": n - int(better.sum()) - ties})
    mean, base_mean = float(np.mean(diff)), float(np.mean(base))
    # Share of strict wins; ties are counted apart (wins / ties / losses), not as losses.
    out.update({"mean_diff": num(mean), "win_rate": num(np.mean(better))})
    # Relative to the baseline's own mean over the same repeats: unit-free across metrics.
    out["relative_diff"] = num(mean / base_mean) if base_mean else None
    if n < 2:
        return out
    sd = float(np.std(diff, ddof=1))
    if constant(diff):
        out["degenerate"] = True
        return out
    half = sps.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
    out.update({"ci95_low": num(mean - half), "ci95_high": num(mean + half)})
    out["d_z"] = num(mean / sd)  # Cohen's d_z: mean / s.d. of differences
    out["t_p"] = _p_value(sps.ttest_rel, arm, base)
    if np.any(diff != 0):
        out["wilcoxon_p"] = _p_value(sps.wilcoxon, arm, base)
    return out


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment (as statsmodels' multipletests 'holm'); None stays None."""
    present = sorted((p, i) for i, p in enumerate(pvalues) if p is not None)
    m = len(present)
    adjusted: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for k, (p, i) in enumerate(present):
        running = max(running, min(1.0, (m - k) * p))  # monotone: never below a smaller p's
        adjusted[i] = running
    return adjusted


def add_holm(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Set each row's p_holm: its t-test p adjusted over all of `rows` (one family)."""
    for row, adjusted in zip(rows, holm([row["t_p"] for row in rows]), strict=True):
        row["p_holm"] = adjusted
    return rows


def paired_rows(
    values: Mapping[str, Mapping[int, float]],
    baseline: str,
    head: Mapping[str, Any],
    metric: str,
    excluded: frozenset[tuple[str, int]] = frozenset(),
) -> list[dict[str, Any]]:
    """One row per non-baseline arm: its values minus the baseline's, over shared repeats."""
    base = values.get(baseline, {})
    rows = []
    for arm, by_repeat in values.items():
        if arm == baseline:
            continue
        repeats = sorted(r for r in set(base) & set(by_repeat) if (arm, r) not in excluded)
        stats = paired_stats(
            np.array([by_repeat[r] for r in repeats], dtype=float),
            np.array([base[r] for r in repeats], dtype=float),
            metric,
        )
        rows.append(
            {
                "arm": arm,
                "baseline": baseline,
                **head,
                "metric": metric,
                **stats,
                "repeats": repeats,
            }
        )
    return rows


def _fingerprint_groups(
    runs: Mapping[str, Run], inits: Mapping[str, str]
) -> dict[str, dict[str, str]]:
    """init scheme -> arm -> fingerprint, for the runs of one repeat that recorded one."""
    groups: dict[str, dict[str, str]] = {}
    for arm, run in runs.items():
        fingerprint = run.get("init_fingerprint")
        if fingerprint:
            init = inits.get(arm) or str(run.get("init") or DEFAULT_INIT)
            groups.setdefault(init, {})[arm] = str(fingerprint)
    return groups


def pairing_check(
    groups: Mapping[str, Mapping[int, Run]], baseline: str | None, inits: Mapping[str, str]
) -> tuple[frozenset[tuple[str, int]], list[str]]:
    """(arm, repeat) pairs left out of paired statistics, and a note for each broken repeat.

    In one repeat, arms with the same init scheme must start from the same weights. The
    reference fingerprint is the baseline's where it shares the scheme, else the most common
    one (first arm on a tie); a run that differs from it is left out.
    """
    excluded: set[tuple[str, int]] = set()
    notes = []
    repeats = sorted({r for reps in groups.values() for r in reps})
    for repeat in repeats:
        runs = {arm: reps[repeat] for arm, reps in groups.items() if repeat in reps}
        for init, prints in _fingerprint_groups(runs, inits).items():
            if len(set(prints.values())) < 2:
                continue
            counts = list(prints.values())
            reference = prints.get(baseline or "") or max(counts, key=counts.count)
            odd = [arm for arm, fp in prints.items() if fp != reference]
            excluded.update((arm, repeat) for arm in odd)
            notes.append(
                f"pairing: repeat {repeat}: arms {', '.join(prints)} (init {init}) should start"
                f" from the same weights but their init_fingerprint differs; {', '.join(odd)}"
                " left out of the paired statistics of this repeat"
            )
    return frozenset(excluded), notes
