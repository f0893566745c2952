"""A running experiment stored directly (no worker) and epochs recorded into it, for tests of
what the API computes from a live experiment's rows."""

from __future__ import annotations

import random
import uuid

from sqlalchemy import insert

from core.spec import parse_spec
from store import runs
from store.db import Database
from store.models import Metric
from tests.service.servers import tiny_spec

ARMS = [{"name": "original", "method": "original"}, {"name": "warm", "method": "warm_start"}]
SPLITS = ("train", "val", "test")


def running_experiment(db: Database, repeats: int = 3) -> tuple[int, dict[tuple[str, int], int]]:
    """A running experiment of two arms × `repeats`; (its id, run ids by (arm, repeat))."""
    spec = parse_spec(tiny_spec(f"figures-{uuid.uuid4().hex[:6]}", repeats=repeats, arms=ARMS))
    with db.transaction() as session:
        experiment, _ = runs.create_experiment(session, spec=spec, priority=5)
        for run in experiment.runs:
            run.status = "running"
        return experiment.id, {(run.arm, run.repeat): run.id for run in experiment.runs}


def add_epoch(db: Database, eid: int, run_ids: list[int], epoch: int, rng: random.Random) -> None:
    rows = [{"run_id": rid, "experiment_id": eid, "phase": "main", "epoch": epoch, "split": split,
             "loss": rng.uniform(0.5, 2.0), "accuracy": rng.uniform(0.1, 0.9), "lr": 0.01,
             "examples_total": 100 * epoch, "seconds_total": 0.5 * epoch}
            for rid in run_ids for split in SPLITS]  # fmt: skip
    with db.transaction() as session:
        session.execute(insert(Metric), rows)
