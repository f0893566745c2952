"""Storing a finished experiment made elsewhere (an `initlab run` folder, the paper authors'
files): done runs and their metric rows, marked imported, never resumed or retried."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from core.spec import ExperimentSpec, spec_to_json
from store.clock import database_now
from store.models import Experiment, Metric, Run
from store.runs import Conflict


def import_experiment(
    session: Session,
    *,
    spec: ExperimentSpec,
    runs: list[dict[str, Any]],
    provenance: dict[str, Any],
    sha256: str,
    owner: str | None = None,
) -> Experiment:
    """Store a finished experiment made elsewhere: done runs, their metric rows, provenance.

    `runs` hold arm, repeat, seed, init_fingerprint, wall_seconds and `metrics` rows; the same
    `sha256` is refused (Conflict naming the experiment that holds it).
    """
    existing = session.scalar(select(Experiment.id).where(Experiment.source_sha256 == sha256))
    if existing is not None:
        raise Conflict(f"already imported as experiment {existing} (SHA-256 {sha256})")
    now = database_now(session)
    experiment = Experiment(
        name=spec.name,
        spec=spec_to_json(spec),
        status="done",
        priority=0,
        created=now,
        provenance=provenance,
        source_sha256=sha256,
        owner=owner,
    )
    keys = ("arm", "repeat", "seed", "init_fingerprint", "wall_seconds")
    experiment.runs = [
        Run(**{k: run.get(k) for k in keys}, status="done", attempt=1, requeues=0, finished=now)
        for run in runs
    ]
    session.add(experiment)
    session.flush()
    rows = [
        {"run_id": stored.id, "experiment_id": experiment.id, **row}
        for stored, run in zip(experiment.runs, runs, strict=True)
        for row in run["metrics"]
    ]
    if rows:
        session.execute(insert(Metric), rows)
    return experiment
