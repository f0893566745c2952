"""How far an experiment has come: run counts and the epochs of its running runs."""

from __future__ import annotations

from collections import Counter

from api.schemas import Progress, RunningRun
from core.methods import plan_for
from core.spec import ExperimentSpec
from store.models import Run


def epochs_done(spec: ExperimentSpec, run: Run) -> int:
    """Epochs of `run` measured so far; a stage counts its epoch 0, as total_epochs does."""
    if run.last_phase is None or run.last_epoch is None:
        return 0
    plan = plan_for(spec.arm(run.arm))
    stage_epochs = sum(s.epochs + 1 for s in plan.stages)
    if run.last_phase == "main":
        return stage_epochs + plan.preprocess_epochs + run.last_epoch
    if run.last_phase == "preprocess":
        return stage_epochs + run.last_epoch
    index = int(run.last_phase.removeprefix("stage-")) - 1
    return sum(s.epochs + 1 for s in plan.stages[:index]) + run.last_epoch + 1


def total_epochs(spec: ExperimentSpec, arm: str) -> int:
    """Epochs an arm measures, stage epoch 0 included (as core.training.experiment.total_epochs
    counts;
    repeated here so that the API does not import the training stack)."""
    plan = plan_for(spec.arm(arm))
    return sum(s.epochs + 1 for s in plan.stages) + plan.preprocess_epochs + spec.training.epochs


def progress(spec: ExperimentSpec, runs: list[Run], counts: Counter[str] | None = None) -> Progress:
    """Counts by status; `fraction` counts done runs whole and running runs by epoch.

    Failed and cancelled runs count as not done, so a failed experiment never reads 100%.
    """
    counts = counts if counts is not None else Counter(run.status for run in runs)
    running = []
    partial = 0.0
    for run in runs:
        if run.status != "running":
            continue
        total = total_epochs(spec, run.arm)
        done = min(epochs_done(spec, run), total)
        partial += done / total if total else 0.0
        running.append(
            RunningRun(
                run_id=run.id,
                arm=run.arm,
                repeat=run.repeat,
                phase=run.last_phase,
                epoch=run.last_epoch,
                epochs_done=done,
                epochs_total=total,
            )
        )
    n = sum(counts.values())
    return Progress(
        runs_total=n,
        runs_done=counts["done"],
        runs_failed=counts["failed"],
        runs_cancelled=counts["cancelled"],
        runs_running=counts["running"],
        runs_queued=counts["queued"],
        fraction=round((counts["done"] + partial) / n, 4) if n else 0.0,
        running=running,
    )
