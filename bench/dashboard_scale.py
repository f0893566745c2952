"""The dashboard at a real protocol's size: one experiment of 1,000 runs × 100 epochs × 4 splits.

    python bench/dashboard_scale.py [--repeats 500] [--sessions 3] [--ticks 10] [--running 8]

Seeds a SQLite store (bench/service_queries.store_experiment: 2 arms × `repeats` finished runs,
400,000 metric rows at 500), starts the API (uvicorn) and the dashboard (`streamlit run`), and
measures what issue 16 targets:

- update tick: the API requests one redraw of the Experiment page makes with each tab open
  (only the open tab is drawn: Curves asks for the experiment, its phases and 7 curve panels;
  Tables for the summary and the val-loss curve; Runs for the runs and their selections), timed
  from the client on localhost, first with nothing changed (the API's caches valid), then live:
  `running` runs are set running again and each records one more epoch (4 splits) per tick;
- first chart: a new browser session opens /?experiment=ID; seconds until the first Plotly chart
  is drawn (cold: the first session of a fresh dashboard and API; warm: later sessions);
- session memory: the dashboard process's resident memory grown per extra open session.

Targets: first chart <= 3 s with a warm API, a tick <= 200 ms of API time, <= 50 MB a session.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from bench.service_queries import store_experiment  # noqa: E402
from store.db import get_database  # noqa: E402
from store.models import Metric, Run  # noqa: E402
from tests.dashboard.conftest import browser_page, sign_in, streamlit_server  # noqa: E402
from tests.service.backends import sqlite_backend  # noqa: E402
from tests.service.servers import TOKEN, Service  # noqa: E402

TABS = ("Curves", "Tables", "Runs")
PANELS = [(split, metric) for metric in ("loss", "accuracy") for split in ("train", "val", "test")]


def tick_paths(eid: int, tab: str = "Curves") -> list[tuple[str, dict[str, Any]]]:
    """What one redraw of the Experiment page asks the API with `tab` open (default settings,
    grid layout): only the open tab is drawn."""
    base = f"/experiments/{eid}"
    head: list[tuple[str, dict[str, Any]]] = [(base, {}), (f"{base}/phases", {})]
    if tab == "Tables":
        val_loss = {"split": "val", "metric": "loss", "phase": "main", "band": "iqr", "x": "epoch"}
        return [*head, (f"{base}/summary", {"include_unfinished": True}),
                (f"{base}/curves", val_loss)]
    if tab == "Runs":
        return [*head, (f"{base}/runs", {}), (f"{base}/selected", {})]
    curves = [(f"{base}/curves", {"split": s, "metric": m, "phase": "main", "band": "iqr",
                                  "x": "epoch"}) for s, m in PANELS]
    lr = (f"{base}/curves", {"split": "train", "metric": "lr", "phase": "main", "band": "iqr",
                             "x": "epoch"})
    return [*head, *curves, lr]


class Tick:
    """One tick's requests, one after another as the page makes them, sending the ETag of each
    body held from the last tick (as apiclient does); API milliseconds and bytes received."""

    def __init__(self, client: httpx.Client, eid: int) -> None:
        self.client, self.eid = client, eid
        self.etags: dict[str, str] = {}
        self.slowest: dict[str, float] = {}
        self.received = 0

    def __call__(self, tab: str = "Curves") -> float:
        total = 0.0
        for path, params in tick_paths(self.eid, tab):
            name = path.rsplit("/", 1)[-1] + (f" {params['split']} {params['metric']}"
                                              if "metric" in params else "")
            held = self.etags.get(f"{name} {sorted(params.items())}")
            began = time.perf_counter()
            response = self.client.get(path, params=params,
                                       headers={"If-None-Match": held} if held else {})
            spent = 1000 * (time.perf_counter() - began)
            assert response.status_code in (200, 304), (path, response.text[:300])
            if "etag" in response.headers:
                self.etags[f"{name} {sorted(params.items())}"] = response.headers["etag"]
            self.received += len(response.content)
            total += spent
            self.slowest[name] = max(self.slowest.get(name, 0.0), spent)
        return total

    def worst(self) -> str:
        ranked = sorted(self.slowest.items(), key=lambda kv: -kv[1])[:4]
        return ", ".join(f"{name} {ms:.0f}" for name, ms in ranked)


def start_running(url: str, eid: int, count: int) -> list[int]:
    """`count` runs of the experiment running again, as on a live experiment's workers."""
    db = get_database(url)
    with db.transaction() as session:
        runs = session.query(Run).filter(Run.experiment_id == eid).order_by(Run.id).limit(count)
        ids = []
        for run in runs:
            run.status, run.finished = "running", None
            ids.append(run.id)
        return ids


