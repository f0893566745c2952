"""Seconds to the first chart of a new browser session, on the demo while its worker trains.

    python bench/first_chart.py [--sessions 5] [--rounds 1] [--json]

Each round starts `initlab up --demo --cpu` twice on free ports (state under a temporary
folder, no auth), once with the dashboard's start-up warming of its imports
(dashboard/serve.py) and once without (INITLAB_DASHBOARD_WARM=0), cold first. Once the demo
has recorded an epoch, `sessions` fresh browser contexts (nothing cached, the first being the
dashboard's first visitor) each open /experiment?experiment=ID and time from the navigation to
the first Plotly trace drawn. Prints every time, the median per variant and their ratio.
Target (issue 26): median <= 3 s, the first visitor included.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from tests.dashboard.conftest import CHROMIUM  # noqa: E402
from tests.service.servers import free_port, wait_for  # noqa: E402

TRACE = ".js-plotly-plot .scatterlayer .trace"


def start_up(folder: Path, warm: bool) -> tuple[subprocess.Popen[bytes], str, str, Path]:
    """`initlab up --demo --cpu` on free ports: (process, API URL, dashboard URL, its log)."""
    api_port, dashboard_port = free_port(), free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "INITLAB_STATE_DIR": str(folder / "var"),
           "INITLAB_DASHBOARD_WARM": "1" if warm else "0"}
    for own in ("INITLAB_API_TOKEN", "INITLAB_AUTH", "INITLAB_DATABASE_URL",
                "INITLAB_BROKER_URL", "INITLAB_BROKER_DIR", "INITLAB_ARTIFACT_DIR"):
        env.pop(own, None)
    log = folder / "up.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "initlab.cli", "up", "--demo", "--cpu", "--api-port",
         str(api_port), "--dashboard-port", str(dashboard_port)],
        cwd=folder, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
        start_new_session=True,
    )
    return process, f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{dashboard_port}", log


def demo_id(log: Path) -> int:
    match = re.search(r"demo experiment (\d+) submitted", log.read_text(errors="replace"))
    return int(match.group(1)) if match else 0


def has_an_epoch(api: str, eid: int) -> bool:
    runs = httpx.get(f"{api}/api/v1/experiments/{eid}/runs", timeout=10).json()["items"]
    return any(r["last_epoch"] is not None for r in runs)


def time_sessions(browser: Any, url: str, sessions: int) -> list[float]:
    """Seconds from navigation to the first drawn trace, one fresh context per session."""
    seconds = []
    for _ in range(sessions):
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(60_000)
        began = time.perf_counter()
        page.goto(url)
        try:
            page.locator(TRACE).first.wait_for(state="attached")  # drawn (a band may be hidden)
            seconds.append(time.perf_counter() - began)
        except Exception:  # a session that drew no chart in time counts, as infinity
            page.screenshot(path=f"/tmp/first-chart-failure-{len(seconds)}.png", full_page=True)
            seconds.append(float("inf"))
        print(f"session {len(seconds)}: {seconds[-1]:.2f} s", file=sys.stderr)
        context.close()
    return seconds


def one_variant(browser: Any, warm: bool, sessions: int) -> list[float]:
    """Start a fresh stack, wait for the demo's first epoch, time `sessions` new sessions."""
    with tempfile.TemporaryDirectory(prefix="first-chart-") as name:
        process, api, dashboard, log = start_up(Path(name), warm)
        try:
            eid = wait_for(lambda: demo_id(log), 180, 0.3, "the demo to be submitted")
            wait_for(lambda: has_an_epoch(api, eid), 300, 0.3, "the demo's first epoch")
            return time_sessions(browser, f"{dashboard}/experiment?experiment={eid}", sessions)
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(120)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    times: dict[str, list[list[float]]] = {"cold": [], "warm": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        for _ in range(args.rounds):
            for variant in ("cold", "warm"):
                times[variant].append(one_variant(browser, variant == "warm", args.sessions))
        browser.close()
    medians = {v: statistics.median(t for r in rounds for t in r) for v, rounds in times.items()}
    result = {"times_s": times, "median_s": medians,
              "first_visitor_s": {v: [r[0] for r in rounds] for v, rounds in times.items()},
              "cold_over_warm": medians["cold"] / medians["warm"]}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for variant, rounds in times.items():
        for r in rounds:
            print(f"{variant}: " + "  ".join(f"{t:.2f}" for t in r) + " s (first: first visitor)")
        print(f"{variant}: median {medians[variant]:.2f} s")
    print(f"cold / warm: {result['cold_over_warm']:.2f}x")


if __name__ == "__main__":
    main()
