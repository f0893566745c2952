"""Metric rows kept in the session and grown by cursor, so a refresh fetches only new rows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.phase_order import ordered_phases

MAX_PAGES = 5  # pages fetched per refresh; a long backlog is caught up over a few refreshes


class SessionState(Protocol):
    def get(self, key: str, default: Any, /) -> Any: ...
    def __setitem__(self, key: str, value: Any) -> None: ...


class MetricSource(Protocol):
    def metrics(
        self, experiment_id: int, after: int = 0, limit: int = ..., *, live: bool = False
    ) -> dict[str, Any]: ...


@dataclass
class MetricStore:
    """All metric rows of one experiment seen so far, and the cursor of the newest."""

    experiment_id: int
    cursor: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
    fetches: int = 0  # requests made, for the panel's footer and the tests
    received: int = 0  # rows received in all; equals len(rows) unless epochs were re-recorded

    def update(self, source: MetricSource, *, live: bool = False, limit: int = 10_000) -> int:
        """Fetch rows after the cursor (a few pages at most); returns how many arrived."""
        added = 0
        for _ in range(MAX_PAGES):
            page = source.metrics(self.experiment_id, after=self.cursor, limit=limit, live=live)
            self.fetches += 1
            items = page.get("items", [])
            self.rows.extend(items)
            self.cursor = int(page.get("next_cursor", self.cursor))
            added += len(items)
            self.received += len(items)
            if len(items) < limit:
                break
        if added:
            self._drop_replaced()
        return added

    def _drop_replaced(self) -> None:
        """A resumed or retried run re-records epochs; keep the newest row of each key."""
        newest: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in self.rows:
            newest[(row["run_id"], row["phase"], row["epoch"], row["split"])] = row
        if len(newest) != len(self.rows):
            self.rows = sorted(newest.values(), key=lambda r: r["id"])

    def phases(self) -> list[str]:
        """The phases present: main first (the default view), then the others in order."""
        others = ordered_phases(str(r["phase"]) for r in self.rows if r["phase"] != "main")
        return ["main", *others]

    def runs(self) -> list[dict[str, Any]]:
        """The rows grouped into core.stats' run form: {arm, repeat, metrics}."""
        return runs_from_rows(self.rows)


def runs_from_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Metric rows (each naming arm and repeat) as core.stats.summary runs, in first-seen order."""
    runs: dict[tuple[str, int], dict[str, Any]] = {}
    for row in rows:
        key = (str(row["arm"]), int(row["repeat"]))
        run = runs.setdefault(key, {"arm": key[0], "repeat": key[1], "metrics": []})
        run["metrics"].append(row)
    return list(runs.values())


def store_for(state: SessionState, experiment_id: int) -> MetricStore:
    """The session's store for this experiment (a new one when the experiment changes)."""
    key = f"metrics-{experiment_id}"
    store = state.get(key, None)
    if not isinstance(store, MetricStore):
        store = state[key] = MetricStore(experiment_id)
    return store
