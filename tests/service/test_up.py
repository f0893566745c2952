"""`initlab up` end to end: a real subprocess starts the API, a worker and the dashboard on
free ports with its store under a temporary folder, serves, and Ctrl-C stops every child."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.dashboard.conftest import SHOTS, browser_page
from tests.service.servers import FAST, REPO, free_port, wait_for

pytestmark = pytest.mark.slow  # live servers and workers

# The children `initlab up` starts, by a word of their command lines (the dashboard's is
# `python -m dashboard.serve`: streamlit run, its imports warmed).
CHILDREN = ("uvicorn", "celery", "dashboard.serve")


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, start time) of a live process, None once it is gone or a zombie."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()  # after "(comm)", which may hold spaces
    return None if fields[0] == "Z" else (int(fields[1]), fields[19])


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _descendants(root: int) -> dict[int, tuple[str, str]]:
    """Every live descendant of `root`: pid -> (start time, command line), from /proc."""
    parents: dict[int, list[int]] = {}
    starts: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))):
            parents.setdefault(stat[0], []).append(int(entry.name))
            starts[int(entry.name)] = stat[1]
    found: dict[int, tuple[str, str]] = {}
    todo = list(parents.get(root, []))
    while todo:
        pid = todo.pop()
        found[pid] = (starts[pid], _cmdline(pid))
        todo += parents.get(pid, [])
    return found


def _answers(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=3)
    except httpx.HTTPError:
        return None


def _serving(api: str, dashboard: str, up: subprocess.Popen[bytes]) -> bool:
    """The API is healthy with a live worker and the dashboard serves its page."""
    assert up.poll() is None, f"initlab up exited with {up.returncode}"
    health = _answers(f"{api}/api/v1/health")
    if health is None or health.status_code != 200:
        return False
    body = health.json()
    page = _answers(dashboard)
    return (
        body["status"] == "ok"
        and any(w["name"].startswith("cpu-0@") for w in body["workers"])
        and page is not None
        and page.status_code == 200
    )


def _opens_without_sign_in(dashboard: str) -> None:
    """Local use on the embedded defaults (no INITLAB_AUTH, no token): a browser gets the pages
    at once, with no sign-in form, and the empty list says what to do first."""
    with browser_page(60_000) as page:
        page.goto(dashboard)
        page.get_by_text("No experiments yet: submit the demo").first.wait_for()
        assert page.get_by_role("button", name="Sign in").count() == 0
        assert page.get_by_role("button", name="Sign out").count() == 0
        page.screenshot(path=SHOTS / "09-up-login-free.png", full_page=True)


def test_up_serves_then_ctrl_c_stops_every_child(tmp_path: Path) -> None:
    api_port, dashboard_port = free_port(), free_port()
    env = {
        **os.environ,
        **FAST,
        "PYTHONPATH": str(REPO),
        "INITLAB_DATABASE_URL": f"sqlite:///{tmp_path / 'initlab.db'}",
        "INITLAB_BROKER_URL": "filesystem://",
        "INITLAB_BROKER_DIR": str(tmp_path / "broker"),
        "INITLAB_ARTIFACT_DIR": str(tmp_path / "art"),
        "INITLAB_STOP_GRACE": "30",  # an idle worker stops at once; bounds a hung one
    }
    env.pop("INITLAB_API_TOKEN", None)
    (tmp_path / "data").mkdir()
    log = open(tmp_path / "up.log", "wb")  # noqa: SIM115
    # Its own session, so SIGINT reaches `initlab up` only, as Ctrl-C in its terminal would
    # (the children run in sessions of their own and are stopped by it).
    up = subprocess.Popen(
        [sys.executable, "-m", "initlab.cli", "up", "--cpu", "--api-port", str(api_port),
         "--dashboard-port", str(dashboard_port), "--data-dir", str(tmp_path / "data")],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    api, dashboard = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{dashboard_port}"
    children: dict[int, tuple[str, str]] = {}
    try:
        wait_for(lambda: _serving(api, dashboard, up), 120, 0.3, "initlab up to serve")
        _opens_without_sign_in(dashboard)
        children = _descendants(up.pid)
        for word in CHILDREN:
            assert any(word in line for _, line in children.values()), (word, children)
        up.send_signal(signal.SIGINT)
        assert up.wait(60) == 0, (tmp_path / "up.log").read_text()
    finally:
        if up.poll() is None:  # failed while serving
            children |= _descendants(up.pid)
            up.kill()
            up.wait()
        log.close()
        # Whatever outlived `initlab up`, killed here so that a failure leaves nothing running.
        survivors = {
            pid: line for pid, (start, line) in children.items()
            if (stat := _stat(pid)) is not None and stat[1] == start
        }
        for pid in survivors:
            with contextlib.suppress(ProcessLookupError):  # it may end on its own meanwhile
                os.kill(pid, signal.SIGKILL)
    assert survivors == {}
    assert _answers(f"{api}/api/v1/health") is None
    assert _answers(dashboard) is None
    output = (tmp_path / "up.log").read_text()
    assert f"API:       {api}/api/v1" in output
    assert f"Dashboard: http://127.0.0.1:{dashboard_port}" in output
