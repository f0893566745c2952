"""`initlab run` (a folder resumes, a different spec in it is refused) and `initlab data check`,
as the installed command runs them: a subprocess through initlab.cli.main."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.core.data_writers import write_cifar

REPO = Path(__file__).resolve().parents[2]
SPEC = {
    "name": "cli-run",
    "model": "small_cnn",
    "dataset": {"name": "digits", "limit_train": 100},
    "training": {"epochs": 1, "batch_size": 32},
    "arms": [{"name": "original", "method": "original"}],
    "repeats": 2,
}


def initlab(*args: str) -> subprocess.CompletedProcess[str]:
    """`initlab ARGS` with this checkout first on the path."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-c", "from initlab.cli import main; main()", *args]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_run_resumes_its_folder_and_refuses_a_different_spec(tmp_path: Path) -> None:
    spec, out = tmp_path / "spec.yaml", tmp_path / "out"
    spec.write_text(yaml.safe_dump(SPEC))
    first = initlab("run", str(spec), "--out", str(out), "--threads", "1")
    assert first.returncode == 0, first.stderr
    results = json.loads((out / "results.json").read_text())
    assert [(r["arm"], r["repeat"], r["status"]) for r in results["runs"]] == [
        ("original", 0, "done"),
        ("original", 1, "done"),
    ]
    again = initlab("run", str(spec), "--out", str(out), "--threads", "1")
    assert again.returncode == 0, again.stderr
    # Both runs were done: the rerun trains nothing (no progress bar) and keeps the numbers.
    assert "original #" not in again.stderr
    assert json.loads((out / "results.json").read_text())["runs"] == results["runs"]
    spec.write_text(yaml.safe_dump({**SPEC, "repeats": 3}))
    refused = initlab("run", str(spec), "--out", str(out))
    assert refused.returncode == 2, refused.stderr
    assert "holds results of a different spec" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_data_check_reports_a_real_cifar_folder_and_names_a_bad_one(tmp_path: Path) -> None:
    write_cifar(tmp_path)
    checked = initlab("data", "check", "--dataset", "cifar10", "--root", str(tmp_path))
    assert checked.returncode == 0, checked.stderr
    report = json.loads(checked.stdout)
    assert report["classes"] == 10 and report["image_shape"] == [3, 32, 32]
    assert report["train"] + report["val"] == 50 and report["test"] == 10
    assert 0 <= report["label_min"] <= report["label_max"] <= 9
    missing = initlab("data", "check", "--dataset", "cifar10", "--root", str(tmp_path / "none"))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert str(tmp_path / "none") in missing.stderr
