"""The service's stop check (store.results.stop_if_decided) on a real database: it reads the rows
the summary reads, cancels per arm under `arm`, and a decided experiment ends as done."""

from __future__ import annotations

from typing import Any

from core.spec import parse_spec
from store import executions, results, runs
from store.config import Settings
from store.db import Database
from store.models import Experiment, Run
from tests.core.run_records import record
from tests.service.servers import tiny_spec
from tests.service.test_store import _claim, db, settings  # noqa: F401 (fixtures)

BASE = [1.0, 1.2, 0.9, 1.1, 1.05, 0.95]


def _experiment(db: Database, arms: list[str], **spec: Any) -> int:  # noqa: F811
    body = tiny_spec(repeats=10, arms=[{"name": a, "method": "original"} for a in arms])
    with db.transaction() as session:
        experiment, _ = runs.create_experiment(
            session, spec=parse_spec(body | spec), priority=5
        )
        return experiment.id


def _finish(db: Database, settings: Settings, experiment_id: int, arm: str, repeat: int,  # noqa: F811
            losses: list[float]) -> None:  # fmt: skip
    with db.session() as session:
        run_id = session.query(Run.id).filter_by(
            experiment_id=experiment_id, arm=arm, repeat=repeat
        ).scalar()
    job = _claim(db, run_id, settings)
    rows = [m for m in record(arm, repeat, losses)["metrics"] if m["phase"] == "main"]
    assert executions.record_epoch(db, job=job, rows=rows)
    assert executions.finish(db, job=job, status="done", error=None)


def _statuses(db: Database, experiment_id: int) -> dict[tuple[str, int], str]:  # noqa: F811
    with db.session() as session:
        found = session.query(Run).filter_by(experiment_id=experiment_id).all()
        return {(run.arm, run.repeat): run.status for run in found}


def test_primary_on_test_reads_the_val_selected_epoch(db: Database, settings: Settings) -> None:  # noqa: F811
    """Val loss is lowest at epoch 2 in both arms, where they tie; only at the last epoch is
    "late" better. The old check read the test rows alone and cancelled; the summary never
    showed that decision."""
    spec = {"primary": {"split": "test", "rule": "val_loss"}, "stop_when_decided": True,
            "min_repeats": 5}  # fmt: skip
    experiment_id = _experiment(db, ["original", "late"], **spec)
    for r, v in enumerate(BASE):
        _finish(db, settings, experiment_id, "original", r, [2.0, v, v + 0.5])
        _finish(db, settings, experiment_id, "late", r, [2.0, v + 0.01 * (-1) ** r, v - 0.02 * r])
    assert results.stop_if_decided(db, experiment_id=experiment_id) == 0
    with db.session() as session:
        summary = results.experiment_summary(
            session, experiment_id=experiment_id, spec=parse_spec(tiny_spec() | spec |
            {"arms": [{"name": "original", "method": "original"},
                      {"name": "late", "method": "original"}]}), done_only=False,
        )  # fmt: skip
    assert summary["sequential"][0]["decided"] == "undecided"
    assert summary["sequential"][0]["n"] == len(BASE)


def test_arm_mode_cancels_the_decided_arm_then_ends_done(db: Database, settings: Settings) -> None:  # noqa: F811
    experiment_id = _experiment(
        db, ["original", "warm", "smart"], stop_when_decided="arm", min_repeats=5
    )
    for r, v in enumerate(BASE):
        _finish(db, settings, experiment_id, "original", r, [2.0, v])
        _finish(db, settings, experiment_id, "warm", r, [2.0, v - 0.3 - 0.01 * r])
    assert results.stop_if_decided(db, experiment_id=experiment_id) == 4  # warm 6..9
    status = _statuses(db, experiment_id)
    assert all(status[("warm", r)] == "cancelled" for r in range(6, 10))
    assert all(status[("smart", r)] == "queued" for r in range(10))
    assert status[("original", 6)] == "queued"  # the baseline goes on for smart
    for r, v in enumerate(BASE):
        _finish(db, settings, experiment_id, "smart", r, [2.0, v - 0.2 - 0.01 * r])
    assert results.stop_if_decided(db, experiment_id=experiment_id) == 8  # original, smart 6..9
    with db.session() as session:
        experiment = session.get(Experiment, experiment_id)
        assert experiment is not None and experiment.status == "done"
        saved = results.stopped_early(session, experiment_id=experiment_id)
    assert saved is not None and saved["runs_saved"] == 12
    assert "warm better than original after 6 pairs" in saved["reason"]
