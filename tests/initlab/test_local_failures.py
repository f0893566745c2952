"""Foreseeable failures outside the API end with one line and their exit code, no traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.initlab.conftest import REPO, initlab, one_error_line
from tests.service.servers import free_port, listening


def test_an_unreachable_api_is_one_line_naming_the_url_and_exit_3() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    for args in (["status"], ["status", "7"], ["cancel", "7"], ["logs", "7"], ["watch", "7"],
                 ["submit", "demo-digits"], ["report", "7"]):
        result = initlab(*args, "--api", url)
        assert result.returncode == 3, (args, result.stderr)
        assert url in one_error_line(result)


def test_a_preset_name_with_a_typo_suggests_the_close_names() -> None:
    for args in (["run", "demo-digit", "--out", "unused"], ["submit", "demo-digit"]):
        result = initlab(*args, env={"INITLAB_API_URL": f"http://127.0.0.1:{free_port()}"})
        assert result.returncode == 2, result.stderr
        assert "did you mean demo-digits?" in one_error_line(result)


def test_cuda_without_cuda_is_a_usage_error(tmp_path: Path) -> None:
    # CUDA_VISIBLE_DEVICES="-1" hides every GPU, so this holds on a GPU machine too.
    result = initlab("run", "demo-digits", "--out", str(tmp_path), "--device", "cuda",
                     env={"CUDA_VISIBLE_DEVICES": "-1"})
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "'cuda': CUDA is not available here" in result.stderr
    assert not (tmp_path / "results.json").exists()


def test_a_run_that_cannot_train_is_one_line_and_exit_1(tmp_path: Path) -> None:
    spec = {"name": "deep", "model": "torchvision:squeezenet1_0", "dataset": {"name": "digits"},
            "training": {"epochs": 1}, "arms": [{"name": "a", "method": "original"}],
            "repeats": 1}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    result = initlab("run", str(tmp_path / "spec.yaml"), "--out", str(tmp_path / "out"))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr  # above the error line: the run's progress bar
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("initlab: error: run a/0: model 'torchvision:squeezenet1_0' cannot "
                            "take this data set's 3×8×8 images")


def test_db_upgrade_against_an_unreachable_database_is_exit_3() -> None:
    port = free_port()
    result = initlab("db", "upgrade", "--url", f"postgresql+psycopg://nobody@127.0.0.1:{port}/x")
    assert result.returncode == 3, result.stderr
    assert f"cannot reach the database at 127.0.0.1:{port}/x" in one_error_line(result)


def test_a_production_start_with_a_weak_token_is_one_line(tmp_path: Path) -> None:
    env = {"INITLAB_ENVIRONMENT": "production", "INITLAB_API_TOKEN": "short",
           "INITLAB_DATABASE_URL": f"sqlite:///{tmp_path / 'db'}"}
    for args in (["up"], ["worker", "--cpu"], ["db", "upgrade"]):
        result = initlab(*args, env=env)
        assert result.returncode == 2, result.stderr
        line = one_error_line(result)
        assert ("INITLAB_ENVIRONMENT=production needs INITLAB_AUTH=accounts, or "
                "INITLAB_API_TOKEN set to at least 16 characters") in line
    assert not (tmp_path / "db").exists()


def test_up_on_a_busy_port_fails_at_once_naming_it(tmp_path: Path) -> None:
    busy = listening()
    port = busy.getsockname()[1]
    try:
        began = time.monotonic()
        result = initlab("up", "--api-port", str(port), "--dashboard-port", str(free_port()),
                         env={"INITLAB_DATABASE_URL": f"sqlite:///{tmp_path / 'db'}"})
        assert time.monotonic() - began < 30  # not the 60 s health wait
    finally:
        busy.close()
    assert result.returncode == 1, result.stderr
    assert f"port {port} on 127.0.0.1 is in use (--api-port)" in one_error_line(result)


def test_ctrl_c_during_run_says_what_was_saved_and_how_to_resume(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "interrupted", "model": "small_cnn",
        "dataset": {"name": "digits", "limit_train": 200},
        "training": {"epochs": 50, "batch_size": 32},
        "arms": [{"name": "original", "method": "original"}], "repeats": 1,
    }))
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-c", "from initlab.cli import main; main()", "run", str(spec),
               "--out", str(out), "--threads", "1"]
    process = subprocess.Popen(  # SIGINT as a terminal delivers it, even if the tests ignore it
        command, cwd=REPO, env=env, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert process.stderr is not None
    seen = ""
    while "original #0" not in seen:  # the first run's progress bar: training has begun
        chunk = process.stderr.read(1)
        assert chunk, f"run ended before training: {seen}"
        seen += chunk
    process.send_signal(signal.SIGINT)
    rest = process.stderr.read()
    assert process.wait(30) == 130, seen + rest
    assert "Traceback" not in rest
    assert f"0 finished run(s) are saved in {out / 'results.json'}" in rest
    assert "run the same command again to continue" in rest




UNSET = {"INITLAB_DATABASE_URL": "", "INITLAB_BROKER_DIR": "", "INITLAB_ARTIFACT_DIR": "",
         "INITLAB_BROKER_URL": "", "INITLAB_DATA_ROOT": "", "INITLAB_STATE_DIR": ""}


def test_the_state_dir_holds_the_store_and_the_old_data_dir_flag_is_deprecated(
    tmp_path: Path,
) -> None:
    state, data = tmp_path / "state", tmp_path / "data"
    upgraded = initlab("db", "upgrade", env={**UNSET, "INITLAB_STATE_DIR": str(state)})
    assert upgraded.returncode == 0, upgraded.stderr
    assert (state / "initlab.db").is_file()
    busy = listening()
    try:
        up = initlab("up", "--state-dir", str(state), "--data-dir", str(data), "--api-port",
                     str(busy.getsockname()[1]), env=UNSET)
    finally:
        busy.close()
    assert up.returncode == 1  # the busy port: it says where things are, then stops
    assert "--data-dir is deprecated, use --data-root" in up.stderr
    assert (f"state:     database sqlite:///{state / 'initlab.db'}, broker {state / 'broker'}, "
            f"checkpoints {state / 'artifacts'}") in up.stdout
    assert f"data root: {data}" in up.stdout
