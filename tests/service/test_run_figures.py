"""Per-run figures kept between requests (api.run_figures): a live experiment's curves and
selections equal a full recomputation at every step, while only the runs whose rows changed are
read again: new epochs, a fresh retry's deleted rows, an exclusion (SQLite and PostgreSQL)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.run_figures import RunFigureCache
from core.stats.curves import curve_from_points, curve_stats, run_points
from core.stats.summary import select as select_epoch
from store import results, runs
from store.db import Database
from store.models import Run
from tests.reliability.inprocess import AUTH, make_app
from tests.service.backends import scratch_url
from tests.service.live_rows import ARMS, add_epoch, running_experiment


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
       ) -> Iterator[Database]:
    """A freshly migrated scratch database of each dialect."""
    with scratch_url(request.param, tmp_path_factory.mktemp("figures"), "figures") as url:
        database = Database(url)
        yield database
        database.dispose()


class Counting:
    """A run figure that counts the runs it was computed for."""

    def __init__(self, figure: Any) -> None:
        self.figure, self.runs = figure, 0

    def __call__(self, run: dict[str, Any]) -> Any:
        self.runs += 1
        return self.figure(run)


def _cached_curve(db: Database, cache: RunFigureCache, eid: int, points: Counting
                  ) -> dict[str, list[dict[str, Any]]]:
    with db.session() as session:
        figures = cache.figures(session, experiment_id=eid, key=("val loss", eid), phase="main",
                                split="val", figure=points)
    by_arm: dict[str, list[tuple[int, Any]]] = {}
    for run, fig in figures:
        by_arm.setdefault(run["arm"], []).append((run["repeat"], fig))
    return {arm: curve_from_points([f for _, f in sorted(figs, key=lambda p: p[0])])
            for arm, figs in by_arm.items()}


def _full_curve(db: Database, eid: int) -> dict[str, list[dict[str, Any]]]:
    with db.session() as session:
        every = results.runs_for_stats(session, experiment_id=eid, phase="main", split="val")
    return {arm["name"]: curve_stats(every, arm["name"], "main", "val", "loss") for arm in ARMS}


def test_live_curves_equal_a_full_recompute_reading_only_the_runs_that_changed(
    db: Database,
) -> None:
    eid, run = running_experiment(db)
    rng = random.Random(3)
    for epoch in (1, 2):
        add_epoch(db, eid, list(run.values()), epoch, rng)
    cache = RunFigureCache()
    points = Counting(lambda run: run_points(run, "main", "val", "loss"))

    assert _cached_curve(db, cache, eid, points) == _full_curve(db, eid)
    assert points.runs == 6  # a new entry computes every run

    add_epoch(db, eid, [run["original", 0], run["warm", 2]], 3, rng)  # two runs are ahead
    curve = _cached_curve(db, cache, eid, points)
    assert curve == _full_curve(db, eid) and points.runs == 6 + 2
    assert [row["n"] for row in curve["original"]] == [3, 3, 1]

    assert _cached_curve(db, cache, eid, points) == _full_curve(db, eid)
    assert points.runs == 8  # nothing new: nothing read again

    with db.transaction() as session:  # one run failed and is retried afresh: rows deleted
        session.get(Run, run["original", 1]).status = "failed"  # type: ignore[union-attr]
    with db.transaction() as session:
        runs.retry_run(session, run_id=run["original", 1], fresh=True)
    curve = _cached_curve(db, cache, eid, points)
    assert curve == _full_curve(db, eid) and points.runs == 9
    assert [row["n"] for row in curve["original"]] == [2, 2, 1]

    with db.transaction() as session:
        results.exclude_run(session, run_id=run["warm", 1], reason="bad node", by=None)
    curve = _cached_curve(db, cache, eid, points)
    assert curve == _full_curve(db, eid) and points.runs == 9  # left out, nothing recomputed
    assert [row["n"] for row in curve["warm"]] == [2, 2, 1]


def test_an_entry_for_another_figure_or_experiment_is_computed_apart(db: Database) -> None:
    first, first_runs = running_experiment(db, repeats=2)
    second, _ = running_experiment(db, repeats=2)
    rng = random.Random(5)
    add_epoch(db, first, list(first_runs.values()), 1, rng)
    cache = RunFigureCache(size=2)
    loss = Counting(lambda run: run_points(run, "main", "val", "loss"))
    with db.session() as session:
        got = cache.figures(session, experiment_id=first, key="a", phase="main", split="val",
                            figure=loss)
        assert sorted((run["arm"], run["repeat"]) for run, _ in got) == [
            ("original", 0), ("original", 1), ("warm", 0), ("warm", 1)]
        assert all(points[0].tolist() == [1.0] for _, points in got) and loss.runs == 4
        none = cache.figures(session, experiment_id=second, key="b", phase="main", split="val",
                             figure=loss)
        assert all(points[0].size == 0 for _, points in none) and loss.runs == 8
        cache.figures(session, experiment_id=second, key="c", phase="main", split="val",
                      figure=loss)  # a third entry: "a", the least recently used, is dropped
        cache.figures(session, experiment_id=first, key="a", phase="main", split="val",
                      figure=loss)
    assert loss.runs == 16


def test_the_api_serves_a_live_experiments_curves_and_selections_as_computed_whole(
    tmp_path: Path,
) -> None:
    app = make_app(tmp_path)
    database = Database(app.state.settings.database_url)
    eid, run = running_experiment(database, repeats=4)
    ids = sorted(run.values())
    rng = random.Random(11)
    with TestClient(app, headers=AUTH, base_url="http://testserver/api/v1") as client:
        for epoch in (1, 2, 3):
            add_epoch(database, eid, ids if epoch < 3 else ids[::3], epoch, rng)
            with database.session() as session:
                every = results.runs_for_stats(session, experiment_id=eid, phase="main")
                run_order = list(session.scalars(select(Run.id).where(Run.experiment_id == eid)))
            assert run_order == ids
            for split, metric, x in (("val", "loss", "epoch"), ("test", "accuracy", "epoch"),
                                     ("train", "loss", "examples_total")):
                body = client.get(f"/experiments/{eid}/curves",
                                  params={"split": split, "metric": metric, "x": x}).json()
                for arm in ARMS:
                    want = curve_stats(every, arm["name"], "main", split, metric, x)
                    got = body["arms"][arm["name"]]
                    assert [{k: r[k] for k in want[0]} for r in got] == want
            selected = client.get(f"/experiments/{eid}/selected").json()
            assert selected == [{"arm": r["arm"], "repeat": r["repeat"],
                                 "splits": select_epoch(r)} for r in every]
