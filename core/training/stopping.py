"""stop_when_decided: which of an experiment's remaining runs can be cancelled, and what it saved.

Pure functions of the spec and finished runs; the store cancels, the worker only asks. Every arm
the spec compares counts, whether it has runs yet or not: `true` stops once all of them are
decided after min_repeats pairs, `arm` stops queuing each arm as soon as it alone is (and the
baseline once every arm is).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from core.spec import MAX_REPEATS, ExperimentSpec
from core.stats.records import Run
from core.stats.sequential import arms_to_stop, fewest_pairs, sequence_kind
from core.stats.summary import primary_sequence

DECIDED = "decided"  # the reason stored on runs cancelled because the answer was known


def _fmt(value: float | None) -> str:
    return "unbounded" if value is None else f"{value:.4g}"


def _part(row: Mapping[str, Any]) -> str:
    return (
        f"{row['arm']} {row['decided']} than {row['baseline']} after {row['n']} pairs"
        f" (sequence [{_fmt(row['cs_low'])}, {_fmt(row['cs_high'])}])"
    )


def _reason(spec: ExperimentSpec, rows: Sequence[Mapping[str, Any]]) -> str:
    p = spec.primary
    return (
        f"{DECIDED}: the primary comparison ({p.split} {p.metric}, rule {p.rule}) is decided at"
        f" alpha {spec.alpha:g}: " + "; ".join(_part(row) for row in rows)
    )


def decided_arms(spec: ExperimentSpec, runs: Iterable[Run]) -> dict[str, str]:
    """arm -> 'decided: …' for each arm whose runs may stop being queued (stop_when_decided on);
    the baseline is in it only once every compared arm is."""
    if not spec.stop_when_decided:
        return {}
    rows = primary_sequence(runs, spec)
    stopping = arms_to_stop(rows, spec.stop_when_decided, [arm.name for arm in spec.arms])
    if len(stopping) == len(spec.arms):
        reason = _reason(spec, rows)
        return {arm: reason for arm in stopping}
    return {row["arm"]: _reason(spec, [row]) for row in rows if row["arm"] in stopping}


def stop_reason(spec: ExperimentSpec, runs: Iterable[Run]) -> str | None:
    """'decided: …' once every compared arm's primary sequence excludes 0 after at least
    min_repeats completed pairs (and stop_when_decided is on), else None: keep running."""
    assert spec.baseline is not None
    return decided_arms(spec, runs).get(spec.baseline)


def decision_warnings(spec: ExperimentSpec) -> list[str]:
    """Why this spec's primary sequence can never decide (or stop early), naming the smallest
    repeats that could; empty when it can."""
    assert spec.baseline is not None
    compared = len(spec.arms) - 1
    if compared < 1:
        return []
    p, warnings = spec.primary, []
    kind = sequence_kind(p.metric, p.sequence)
    each = spec.alpha / compared
    fewest = fewest_pairs(kind, each, MAX_REPEATS)
    if fewest is None or fewest > spec.repeats:
        could = f"repeats >= {fewest} could" if fewest else f"no repeats up to {MAX_REPEATS} can"
        warnings.append(
            f"primary ({p.split} {p.metric}, {kind} sequence) can never decide: at alpha"
            f" {spec.alpha:g} over {compared} compared arm(s) ({each:.3g} each) it needs more"
            f" than repeats {spec.repeats} pairs even for the clearest data; {could}"
        )
    if spec.stop_when_decided and spec.min_repeats > spec.repeats:
        warnings.append(
            f"stop_when_decided can never stop early: min_repeats {spec.min_repeats} exceeds"
            f" repeats {spec.repeats}"
        )
    return warnings


def savings(done_seconds: Sequence[float], cancelled: int) -> dict[str, Any]:
    """Runs cancelled as decided, and the worker hours they would have taken, estimated from
    the mean duration of the experiment's finished runs (None before any finished)."""
    mean = sum(done_seconds) / len(done_seconds) if done_seconds else None
    return {
        "runs_saved": cancelled,
        "mean_run_hours": None if mean is None else mean / 3600,
        "hours_saved_estimate": None if mean is None else cancelled * mean / 3600,
    }
