"""Seconds to the first chart of a new browser session, on the demo while its worker trains.

    python bench/first_chart.py [--sessions 5] [--rounds 1] [--only VARIANT[,VARIANT]]
                                [--worker-nice N] [--json]

Each round starts `initlab up --demo --cpu` once per variant on free ports (state under a
temporary folder, no auth), in this order: `cold` without the dashboard's start-up warming of
its imports (INITLAB_DASHBOARD_WARM=0, dashboard/serve.py), `no-preload` warmed but without the
chart library asked for with the page (INITLAB_DASHBOARD_PRELOAD=0, dashboard/preload.py), and
`warm` as shipped. Once the demo has recorded an epoch, `sessions` fresh browser contexts
(nothing cached, the first being the dashboard's first visitor) each open
/experiment?experiment=ID and time from the navigation to the first Plotly trace drawn. Prints
every time, the median per variant and its ratio to `warm`, and where a session's time goes
(medians, seconds from the navigation): the websocket opened (the page's JavaScript has run),
the Plotly chunk was asked for (with the page when preloaded; else once the first chart's data
has reached the browser), the first trace, and the browser's main-thread CPU time until then.
--only runs the variants named (comma-separated). --worker-nice N lowers the demo worker's CPU
priority once the stack is up (every thread of it), to measure how much of a session is the
training taking the 2 cores from the browser and the server.
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
STAGES = ("websocket", "plotly_chunk", "first_trace", "main_thread_cpu")


def main_thread_cpu_s(cdp: Any) -> float:
    """CPU seconds the page's main thread has used (thread ticks, not wall time)."""
    metrics = cdp.send("Performance.getMetrics")["metrics"]
    return float(next(m["value"] for m in metrics if m["name"] == "ThreadTime"))


VARIANTS = {  # name -> (warm the imports, preload the chart library)
    "cold": ("0", "0"), "no-preload": ("1", "0"), "warm": ("1", "1"),
}


def start_up(folder: Path, variant: str) -> tuple[subprocess.Popen[bytes], str, str, Path]:
    """`initlab up --demo --cpu` on free ports: (process, API URL, dashboard URL, its log)."""
    api_port, dashboard_port = free_port(), free_port()
    warm, preload = VARIANTS[variant]
    env = {**os.environ, "PYTHONPATH": str(REPO), "INITLAB_STATE_DIR": str(folder / "var"),
           "INITLAB_DASHBOARD_WARM": warm, "INITLAB_DASHBOARD_PRELOAD": preload}
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


def worker_threads(up_pid: int) -> list[int]:
    """Thread ids of the Celery worker that `initlab up` (process up_pid) started."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            argv = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):  # a process that ended meanwhile
            continue
        if ppid == up_pid and b"worker.tasks" in argv:
            return [int(task.name) for task in (stat.parent / "task").iterdir()]
    raise RuntimeError(f"no worker under process {up_pid}")


def renice_worker(up_pid: int, nice: int) -> None:
    """Niceness is per thread on Linux: set it on each of the worker's threads."""
    for tid in worker_threads(up_pid):
        os.setpriority(os.PRIO_PROCESS, tid, nice)


def one_session(browser: Any, url: str) -> dict[str, float]:
    """One fresh context: seconds from the navigation to each stage (infinity: no chart)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    cdp = context.new_cdp_session(page)
    cdp.send("Performance.enable", {"timeDomain": "threadTicks"})
    stages: dict[str, float] = {}

    def mark(stage: str) -> None:
        stages.setdefault(stage, time.perf_counter() - began)

    page.on("websocket", lambda _: mark("websocket"))
    page.on("request", lambda r: mark("plotly_chunk") if "/PlotlyChart." in r.url else None)
    began = time.perf_counter()
    page.goto(url)
    try:
        page.locator(TRACE).first.wait_for(state="attached")  # drawn (a band may be hidden)
        mark("first_trace")
        stages["main_thread_cpu"] = main_thread_cpu_s(cdp)
    except Exception:  # a session that drew no chart in time counts, as infinity
        page.screenshot(path="/tmp/first-chart-failure.png", full_page=True)
        stages["first_trace"] = float("inf")
    context.close()
    return {stage: stages.get(stage, float("nan")) for stage in STAGES}


def time_sessions(browser: Any, url: str, sessions: int) -> list[dict[str, float]]:
    """Each session's stages, one fresh context per session."""
    out = []
    for i in range(sessions):
        out.append(one_session(browser, url))
        print(f"session {i + 1}: " + ", ".join(f"{k} {v:.2f}" for k, v in out[-1].items()),
              file=sys.stderr)
    return out


def one_variant(
    browser: Any, variant: str, sessions: int, worker_nice: int
) -> list[dict[str, float]]:
    """Start a fresh stack, wait for the demo's first epoch, time `sessions` new sessions."""
    with tempfile.TemporaryDirectory(prefix="first-chart-") as name:
        process, api, dashboard, log = start_up(Path(name), variant)
        try:
            eid = wait_for(lambda: demo_id(log), 180, 0.3, "the demo to be submitted")
            wait_for(lambda: has_an_epoch(api, eid), 300, 0.3, "the demo's first epoch")
            if worker_nice:
                renice_worker(process.pid, worker_nice)
            return time_sessions(browser, f"{dashboard}/experiment?experiment={eid}", sessions)
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(120)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def variant_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in VARIANTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown variant {unknown}; known: {', '.join(VARIANTS)}")
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--only", type=variant_list, default=list(VARIANTS), metavar="VARIANTS",
                        help=f"the variants to run, comma-separated (of {', '.join(VARIANTS)})")
    parser.add_argument("--worker-nice", type=int, default=0, metavar="N",
                        help="the demo worker's niceness (0: leave it as `initlab up` starts it)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    runs: dict[str, list[list[dict[str, float]]]] = {v: [] for v in args.only}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        for _ in range(args.rounds):
            for variant in args.only:
                runs[variant].append(one_variant(browser, variant, args.sessions,
                                                 args.worker_nice))
        browser.close()
    times = {v: [[s["first_trace"] for s in r] for r in rounds] for v, rounds in runs.items()}
    medians = {v: statistics.median(t for r in rounds for t in r) for v, rounds in times.items()}
    stages = {v: {k: statistics.median(s[k] for r in rounds for s in r) for k in STAGES}
              for v, rounds in runs.items()}
    result: dict[str, Any] = {"times_s": times, "median_s": medians, "stage_medians_s": stages,
                              "first_visitor_s": {v: [r[0] for r in t] for v, t in times.items()}}
    for other in ("cold", "no-preload"):
        if other in medians and "warm" in medians:
            result[f"{other}_over_warm"] = medians[other] / medians["warm"]
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for variant, rounds in times.items():
        for r in rounds:
            print(f"{variant}: " + "  ".join(f"{t:.2f}" for t in r) + " s (first: first visitor)")
        print(f"{variant}: median {medians[variant]:.2f} s; stage medians: "
              + ", ".join(f"{k} {v:.2f}" for k, v in stages[variant].items()))
    for other in ("cold", "no-preload"):
        if f"{other}_over_warm" in result:
            print(f"{other} / warm: {result[f'{other}_over_warm']:.2f}x")


if __name__ == "__main__":
    main()
