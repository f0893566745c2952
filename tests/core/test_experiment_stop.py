"""`initlab run` (core.training.experiment) honours stop_when_decided as the service does."""

from __future__ import annotations

import json
from pathlib import Path

from core.spec import parse_spec
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
