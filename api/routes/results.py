"""/experiments/{id}/…: runs, metrics, curves, lines, phases, selected, summary (the results)."""

from __future__ import annotations

from collections.abc import Callable
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
from api.run_figures import RunFigure, RunFigureCache
from api.schemas import RunPage
from core.stats.curves import curve_from_points, run_points
from core.stats.run_lines import MAX_POINTS, run_line
from core.stats.summary import band as band_edges
from core.stats.summary import select
from store import results
from store.db import Database

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


def _cache(request: Request) -> ResultCache:
    cache: ResultCache = request.app.state.results_cache
    return cache


def _respond(request: Request, key: Any, version: Any, compute: Callable[[], Any]) -> Response:
    """The cached figures (computed where the version moved on), or 304 where the client's
    If-None-Match names the very body it would get."""
    return _cache(request).respond(key, version, compute, request.headers.get("if-none-match"))


def _by_arm(
    request: Request, session: Any, experiment_id: int, key: tuple[Any, ...], phase: str,
    split: str | None, figure: RunFigure,
) -> dict[str, list[tuple[int, Any]]]:
    """Each run's figure (of one split, of one phase or, phase=all, of every phase), per arm
    as (repeat, figure) in repeat order; only runs whose rows changed are computed again."""
    cache: RunFigureCache = request.app.state.run_figures
    stored = None if phase == "all" else phase
    figures = cache.figures(session, experiment_id=experiment_id, key=(experiment_id, *key),
                            phase=stored, split=split, figure=figure)
    arms: dict[str, list[tuple[int, Any]]] = {}
    for run, fig in figures:
        arms.setdefault(run["arm"], []).append((run["repeat"], fig))
    return {arm: sorted(figs, key=lambda pair: pair[0]) for arm, figs in arms.items()}


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
    never extrapolated (core.stats.curves.curve_stats says how); phase=all strings the phases
    together.
    """
    _check_axis(phase, x)
    spec = spec_of(get_experiment(session, experiment_id))
    version = crud.results_version(session, experiment_id=experiment_id)

    def compute() -> dict[str, Any]:
        points = _by_arm(request, session, experiment_id, ("points", phase, split, metric, x),
                         phase, split, lambda run: run_points(run, phase, split, metric, x))
        arms: dict[str, list[dict[str, Any]]] = {}
        for arm in spec.arms:
            rows = curve_from_points([p for _, p in points.get(arm.name, [])], x)
            for row in rows:
                row["low"], row["high"] = band_edges(row, band)
            arms[arm.name] = rows
        head = {"phase": phase, "split": split, "metric": metric, "band": band, "x": x}
        return {**head, "arms": arms}

    key = ("curves", experiment_id, phase, split, metric, band, x)
    return _respond(request, key, version, compute)


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
        lines = _by_arm(request, session, experiment_id, ("lines", phase, split, metric, x, points),
                        phase, split, lambda run: run_line(run, phase, split, metric, x, points))
        arms = {a.name: [{"repeat": repeat, "x": xs, "y": ys}
                         for repeat, (xs, ys) in lines.get(a.name, []) if xs]
                for a in spec.arms}
        return {"phase": phase, "split": split, "metric": metric, "x": x, "arms": arms}

    key = ("lines", experiment_id, phase, split, metric, x, points)
    return _respond(request, key, version, compute)


@router.get("/{experiment_id}/phases", response_model=list[str])
def read_phases(request: Request, experiment_id: ExperimentId, session: SessionDep) -> Response:
    """The phases that have metric rows, in training order (stage-1…k, preprocess, main)."""
    get_experiment(session, experiment_id)
    version = crud.results_version(session, experiment_id=experiment_id)
    return _respond(request, ("phases", experiment_id), version,
                    lambda: crud.phases_of(session, experiment_id=experiment_id))


@router.get("/{experiment_id}/selected", response_model=list[SelectedRun])
def read_selected(
    request: Request, experiment_id: ExperimentId, session: SessionDep, rule: Rule = "val_loss"
) -> Response:
    """Per run (arm, repeat): the epoch `rule` selects and the figures there, per split."""
    get_experiment(session, experiment_id)
    version = crud.results_version(session, experiment_id=experiment_id)

    def compute() -> list[dict[str, Any]]:
        cache: RunFigureCache = request.app.state.run_figures
        figures = cache.figures(session, experiment_id=experiment_id,
                                key=(experiment_id, "selected", rule), phase="main", split=None,
                                figure=lambda run: select(run, rule))
        return [{"arm": run["arm"], "repeat": run["repeat"], "splits": splits}
                for run, splits in figures]

    return _respond(request, ("selected", experiment_id, rule), version, compute)


@router.get("/{experiment_id}/summary", response_model=Summary)
def read_summary(
    request: Request,
    experiment_id: ExperimentId,
    session: SessionDep,
    include_unfinished: Annotated[
        bool, Query(description="also use runs that are not done (partial figures)")
    ] = False,
) -> Response:
    """Tables per selection rule and paired statistics against the baseline (core.stats.summary).

    With include_unfinished, a live experiment's partial figures change with every epoch: the
    last computed summary is sent at once (header X-Results-Stale: 1) while the newer one is
    computed in the background, so a dashboard's tick never waits seconds for it.
    """
    spec = spec_of(get_experiment(session, experiment_id))
    done_only = not include_unfinished
    version = crud.results_version(session, experiment_id=experiment_id, done_only=done_only)
    db: Database = request.app.state.db

    def compute() -> dict[str, Any]:
        # Every selection rule reads the main phase only; excluded runs are listed, not used.
        with db.session() as own:  # its own session: it may run after the request ended
            return results.experiment_summary(
                own, experiment_id=experiment_id, spec=spec, done_only=done_only
            )

    key = ("summary", experiment_id, include_unfinished)
    if include_unfinished:
        return _cache(request).respond_while_refreshing(
            key, version, compute, request.headers.get("if-none-match"))
    return _respond(request, key, version, compute)
