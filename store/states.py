"""The run state machine: every status a run may move to, from each status, in one table.

Every status write in the store goes through `transition` (one run) or `sources` (a bulk
UPDATE's WHERE clause), so a transition outside this table cannot be written.
"""

from __future__ import annotations

from typing import Any

from store.models import Run

STATUSES = ("queued", "running", "done", "failed", "cancelled")

# (from, to): why it happens.
TRANSITIONS: dict[tuple[str, str], str] = {
    ("queued", "running"): "an execution claims the run (raising its fence)",
    ("queued", "cancelled"): "the user cancels the experiment",
    ("running", "running"): "a new execution takes over a run whose owner is gone",
    ("running", "done"): "the owner finishes training",
    ("running", "failed"): "the owner's training fails",
    ("running", "cancelled"): "the user cancels the experiment; the owner stops",
    ("running", "queued"): "handed back: owner lost, stalled, shutting down, or transient error",
    ("failed", "queued"): "the user retries the run",
    ("cancelled", "queued"): "the user retries the run",
}


class IllegalTransition(Exception):
    """A status change the table does not allow."""


def allowed(source: str) -> list[str]:
    """The statuses a run in `source` may move to."""
    return [to for (frm, to) in TRANSITIONS if frm == source]


def sources(target: str) -> list[str]:
    """The statuses from which a run may move to `target` (for a bulk UPDATE's WHERE)."""
    return [frm for (frm, to) in TRANSITIONS if to == target]


def check(run_id: int, source: str, target: str) -> None:
    """Raise IllegalTransition unless `source` -> `target` is in the table."""
    if (source, target) not in TRANSITIONS:
        choices = ", ".join(allowed(source)) or "nothing (it is final)"
        raise IllegalTransition(
            f"run {run_id}: status {source!r} cannot become {target!r}; "
            f"from {source!r} a run may become: {choices}"
        )


def transition(run: Run, target: str, **changes: Any) -> None:
    """Move `run` (read under its lock) to `target`, with other column changes, or refuse."""
    check(run.id, run.status, target)
    run.status = target
    for key, value in changes.items():
        setattr(run, key, value)
