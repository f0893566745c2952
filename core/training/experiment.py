"""Runs a whole experiment in-process and writes results.json, summary.md and summary.csv.

Results are rewritten atomically after every finished run, and each run checkpoints every
epoch, so an interrupted `initlab run` continues where it stopped when started again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from core.data.base import Dataset
from core.methods import plan_for
from core.provenance import with_caveats
from core.reports.tables import to_csv, to_markdown
from core.spec import ExperimentSpec, spec_to_json
from core.stats.summary import select, summarize
from core.training.group import repeat_groups, resolve_batch_repeats
from core.training.runner import RunHooks, RunResult, TrainingError, load_run_data, run_group
from core.training.stopping import decided_arms

RULES = ("val_loss", "final", "paper")


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` so readers never see a half-written file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def with_selections(record: dict[str, Any]) -> dict[str, Any]:
    """A run record (arm, repeat, status, metrics, ...) with its per-rule selections added."""
    record["selected"] = {rule: select(record, rule) for rule in RULES}
    return record


def run_record(result: RunResult) -> dict[str, Any]:
    """A run as results.json stores it, with its per-rule selections."""
    return with_selections(result.to_json())


def build_results(
    spec: ExperimentSpec,
    runs: list[dict[str, Any]],
    provenance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The results document: spec, runs, the summary over repeats and, if imported, provenance."""
    assert spec.baseline is not None
    summary = summarize(runs, spec.baseline, RULES, spec=spec) if runs else {}
    results = {"spec": spec_to_json(spec), "runs": runs, "summary": summary}
    stopped = stopped_early(spec, runs)
    if stopped:
        results["stopped_early"] = stopped
    if provenance:
        results["provenance"] = provenance
        with_caveats(summary, provenance)
    return results


def stopped_early(spec: ExperimentSpec, runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Why stop_when_decided stops (or stopped) queuing runs, the arms it stops and the runs of
    theirs that are not (and will not be) trained; None while nothing is decided."""
    decided = decided_arms(spec, runs)
    if not decided:
        return None
    trained = {(run["arm"], run["repeat"]) for run in runs}
    saved = [key for key in spec.run_keys() if key[0] in decided and key not in trained]
    reasons = list(dict.fromkeys(decided.values()))  # one reason once every arm is decided
    return {"reason": "; ".join(reasons), "arms": list(decided), "runs_saved": len(saved)}


def write_results(out: Path, results: dict[str, Any]) -> None:
    """results.json, plus summary.md and summary.csv when there is a summary."""
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "results.json", json.dumps(results, indent=1))
    if results["summary"]:
        write_atomic(out / "summary.md", to_markdown(results["summary"]))
        write_atomic(out / "summary.csv", to_csv(results["summary"]))


def upload_document(results: dict[str, Any]) -> dict[str, Any]:
    """What POST /experiments/import takes of a results document: spec, runs with metric rows,
    provenance. Per-rule selections and the summary are left out: the service recomputes them.
    """
    runs = [{k: v for k, v in run.items() if k != "selected"} for run in results["runs"]]
    return {"spec": results["spec"], "runs": runs, "provenance": results.get("provenance")}


def finished_runs(out: Path, spec: ExperimentSpec) -> list[dict[str, Any]]:
    """Runs already finished by an earlier invocation on the same spec in `out`."""
    path = out / "results.json"
    if not path.exists():
        return []
    previous = json.loads(path.read_text())
    if _what(previous.get("spec") or {}) != _what(spec_to_json(spec)):
        raise FileExistsError(
            f"{path} holds results of a different spec; choose another --out folder"
        )
    return [run for run in previous["runs"] if run.get("status") == "done"]


def _what(spec: dict[str, Any]) -> dict[str, Any]:
    """A spec's JSON without `execution`, which changes speed, never results."""
    return {k: v for k, v in spec.items() if k != "execution"}


def run_experiment(
    spec: ExperimentSpec,
    out: Path,
    *,
    device: str = "cpu",
    data_root: str | None = None,
    on_run_start: Callable[[str, int, int], Callable[[str, int, int], None] | None] | None = None,
) -> dict[str, Any]:
    """Run every (arm, repeat) of `spec`, writing results to `out` after each group of runs.

    Repeats of an arm train in groups of `execution.batch_repeats` (core/training/group.py).

    `on_run_start(arm, repeat, total_epochs)` may return a per-epoch progress callback.
    """
    runs = finished_runs(out, spec)
    done = {(run["arm"], run["repeat"]) for run in runs}
    data = load_run_data(spec, data_root, device)
    size = batch_repeats(spec, data, device)
    checkpoints = out / "checkpoints"
    # Repeat groups outermost, as run_keys is repeat-major: the pairs of a repeat finish together,
    # and stop_when_decided is asked only between groups, once every arm has had its turn.
    for repeats in repeat_groups(spec.repeats, size):
        decided = decided_arms(spec, runs)
        for arm in (a.name for a in spec.arms if a.name not in decided):
            hooks = [
                RunHooks(
                    r,
                    checkpoints / f"{arm}-{r}.pt",
                    on_progress=on_run_start(arm, r, total_epochs(spec, arm))
                    if on_run_start
                    else None,
                )
                for r in repeats
                if (arm, r) not in done
            ]
            if hooks:
                outcomes = run_group(spec, arm, hooks, device=device, dataset=data)
                runs.extend(finish(hooks, outcomes))
                write_results(out, build_results(spec, runs))
                failed = [r for r in outcomes if r.status != "done"]
                if failed:  # after the others are saved: nothing finished is lost
                    raise TrainingError(f"run {arm}/{failed[0].repeat}: {failed[0].error}")
    results = build_results(spec, runs)
    write_results(out, results)
    return results


def batch_repeats(spec: ExperimentSpec, data: Dataset, device: str) -> int:
    """The group size `execution.batch_repeats` asks for on this device (`auto` measures)."""
    size = int(data.train.images.shape[-1])
    return resolve_batch_repeats(spec, torch.device(device), size, data.num_classes)


def finish(hooks: list[RunHooks], results: list[RunResult]) -> list[dict[str, Any]]:
    """Records of a group's finished runs, whose checkpoints are then removed."""
    records = []
    for hook, result in zip(hooks, results, strict=True):
        if result.status == "done":
            records.append(run_record(result))
            if hook.checkpoint_path is not None:
                hook.checkpoint_path.unlink(missing_ok=True)
    return records


def total_epochs(spec: ExperimentSpec, arm: str) -> int:
    """Epochs an arm trains and measures, stage epoch 0 included (for progress bars)."""
    plan = plan_for(spec.arm(arm))
    stages = sum(stage.epochs + 1 for stage in plan.stages)
    return stages + plan.preprocess_epochs + spec.training.epochs
