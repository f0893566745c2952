"""`python -m dashboard.serve` (what `initlab up` runs) imports the pages' libraries while it
starts, before any browser opens a session; INITLAB_DASHBOARD_WARM=0 leaves that to the first
visitor. Seen from outside: the shared libraries mapped into the server process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.dashboard.conftest import REPO, browser_page
from tests.service.servers import free_port, wait_for

pytestmark = pytest.mark.slow
# Compiled parts of what the pages import: scipy (statistics) and matplotlib (figure exports).
WARMED = ("scipy/stats", "matplotlib/")


def mapped(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


def serve(port: int, warm: bool) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "INITLAB_API_URL": "http://127.0.0.1:9",
           "INITLAB_DASHBOARD_WARM": "1" if warm else "0"}
    return subprocess.Popen(
        [sys.executable, "-m", "dashboard.serve", "--server.headless", "true", "--server.port",
         str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/_stcore/health", timeout=2).text == "ok"
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize("warm", [True, False], ids=["warmed", "not warmed"])
def test_the_server_imports_the_pages_libraries_before_the_first_visit(warm: bool) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = serve(port, warm)
    try:
        wait_for(lambda: healthy(url), 90, 0.3, "the dashboard to answer")
        if warm:
            wait_for(lambda: all(lib in mapped(server.pid) for lib in WARMED), 90, 0.5,
                     "scipy and matplotlib in the server before any session")
        else:
            time.sleep(5)
            assert not any(lib in mapped(server.pid) for lib in WARMED)
        with browser_page(60_000) as page:  # the first visitor gets its page either way
            page.goto(f"{url}/experiments")
            page.get_by_text("unreachable").first.wait_for()
    finally:
        server.terminate()
        server.wait(30)
