"""Per-run figures kept between requests, so a live experiment's redraw reads only new rows.

A curve over a thousand runs, or every run's selected epoch, is a figure per run (its points,
its selection) and then a cheap step over the runs. A run's figure depends on its own rows
only; those grow by new metric ids and are replaced only by a fresh retry, which raises the
run's attempt (store.run_rows). So a figure is kept with the run's attempt, and recomputed
when the attempt changed or the run has rows newer than the last id this entry saw: a tick of
a live experiment reads the rows of the few running runs, not the 400,000 of the finished ones.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from store.run_rows import (
    core_run,
    last_metric_id,
    rows_by_run,
    runs_with_rows_after,
    stats_runs,
)

RunFigure = Callable[[dict[str, Any]], Any]  # a core.stats run (with its rows) -> its figure
# What a run's figure may read besides its rows: not its times (decoding a thousand runs'
# wall_seconds JSON on every request cost more than the rest of the run list).
FIGURE_FIELDS = ("arm", "repeat", "seed", "init_fingerprint", "status")


@dataclass
class _Entry:
    seen: int = 0  # the largest metric id read into this entry
    figures: dict[int, tuple[int, Any]] = field(default_factory=dict)  # run id -> (attempt, fig)


class RunFigureCache:
    """Least-recently-used entries of per-run figures, one entry per (experiment, figure kind).

    The memory is the figures' own: a curve panel's points at a thousand runs of 100 epochs is
    under 2 MB, so `size` entries bound the cache.
    """

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def figures(
        self,
        session: Session,
        *,
        experiment_id: int,
        key: Hashable,
        phase: str | None,
        split: str | None,
        figure: RunFigure,
    ) -> list[tuple[dict[str, Any], Any]]:
        """(run, figure) for each counted run of the experiment in id order (runs without
        metrics), computing `figure` only for runs new to `key` or whose rows changed."""
        # The id first: rows committed after it are read now and flagged again next time.
        last = last_metric_id(session, experiment_id=experiment_id)
        runs = stats_runs(session, experiment_id=experiment_id, fields=FIGURE_FIELDS)
        with self._lock:
            entry = self._entries.get(key) or _Entry()
        grew = (runs_with_rows_after(session, experiment_id=experiment_id, after=entry.seen)
                if entry.figures else set())  # a new entry computes every run anyway
        kept = {run_id: kept for run_id, kept in entry.figures.items() if run_id not in grew}
        stale = [run for run in runs if kept.get(run["id"], (None,))[0] != run["attempt"]]
        if stale:
            everyone = len(stale) == len(runs)  # then the experiment's index reads faster
            rows = rows_by_run(session, experiment_id=experiment_id, phase=phase, split=split,
                               run_ids=None if everyone else [run["id"] for run in stale])
            for run in stale:
                fig = figure({**core_run(run), "metrics": rows.get(run["id"], [])})
                kept[run["id"]] = (run["attempt"], fig)
        fresh = _Entry(seen=last, figures={run["id"]: kept[run["id"]] for run in runs})
        with self._lock:
            self._entries[key] = fresh
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return [(core_run(run), fresh.figures[run["id"]][1]) for run in runs]
