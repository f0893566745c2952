"""/experiments/{id}/runs, /metrics, /curves, /summary: what the runs have reported."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from api import crud
from api.deps import Authorized, SessionDep
from api.routes.experiments import get_experiment, spec_of
from api.schemas import Band, Curves, MetricName, MetricPage, RunPublic
from core.stats import band as band_edges
from core.stats import curve_stats, summarize

router = APIRouter(prefix="/experiments", tags=["results"], dependencies=[Authorized])

SplitName = Literal["sample", "train", "val", "test"]
PHASE = r"^(main|stage-[1-9][0-9]*)$"


@router.get("/{experiment_id}/runs", response_model=list[RunPublic])
def list_runs(experiment_id: int, session: SessionDep) -> list[Any]:
    """Every run of the experiment with its status, worker, environment and error."""
    get_experiment(session, experiment_id)
    return crud.runs_of(session, experiment_id)


@router.get("/{experiment_id}/metrics", response_model=MetricPage)
def list_metrics(
    experiment_id: int,
    session: SessionDep,
    after: Annotated[int, Query(ge=0, description="cursor: only rows with a larger id")] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    """Metric rows newer than the cursor, oldest first, and the cursor to pass next time."""
    get_experiment(session, experiment_id)
    items = crud.metrics_after(session, experiment_id=experiment_id, after=after, limit=limit)
    return {"items": items, "next_cursor": items[-1]["id"] if items else after}


@router.get("/{experiment_id}/curves", response_model=Curves)
def read_curves(
    experiment_id: int,
    session: SessionDep,
    split: SplitName = "val",
    metric: MetricName = "loss",
    phase: Annotated[str, Query(pattern=PHASE, description="main or stage-N")] = "main",
    band: Band = "iqr",
) -> dict[str, Any]:
    """Per arm and epoch over repeats: median, percentiles, mean, std, CI and the chosen band."""
    spec = spec_of(get_experiment(session, experiment_id))
    runs = crud.runs_for_stats(session, experiment_id=experiment_id, phase=phase, split=split)
    arms: dict[str, list[dict[str, Any]]] = {}
    for arm in spec.arms:
        rows = curve_stats(runs, arm.name, phase, split, metric)
        for row in rows:
            row["low"], row["high"] = band_edges(row, band)
        arms[arm.name] = rows
    return {"phase": phase, "split": split, "metric": metric, "band": band, "arms": arms}


@router.get("/{experiment_id}/summary")
def read_summary(
    experiment_id: int,
    session: SessionDep,
    include_unfinished: Annotated[
        bool, Query(description="also use runs that are not done (partial figures)")
    ] = False,
) -> dict[str, Any]:
    """Tables per selection rule and paired statistics against the baseline (core.stats)."""
    spec = spec_of(get_experiment(session, experiment_id))
    runs = crud.runs_for_stats(session, experiment_id=experiment_id)
    if not include_unfinished:
        runs = [run for run in runs if run["status"] == "done"]
    return summarize(runs, baseline=spec.baseline)
