"""Service commands: `db upgrade`, `worker`, `up`, `submit`, `status`."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from store.config import get_settings
from worker.launch import Supervisor, celery_argv, plan_slots

db_app = typer.Typer(help="The InitLab database.", no_args_is_help=True)
REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "dashboard" / "app.py"


@db_app.command("upgrade")
def db_upgrade(
    url: Annotated[
        str | None, typer.Option(help="database URL (default INITLAB_DATABASE_URL)")
    ] = None,
) -> None:
    """Create or migrate the database schema to the newest revision."""
    from store.db import upgrade

    target = url or get_settings().database_url
    upgrade(target)
    typer.echo(f"database is at the newest revision ({target.split('@')[-1]})")


def _gpu_list(gpus: str | None, cpu: bool) -> list[str]:
    """The GPUs to use: the --gpus list, all visible ones by default, none with --cpu."""
    if cpu:
        return []
    if gpus:
        return [g.strip() for g in gpus.split(",") if g.strip()]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def worker(
    gpus: Annotated[str | None, typer.Option(help="GPU indices, e.g. 0,1 (default: all)")] = None,
    slots_per_gpu: Annotated[int, typer.Option(min=1, help="runs at once per GPU")] = 1,
    cpu: Annotated[bool, typer.Option("--cpu", help="train on the CPU")] = False,
    cpu_slots: Annotated[int, typer.Option(min=1, help="runs at once with --cpu")] = 1,
    loglevel: Annotated[str, typer.Option(help="Celery log level")] = "INFO",
) -> None:
    """Start one Celery worker process per slot, each pinned to its GPU (CUDA_VISIBLE_DEVICES)."""
    settings = get_settings()
    gpu_ids = _gpu_list(gpus, cpu)
    if not gpu_ids and not cpu:
        typer.echo("initlab: no GPU found; working on the CPU", err=True)
    supervisor = Supervisor(settings.stop_grace)
    for slot in plan_slots(gpu_ids, slots_per_gpu, cpu_slots):
        supervisor.start(slot.name, celery_argv(slot, settings, loglevel), slot.env)
        typer.echo(f"worker slot {slot.name} started ({slot.env.get('INITLAB_DEVICE')})")
    raise typer.Exit(supervisor.wait())


def _wait_healthy(api: str, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{api}/api/v1/health", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    return False


def _headers(content_type: str | None = None) -> dict[str, str]:
    headers = {"Content-Type": content_type} if content_type else {}
    token = get_settings().api_token
    if token is not None:
        headers["Authorization"] = f"Bearer {token.get_secret_value()}"
    return headers


def _start_stack(
    supervisor: Supervisor,
    host: str,
    api_port: int,
    dashboard_port: int,
    env: dict[str, str],
    cpu: bool,
) -> bool:
    """Start the API, one worker slot and (when present) the dashboard; True with dashboard."""
    settings = get_settings()
    uvicorn = ["uvicorn", "api.main:app", "--host", host, "--port", str(api_port)]
    supervisor.start("api", [sys.executable, "-m", *uvicorn], env)
    slot = plan_slots(_gpu_list(None, cpu)[:1], 1, 1, reserved_cores=1)[0]
    supervisor.start("worker", celery_argv(slot, settings), {**env, **slot.env})
    if not DASHBOARD.exists():
        typer.echo(f"initlab: {DASHBOARD} not found; starting without the dashboard", err=True)
        return False
    streamlit = [
        "streamlit",
        "run",
        str(DASHBOARD),
        "--server.address",
        host,
        "--server.port",
        str(dashboard_port),
        "--server.headless",
        "true",
        "--client.toolbarMode",  # no Deploy button or developer menu, whatever the cwd
        "viewer",
    ]
    supervisor.start("dashboard", [sys.executable, "-m", *streamlit], env)
    return True


def up(
    demo: Annotated[bool, typer.Option(help="also submit the digits demo experiment")] = False,
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    api_port: Annotated[int, typer.Option(help="port of the REST API")] = 8000,
    dashboard_port: Annotated[int, typer.Option(help="port of the dashboard")] = 8501,
    data_dir: Annotated[Path | None, typer.Option(help="data root (INITLAB_DATA_ROOT)")] = None,
    cpu: Annotated[bool, typer.Option("--cpu", help="train on the CPU even with a GPU")] = False,
) -> None:
    """API, one worker and the dashboard on the embedded defaults; Ctrl-C stops them all."""
    from store.db import upgrade

    upgrade(get_settings().database_url)
    api = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{api_port}"
    python_path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    env = {
        "INITLAB_API_URL": api,
        "PYTHONPATH": python_path,
        "INITLAB_DASHBOARD_ORIGIN": f"http://{host}:{dashboard_port}",
    }
    if data_dir is not None:
        env["INITLAB_DATA_ROOT"] = str(data_dir.resolve())
    supervisor = Supervisor(get_settings().stop_grace)
    dashboard = _start_stack(supervisor, host, api_port, dashboard_port, env, cpu)
    if not _wait_healthy(api):
        typer.echo("initlab: the API did not become healthy in 60 s; stopping", err=True)
        supervisor.stop()
        raise typer.Exit(1)
    typer.echo(f"API:       {api}/api/v1  (OpenAPI {api}/openapi.json, docs {api}/docs)")
    if dashboard:
        typer.echo(f"Dashboard: http://{host}:{dashboard_port}")
    if demo:
        _submit_demo(api)
    typer.echo("Ctrl-C stops everything.")
    raise typer.Exit(supervisor.wait())


def _demo_spec() -> dict[str, Any]:
    from core.presets import PRESETS

    return PRESETS.get("demo-digits")()


def _submit_demo(api: str) -> None:
    response = httpx.post(
        f"{api}/api/v1/experiments", json=_demo_spec(), headers=_headers(), timeout=30
    )
    response.raise_for_status()
    body = response.json()
    typer.echo(f"demo experiment {body['id']} submitted: {len(body['runs'])} runs")


def _spec_body(spec: str) -> tuple[bytes, str]:
    """A spec file's bytes and content type, or a preset's JSON when no such file exists."""
    path = Path(spec)
    if path.exists():
        kind = "application/json" if path.suffix == ".json" else "application/yaml"
        return path.read_bytes(), kind
    from core.presets import PRESETS

    if spec in PRESETS:
        return json.dumps(PRESETS.get(spec)()).encode(), "application/json"
    raise FileNotFoundError(
        f"no spec file {spec!r} and no preset of that name; presets: {', '.join(PRESETS.names())}"
    )


def _fail(response: httpx.Response) -> None:
    detail = (
        response.json().get("detail")
        if response.headers.get("content-type", "").startswith("application/json")
        else response.text
    )
    for line in detail if isinstance(detail, list) else [detail]:
        if isinstance(line, dict):  # a 422 item: {loc, msg, type}
            line = f"{'.'.join(str(part) for part in line['loc'][1:])}: {line['msg']}"
        typer.echo(f"initlab: error: {line}", err=True)
    raise typer.Exit(2)


def submit(
    spec: Annotated[str, typer.Argument(metavar="SPEC", help="spec file or preset name")],
    api: Annotated[str | None, typer.Option(help="API base URL (INITLAB_API_URL)")] = None,
    priority: Annotated[int, typer.Option(min=0, max=9, help="9 runs first")] = 5,
    dry_run: Annotated[bool, typer.Option(help="validate and list runs only")] = False,
) -> None:
    """Send a spec to the API; prints the experiment id and its runs."""
    base = (api or get_settings().api_url).rstrip("/")
    body, kind = _spec_body(spec)
    response = httpx.post(
        f"{base}/api/v1/experiments",
        content=body,
        headers=_headers(kind),
        params={"priority": priority, "dry_run": dry_run},
        timeout=60,
    )
    if response.status_code >= 400:
        _fail(response)
    result = response.json()
    label = "dry run" if result["dry_run"] else f"experiment {result['id']}"
    typer.echo(f"{label}: {len(result['runs'])} runs")
    for run in result["runs"]:
        typer.echo(f"  run {run['id'] or '-':>6}  {run['arm']:<20} repeat {run['repeat']}")


def status(
    experiment_id: Annotated[
        int | None, typer.Argument(help="one experiment, with its runs")
    ] = None,
    api: Annotated[str | None, typer.Option(help="API base URL (INITLAB_API_URL)")] = None,
) -> None:
    """List experiments with progress, or show one experiment's runs."""
    base = (api or get_settings().api_url).rstrip("/") + "/api/v1"
    if experiment_id is None:
        response = httpx.get(f"{base}/experiments", headers=_headers(), timeout=30)
        if response.status_code >= 400:
            _fail(response)
        for e in response.json()["items"]:
            p = e["progress"]
            typer.echo(
                f"{e['id']:>6}  {e['status']:<10} {p['runs_done']:>4}/{p['runs_total']:<4}"
                f" {100 * p['fraction']:5.1f}%  {e['name']}"
            )
        return
    response = httpx.get(f"{base}/experiments/{experiment_id}", headers=_headers(), timeout=30)
    if response.status_code >= 400:
        _fail(response)
    e = response.json()
    typer.echo(
        f"experiment {e['id']} {e['name']}: {e['status']}, "
        f"{100 * e['progress']['fraction']:.1f}% done"
    )
    runs = httpx.get(f"{base}/experiments/{experiment_id}/runs", headers=_headers(), timeout=30)
    for r in runs.json()["items"]:
        where = f"{r['last_phase']} {r['last_epoch']}" if r["last_phase"] else ""
        typer.echo(
            f"  run {r['id']:>6}  {r['arm']:<20} #{r['repeat']:<3} {r['status']:<10} "
            f"{where:<14} {r['error'] or ''}"
        )


def register(app: typer.Typer) -> None:
    """Add the service commands to the `initlab` CLI."""
    app.add_typer(db_app, name="db")
    app.command()(worker)
    app.command()(up)
    app.command()(submit)
    app.command()(status)
