"""/experiments/{id}/…: runs, metrics, curves, lines, phases, selected, summary (the results)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api import crud
from api.cache import ResultCache
from api.deps import MAX_CURSOR, MAX_ID, Authorized, ExperimentId, SessionDep
from api.errors import invalid, item
from api.result_schemas import (
    Band,
    Curves,
    MetricName,
    MetricPage,
    RunLines,
    SelectedRun,
    Summary,
)
from api.routes.experiments import get_experiment, spec_of
from api.schemas import RunPage
from core.run_lines import MAX_POINTS, run_lines
from core.stats import band as band_edges
from core.stats import curve_stats, select
from store import results

router = APIRouter(prefix="/experiments", tags=["results"], dependencies=[Authorized])

SplitName = Literal["sample", "train", "val", "test"]
PHASE = r"^(all|main|preprocess|stage-[1-9][0-9]*)$"
XAxis = Literal["epoch", "examples_total", "seconds_total"]
Rule = Literal["val_loss", "final", "paper"]
MAX_RUNS_PAGE = 5000  # INITLAB_MAX_RUNS_PER_SUBMISSION's default: one page holds most experiments


@router.get("/{experiment_id}/runs", response_model=RunPage)
def list_runs(
    experiment_id: ExperimentId,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=MAX_RUNS_PAGE)] = MAX_RUNS_PAGE,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> dict[str, Any]:
    """The experiment's runs in id order with status, worker, environment and error."""
    get_experiment(session, experiment_id)
    items, total = crud.runs_page(session, experiment_id=experiment_id, limit=limit, offset=offset)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get("/{experiment_id}/metrics", response_model=MetricPage)
def list_metrics(
    experiment_id: ExperimentId,
    session: SessionDep,
    after: Annotated[
        int, Query(ge=0, le=MAX_CURSOR, description="cursor: only rows with a larger id")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    """Metric rows newer than the cursor, oldest first, and the cursor to pass next time."""
    get_experiment(session, experiment_id)
    items = crud.metrics_after(session, experiment_id=experiment_id, after=after, limit=limit)
    return {"items": items, "next_cursor": items[-1]["id"] if items else after}


def _check_axis(phase: str, x: str) -> None:
    """phase=all strings phases together, which only an axis that keeps growing can show."""
    if phase == "all" and x == "epoch":
        raise invalid(
            [
                item(
                    ["query", "x"],
                    "phase 'all' needs x examples_total or seconds_total: epochs restart in "
                    "every phase",
                )
            ]
        )


def _runs(session: Any, experiment_id: int, phase: str, split: str) -> list[dict[str, Any]]:
    """The runs with their rows of one split, of one phase or (phase=all) of every phase."""
    stored = None if phase == "all" else phase
    return results.runs_for_stats(session, experiment_id=experiment_id, phase=stored, split=split)


def _cache(request: Request) -> ResultCache:
    cache: ResultCache = request.app.state.results_cache
    return cache


@router.get("/{experiment_id}/curves", response_model=Curves)
def read_curves(
    request: Request,
    experiment_id: ExperimentId,
    session: SessionDep,
    split: SplitName = "val",
    metric: MetricName = "loss",
    phase: Annotated[
        str, Query(pattern=PHASE, description="main, preprocess, stage-N, or all (not by epoch)")
    ] = "main",
    band: Band = "iqr",
    x: Annotated[
        XAxis, Query(description="epoch, or examples/seconds trained on, all phases included")
    ] = "epoch",
) -> Response:
    """Per arm and x over repeats: median, percentiles, mean, std, CI and the chosen band.

    x examples_total or seconds_total: each run is interpolated linearly onto a common grid,
    never extrapolated (core.curves.curve_stats says how); phase=all strings the phases together.
    """
    _check_axis(phase, x)
    spec = spec_of(get_experiment(session, experiment_id))
    version = crud.results_version(session, experiment_id=experiment_id)

    def compute() -> dict[str, Any]:
        runs = _runs(session, experiment_id, phase, split)
        arms: dict[str, list[dict[str, Any]]] = {}
        for arm in spec.arms:
            rows = curve_stats(runs, arm.name, phase, split, metric, x)
            for row in rows:
                row["low"], row["high"] = band_edges(row, band)
            arms[arm.name] = rows
        head = {"phase": phase, "split": split, "metric": metric, "band": band, "x": x}
        return {**head, "arms": arms}

    key = ("curves", experiment_id, phase, split, metric, band, x)
    return _cache(request).respond(key, version, compute)


@router.get("/{experiment_id}/lines", response_model=RunLines)
def read_lines(
    request: Request,
    experiment_id: ExperimentId,
    session: SessionDep,
    split: SplitName = "val",
    metric: MetricName = "loss",
    phase: Annotated[str, Query(pattern=PHASE, description="main, preprocess, stage-N or all")] = (
        "main"
    ),
    x: XAxis = "epoch",
    points: Annotated[int, Query(ge=2, le=2000, description="most points per run")] = MAX_POINTS,
) -> Response:
    """Per arm, every run's own line (repeat, x, y), down-sampled to `points` points."""
    _check_axis(phase, x)
    spec = spec_of(get_experiment(session, experiment_id))
    version = crud.results_version(session, experiment_id=experiment_id)

    def compute() -> dict[str, Any]:
        runs = _runs(session, experiment_id, phase, split)
        arms = {a.name: run_lines(runs, a.name, phase, split, metric, x, points) for a in spec.arms}
        return {"phase": phase, "split": split, "metric": metric, "x": x, "arms": arms}

    key = ("lines", experiment_id, phase, split, metric, x, points)
    return _cache(request).respond(key, version, compute)


@router.get("/{experiment_id}/phases", response_model=list[str])
def read_phases(experiment_id: ExperimentId, session: SessionDep) -> list[str]:
    """The phases that have metric rows, in training order (stage-1…k, preprocess, main)."""
    get_experiment(session, experiment_id)
    return crud.phases_of(session, experiment_id=experiment_id)


@router.get("/{experiment_id}/selected", response_model=list[SelectedRun])
def read_selected(
    request: Request, experiment_id: ExperimentId, session: SessionDep, rule: Rule = "val_loss"
) -> Response:
    """Per run (arm, repeat): the epoch `rule` selects and the figures there, per split."""
    get_experiment(session, experiment_id)
    version = crud.results_version(session, experiment_id=experiment_id)

    def compute() -> list[dict[str, Any]]:
        runs = results.runs_for_stats(session, experiment_id=experiment_id, phase="main")
        return [{"arm": run["arm"], "repeat": run["repeat"], "splits": select(run, rule)}
                for run in runs]

    return _cache(request).respond(("selected", experiment_id, rule), version, compute)


@router.get("/{experiment_id}/summary", response_model=Summary)
def read_summary(
    request: Request,
    experiment_id: ExperimentId,
    session: SessionDep,
    include_unfinished: Annotated[
        bool, Query(description="also use runs that are not done (partial figures)")
    ] = False,
) -> Response:
    """Tables per selection rule and paired statistics against the baseline (core.stats)."""
    spec = spec_of(get_experiment(session, experiment_id))
    done_only = not include_unfinished
    version = crud.results_version(session, experiment_id=experiment_id, done_only=done_only)

    def compute() -> dict[str, Any]:
        # Every selection rule reads the main phase only; excluded runs are listed, not used.
        return results.experiment_summary(
            session, experiment_id=experiment_id, spec=spec, done_only=done_only
        )

    key = ("summary", experiment_id, include_unfinished)
    return _cache(request).respond(key, version, compute)
