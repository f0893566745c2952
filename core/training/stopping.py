"""stop_when_decided: whether an experiment's remaining runs can be cancelled, and what it saved.

Pure functions of the spec and finished runs; the store cancels, the worker only asks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from core.spec import ExperimentSpec
from core.stats.records import Run
from core.stats.summary import primary_sequence

DECIDED = "decided"  # the reason stored on runs cancelled because the answer was known


def _fmt(value: float | None) -> str:
    return "unbounded" if value is None else f"{value:.4g}"


def stop_reason(spec: ExperimentSpec, runs: Iterable[Run]) -> str | None:
    """'decided: …' once every compared arm's primary sequence excludes 0 after at least
    min_repeats completed pairs (and stop_when_decided is on), else None: keep running."""
    if not spec.stop_when_decided:
        return None
    rows = primary_sequence(runs, spec)
    if not rows or not all(row["stop"] for row in rows):
        return None
    p = spec.primary
    parts = [
        f"{row['arm']} {row['decided']} than {row['baseline']} after {row['n']} pairs"
        f" (sequence [{_fmt(row['cs_low'])}, {_fmt(row['cs_high'])}])"
        for row in rows
    ]
    return (
        f"{DECIDED}: the primary comparison ({p.split} {p.metric}, rule {p.rule}) is decided at"
        f" alpha {spec.alpha:g}: " + "; ".join(parts)
    )


def savings(done_seconds: Sequence[float], cancelled: int) -> dict[str, Any]:
    """Runs cancelled as decided, and the worker hours they would have taken, estimated from
    the mean duration of the experiment's finished runs (None before any finished)."""
    mean = sum(done_seconds) / len(done_seconds) if done_seconds else None
    return {
        "runs_saved": cancelled,
        "mean_run_hours": None if mean is None else mean / 3600,
        "hours_saved_estimate": None if mean is None else cancelled * mean / 3600,
    }
