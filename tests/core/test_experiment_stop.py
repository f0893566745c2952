"""`initlab run` (core.training.experiment) honours stop_when_decided as the service does."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from core.spec import ExperimentSpec, parse_spec
from core.training.experiment import run_experiment


def test_in_process_experiment_stops_once_the_primary_is_decided(tmp_path: Path) -> None:
    spec = parse_spec({
        "name": "decide", "model": "small_cnn",
        "dataset": {"name": "digits", "limit_train": 200},
        "training": {"epochs": 1, "batch_size": 32, "lr": 0.003},
        "arms": [
            {"name": "original", "method": "original"},
            # Four full-data epochs of pre-training before the one main epoch: clearly better.
            {"name": "pretrained", "method": "warm_start",
             "stages": [{"fraction": 1.0, "epochs": 4}]},
        ],
        "repeats": 12, "seed": 7, "stop_when_decided": True, "min_repeats": 5,
    })
    results = run_experiment(spec, tmp_path)
    runs = results["runs"]
    assert 10 <= len(runs) < 24
    stopped = results["stopped_early"]
    assert stopped["runs_saved"] == 24 - len(runs)
    assert stopped["reason"].startswith("decided: ") and "pretrained better" in stopped["reason"]
    sequence = results["summary"]["sequential"][0]
    assert sequence["decided"] == "better" and sequence["stop"] and sequence["n"] >= 5
    assert json.loads((tmp_path / "results.json").read_text())["stopped_early"] == stopped
    # Started again on the same folder it does not train the saved runs after all.
    assert len(run_experiment(spec, tmp_path)["runs"]) == len(runs)


PRETRAINED = {"method": "warm_start", "stages": [{"fraction": 1.0, "epochs": 4}]}


def _three_arms(mode: bool | str, third: dict[str, Any]) -> ExperimentSpec:
    return parse_spec({
        "name": "three", "model": "small_cnn",
        "dataset": {"name": "digits", "limit_train": 200},
        "training": {"epochs": 1, "batch_size": 32, "lr": 0.003},
        "arms": [
            {"name": "original", "method": "original"},
            {"name": "pretrained", **PRETRAINED},
            {"name": "third", **third},
        ],
        "repeats": 8, "seed": 7, "stop_when_decided": mode, "min_repeats": 5,
        "execution": {"batch_repeats": 5},
    })


def test_three_arms_in_batches_train_every_arm_at_least_min_repeats_times(tmp_path: Path) -> None:
    """The issue's reproduction: with batch_repeats >= min_repeats the check once ran before the
    third arm's first group, so it never trained. Now it is asked only between repeat groups."""
    results = run_experiment(_three_arms(True, PRETRAINED), tmp_path / "all")
    count = Counter(run["arm"] for run in results["runs"])
    assert count == {"original": 5, "pretrained": 5, "third": 5}
    rows = {row["arm"]: row for row in results["summary"]["sequential"]}
    assert [rows[a]["decided"] for a in ("pretrained", "third")] == ["better", "better"]
    assert rows["third"]["alpha_arm"] == 0.025 and results["stopped_early"]["runs_saved"] == 9
    # `arm`: the decided arm stops after its first group, the undecided one goes on to the end.
    results = run_experiment(_three_arms("arm", {"method": "original"}), tmp_path / "arm")
    count = Counter(run["arm"] for run in results["runs"])
    assert count == {"original": 8, "pretrained": 5, "third": 8}
    stopped = results["stopped_early"]
    assert stopped["arms"] == ["pretrained"] and stopped["runs_saved"] == 3
    assert stopped["reason"].startswith("decided: ") and "pretrained better" in stopped["reason"]
    assert results["summary"]["sequential"][1]["decided"] == "undecided"