def add_epoch(url: str, eid: int, run_ids: list[int], epoch: int) -> None:
    """One more main-phase epoch (4 splits) for each running run, as their workers record it."""
    db = get_database(url)
    with db.transaction() as session:
        session.execute(insert(Metric), [
            {"run_id": run_id, "experiment_id": eid, "phase": "main", "epoch": epoch,
             "split": split, "loss": 1.0, "accuracy": 0.5, "lr": 0.01,
             "examples_total": 1000 * epoch, "seconds_total": 0.1 * epoch}
            for run_id in run_ids for split in ("train", "val", "test", "sample")])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def first_chart_s(page: Any, url: str) -> float:
    """Seconds from opening the experiment's URL, through the sign-in form (the API asks for
    its token; each page load is a new session), to the first drawn chart."""
    began = time.perf_counter()
    sign_in(page, url)
    page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=120_000)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=500, help="per arm (2 arms)")
    parser.add_argument("--sessions", type=int, default=3, help="extra sessions for memory")
    parser.add_argument("--ticks", type=int, default=10)
    parser.add_argument("--running", type=int, default=8, help="runs live during the live ticks")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        backend = sqlite_backend(root)
        url = backend.env["INITLAB_DATABASE_URL"]
        began = time.perf_counter()
        eid = store_experiment(url, repeats=args.repeats)
        print(f"seeded {2 * args.repeats} runs, {2 * args.repeats * 400:,} metric rows in "
              f"{time.perf_counter() - began:.1f} s")
        service = Service(backend, root)
        service.start_api()
        try:
            measure(service, url, eid, args)
        finally:
            service.stop()


def measure(service: Service, url: str, eid: int, args: argparse.Namespace) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=f"{service.url}/api/v1", headers=headers, timeout=120) as client:
        cold = Tick(client, eid)()
        for tab in TABS:
            tick = Tick(client, eid)
            tick(tab)  # each tab's figures computed once, its ETags held
            tick.slowest, tick.received = {}, 0
            valid = [tick(tab) for _ in range(args.ticks)]
            print(f"{tab} tab tick, cache valid ({len(tick_paths(eid, tab))} requests): median "
                  f"{statistics.median(valid):.0f} ms, max {max(valid):.0f}, "
                  f"{tick.received / args.ticks / 1024:.0f} kB a tick; slowest: {tick.worst()}")
        running = start_running(url, eid, args.running)
        for tab in TABS:
            tick = Tick(client, eid)
            tick(tab)
            tick.slowest, tick.received = {}, 0
            live = []
            for i in range(args.ticks):
                add_epoch(url, eid, running, 1000 + len(TABS) * i + TABS.index(tab))
                live.append(tick(tab))
            print(f"{tab} tab tick, live ({args.running} runs running, each a new epoch per "
                  f"tick): median {statistics.median(live):.0f} ms, max {max(live):.0f}, "
                  f"{tick.received / args.ticks / 1024:.0f} kB a tick; slowest: {tick.worst()}")
    print(f"first tick of a fresh API (every figure computed): {cold:.0f} ms")
    with streamlit_server(service.url, Path(service.logs) / "dashboard.log") as (dash, pid):
        page_url = f"{dash}/?experiment={eid}"
        idle = rss_mb(pid)
        with browser_page(120_000) as page:
            cold_chart = first_chart_s(page, page_url)
            # Each visit is a new session; the browser has the dashboard's scripts cached.
            warm = [first_chart_s(page, page_url) for _ in range(3)]
            one = rss_mb(pid)
            for _ in range(args.sessions):  # more tabs, each a session of its own, kept open
                warm.append(first_chart_s(page.context.new_page(), page_url))
            many = rss_mb(pid)
        with browser_page(120_000) as page:
            fresh_browser = first_chart_s(page, page_url)
    print(f"first chart, first session (cold dashboard process): {cold_chart:.2f} s")
    print(f"first chart, new session in a fresh browser (nothing cached): {fresh_browser:.2f} s")
    per_session = (many - one) / args.sessions
    print(f"first chart, new session (warm API): median {statistics.median(warm):.2f} s, "
          f"max {max(warm):.2f} s over {len(warm)}")
    print(f"dashboard RSS: idle {idle:.0f} MB, after 4 visits {one:.0f} MB, with "
          f"{args.sessions} more open {many:.0f} MB: {per_session:.1f} MB per session")


if __name__ == "__main__":
    main()
