"""submit, watch, status, logs, retry, cancel and archive against a live API and worker, as
subprocesses of the CLI: their output, their --json and their exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.initlab.conftest import initlab, one_error_line
from tests.service.servers import Service, tiny_spec

pytestmark = pytest.mark.slow
ARMS = [{"name": "original", "method": "original"}, {"name": "smart", "method": "smart_init"}]


def spec_file(folder: Path, name: str, **changes: Any) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**tiny_spec(name, epochs=1, repeats=2, arms=ARMS),
                                    **changes}))
    return path


@pytest.fixture(scope="module")
def watched(
    api_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], str]:
    """An experiment submitted with --json, then followed by `watch` to its end."""
    spec = spec_file(tmp_path_factory.mktemp("specs"), "watched")
    submitted = initlab("submit", str(spec), "--json", env=api_env)
    assert submitted.returncode == 0, submitted.stderr
    result = json.loads(submitted.stdout)
    watch = initlab("watch", str(result["id"]), "--interval", "0.3", env=api_env)
    assert watch.returncode == 0, watch.stderr
    return result, watch.stdout


def test_submit_json_then_watch_shows_each_arm_and_the_primary_comparison(
    watched: tuple[dict[str, Any], str],
) -> None:
    result, shown = watched
    assert [(r["arm"], r["repeat"]) for r in result["runs"]] == [
        ("original", 0), ("smart", 0), ("original", 1), ("smart", 1)]
    last = shown[shown.rindex(f"experiment {result['id']} watched: done"):]
    assert "original" in last and "smart" in last and "2/2" in last
    assert "primary comparison: val loss under rule val_loss, arm minus original" in last
    assert "n=2" in last


def test_status_and_logs_show_the_runs_in_text_and_json(
    watched: tuple[dict[str, Any], str], api_env: dict[str, str]
) -> None:
    result, _ = watched
    eid, run_id = result["id"], result["runs"][0]["id"]
    listed = initlab("status", env=api_env)
    assert listed.returncode == 0 and f"{eid:>6}  done" in listed.stdout
    one = json.loads(initlab("status", str(eid), "--json", env=api_env).stdout)
    assert one["status"] == "done" and {r["status"] for r in one["runs"]} == {"done"}
    logs = initlab("logs", str(run_id), env=api_env)
    assert logs.returncode == 0, logs.stderr
    assert f"run {run_id} of experiment {eid}: original #0, done, attempt 1" in logs.stdout
    assert "started" in logs.stdout and "finished" in logs.stdout
    assert json.loads(initlab("logs", str(run_id), "--json", env=api_env).stdout)["id"] == run_id


def test_refusals_have_their_exit_codes(
    watched: tuple[dict[str, Any], str], api_env: dict[str, str], tmp_path: Path,
    service: Service,
) -> None:
    result, _ = watched
    retried = initlab("retry", str(result["runs"][0]["id"]), env=api_env)  # a done run: 409
    assert retried.returncode == 1 and "(HTTP 409)" in one_error_line(retried)
    missing = initlab("status", "999999", env=api_env)
    assert missing.returncode == 2 and "experiment 999999 not found" in one_error_line(missing)
    bad = initlab("submit", str(spec_file(tmp_path, "bad", model="resnet")), env=api_env)
    assert bad.returncode == 2 and "model" in bad.stderr and "Traceback" not in bad.stderr
    wrong = initlab("status", env={**api_env, "INITLAB_API_TOKEN": "wrong-token-0123456789"})
    assert wrong.returncode == 3 and "refused the credentials (401)" in one_error_line(wrong)
    anonymous = initlab("status", env={**api_env, "INITLAB_API_TOKEN": ""})
    assert anonymous.returncode == 3


def test_a_sweep_prints_its_id_and_every_experiment_then_cancel_stops_them(
    api_env: dict[str, str], tmp_path: Path
) -> None:
    spec = spec_file(tmp_path, "swept", repeats=1, arms=ARMS[:1],
                     sweep={"training.lr": [0.01, 0.001]})
    submitted = initlab("submit", str(spec), "--sweep", "--priority", "0", env=api_env)
    assert submitted.returncode == 0, submitted.stderr
    head, *rows = submitted.stdout.strip().splitlines()
    assert head.startswith("sweep ") and head.endswith(": 2 experiments, 2 runs")
    ids = [int(row.split()[1]) for row in rows]
    assert len(ids) == 2 and "training.lr=0.01" in rows[0] and "training.lr=0.001" in rows[1]
    sweep = json.loads(initlab("status", head.split()[1].rstrip(":"), "--json",
                               env=api_env).stdout)
    assert [e["id"] for e in sweep["experiments"]] == ids
    for eid in ids:
        cancelled = initlab("cancel", str(eid), "--json", env=api_env)
        assert cancelled.returncode == 0, cancelled.stderr
        assert json.loads(cancelled.stdout)["id"] == eid
    plain = initlab("submit", str(spec_file(tmp_path, "single")), "--sweep", env=api_env)
    assert plain.returncode == 2 and "sweep: missing" in one_error_line(plain)


def test_archive_calls_the_route_or_says_the_server_has_none(
    watched: tuple[dict[str, Any], str], api_env: dict[str, str], service: Service
) -> None:
    eid = watched[0]["id"]
    archived = initlab("archive", str(eid), env=api_env)
    paths = httpx.get(f"{service.url}/openapi.json", timeout=10).json()["paths"]
    if "/api/v1/experiments/{experiment_id}/archive" in paths:
        assert archived.returncode == 0 and f"experiment {eid} archived" in archived.stdout
    else:  # this branch's API has no archive route yet
        assert archived.returncode == 1
        assert "cannot archive experiments" in one_error_line(archived)
