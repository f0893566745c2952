"""Service commands: `db upgrade`, `worker`, `up` (submitting and following: experiments.py)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from initlab.checks import port_in_use
from initlab.exits import FAILED, UNREACHABLE, USAGE, api_errors, fail
from initlab.options import api_client
from initlab.state import StateDirOption, use_state_dir, where_lines

if TYPE_CHECKING:
    from store.config import Settings
    from worker.launch import Supervisor

DataRootOption = Annotated[
    Path | None,
    typer.Option("--data-root", envvar="INITLAB_DATA_ROOT",
                 help="folder every data set path of a spec resolves in (default ./data)"),
]
db_app = typer.Typer(help="The InitLab database.", no_args_is_help=True)
REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "dashboard" / "app.py"


@db_app.command("upgrade")
def db_upgrade(
    url: Annotated[
        str | None, typer.Option(help="database URL (default INITLAB_DATABASE_URL)")
    ] = None,
    state_dir: StateDirOption = None,
) -> None:
    """Create or migrate the database schema to the newest revision."""
    use_state_dir(state_dir)
    target = url or settings().database_url
    migrate(target)
    typer.echo(f"database is at the newest revision ({target.split('@')[-1]})")


def settings() -> Settings:
    """The INITLAB_* settings; an invalid one (a weak production token) is one line, exit 2."""
    from pydantic import ValidationError

    from store.config import get_settings

    try:
        return get_settings()
    except ValidationError as error:
        fail("; ".join(_problem(e) for e in error.errors()), USAGE)


def _problem(error: Any) -> str:
    """'INITLAB_FIELD: message' for one pydantic error of the settings."""
    where = f"INITLAB_{'_'.join(map(str, error['loc'])).upper()}: " if error["loc"] else ""
    return where + str(error["msg"]).removeprefix("Value error, ")


def prepare(state_dir: Path | None, data_root: Path | None) -> Settings:
    """Settings with the state directory and data root applied, and a line saying where each is
    (the processes started from here inherit both)."""
    use_state_dir(state_dir)
    if data_root is not None:
        os.environ["INITLAB_DATA_ROOT"] = str(data_root.resolve())
    config = settings()
    for line in where_lines(config):
        typer.echo(line)
    return config


def migrate(url: str) -> None:
    """store.db.upgrade, with an unreachable or refusing database as one line, exit 3."""
    from sqlalchemy.exc import ArgumentError, OperationalError

    from store.db import upgrade

    where = url.split("@")[-1]
    try:
        upgrade(url)
    except OperationalError as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        fail(f"cannot reach the database at {where}: {reason}", UNREACHABLE)
    except ArgumentError as error:
        fail(f"invalid database URL {where!r}: {error}", USAGE)


def _gpu_list(gpus: str | None, cpu: bool) -> list[str]:
    """The GPUs to use: the --gpus list, all visible ones by default, none with --cpu."""
    if cpu:
        return []
    if gpus:
        return [g.strip() for g in gpus.split(",") if g.strip()]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def _require_gpu(cpu: bool) -> None:
    """With INITLAB_REQUIRE_GPU=1 (the compose GPU worker), no usable GPU is one line, exit 1."""
    if os.environ.get("INITLAB_REQUIRE_GPU", "") not in ("1", "true", "yes"):
        return
    from worker.launch import gpu_problem

    problem = "--cpu was given" if cpu else gpu_problem()
    if problem is not None:
        fail(f"INITLAB_REQUIRE_GPU=1 and no usable GPU: {problem}", FAILED)


def worker(
    gpus: Annotated[str | None, typer.Option(help="GPU indices, e.g. 0,1 (default: all)")] = None,
    slots_per_gpu: Annotated[int, typer.Option(min=1, help="runs at once per GPU")] = 1,
    cpu: Annotated[bool, typer.Option("--cpu", help="train on the CPU")] = False,
    cpu_slots: Annotated[int, typer.Option(min=1, help="runs at once with --cpu")] = 1,
    loglevel: Annotated[str, typer.Option(help="Celery log level")] = "INFO",
    state_dir: StateDirOption = None,
    data_root: DataRootOption = None,
) -> None:
    """Start one Celery worker process per slot, each pinned to its GPU (CUDA_VISIBLE_DEVICES)."""
    from worker.launch import Supervisor, celery_argv, plan_slots

    config = prepare(state_dir, data_root)
    _require_gpu(cpu)
    gpu_ids = _gpu_list(gpus, cpu)  # a bad --gpus is a usage error before the store is read
    _refuse_unsafe(config)
    if not gpu_ids and not cpu:
        typer.echo("initlab: no GPU found; working on the CPU", err=True)
    try:  # --gpus counts the GPUs this process sees (an inherited CUDA_VISIBLE_DEVICES)
        slots = plan_slots(gpu_ids, slots_per_gpu, cpu_slots)
    except ValueError as error:
        fail(f"--gpus {gpus}: {error}", USAGE)
    supervisor = Supervisor(config.stop_grace)
    for slot in slots:
        supervisor.start(slot.name, celery_argv(slot, config, loglevel), slot.env)
        typer.echo(f"worker slot {slot.name} started ({slot.env.get('INITLAB_DEVICE')})")
    raise typer.Exit(supervisor.wait())


def _refuse_unsafe(config: Settings) -> None:
    """One line and exit 1 when this host would share the embedded defaults with another."""
    from worker.runtime import host_name
    from worker.safety import unsafe_setup

    refusal = unsafe_setup(config, host_name())
    if refusal is not None:
        fail(refusal, FAILED)


def _wait_healthy(api: str, supervisor: Supervisor, timeout: float = 60.0) -> bool:
    """Poll the API's health until it says ok, the time is up, or the API process ended."""
    from apiclient import ApiError, Unreachable

    deadline = time.monotonic() + timeout
    with api_client(api) as client:
        while time.monotonic() < deadline:
            if any(name == "api" and p.poll() is not None for name, p in supervisor.children):
                return False
            try:
                if client.health().get("status") == "ok":
                    return True
            except (Unreachable, ApiError):
                pass
            time.sleep(0.3)
    return False


def _start_stack(
    supervisor: Supervisor,
    host: str,
    api_port: int,
    dashboard_port: int,
    env: dict[str, str],
    cpu: bool,
) -> bool:
    """Start the API, one worker slot and (when present) the dashboard; True with dashboard."""
    from worker.launch import celery_argv, plan_slots

    uvicorn = ["uvicorn", "api.main:app", "--host", host, "--port", str(api_port)]
    supervisor.start("api", [sys.executable, "-m", *uvicorn], env)
    slot = plan_slots(_gpu_list(None, cpu)[:1], 1, 1, reserved_cores=1)[0]
    supervisor.start("worker", celery_argv(slot, settings()), {**env, **slot.env})
    if not DASHBOARD.exists():
        typer.echo(f"initlab: {DASHBOARD} not found; starting without the dashboard", err=True)
        return False
    streamlit = [  # streamlit run dashboard/app.py, its imports warmed meanwhile
        "dashboard.serve",
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
    cpu: Annotated[bool, typer.Option("--cpu", help="train on the CPU even with a GPU")] = False,
    state_dir: StateDirOption = None,
    data_root: DataRootOption = None,
    data_dir: Annotated[Path | None, typer.Option(hidden=True)] = None,
) -> None:
    """API, one worker and the dashboard on the embedded defaults; Ctrl-C stops them all."""
    from worker.launch import Supervisor

    if data_dir is not None:
        typer.echo("initlab: --data-dir is deprecated, use --data-root (the data sets' folder; "
                   "the store and checkpoints go to --state-dir)", err=True)
    config = prepare(state_dir, data_root or data_dir)
    for port, option in ((api_port, "--api-port"), (dashboard_port, "--dashboard-port")):
        if port_in_use(host, port):
            fail(f"port {port} on {host} is in use ({option}); stop what listens there or "
                 "choose another port", FAILED)
    migrate(config.database_url)
    if config.auth_mode == "none" and host not in ("127.0.0.1", "localhost", "::1"):
        typer.echo(
            f"initlab: warning: listening on {host} with no authentication: anyone who reaches"
            " it may submit and cancel; set INITLAB_AUTH=accounts (or INITLAB_API_TOKEN)",
            err=True,
        )
    api = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{api_port}"
    python_path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    env = {
        "INITLAB_API_URL": api,
        "PYTHONPATH": python_path,
        "INITLAB_DASHBOARD_ORIGIN": f"http://{host}:{dashboard_port}",
    }
    supervisor = Supervisor(config.stop_grace)
    dashboard = _start_stack(supervisor, host, api_port, dashboard_port, env, cpu)
    if not _wait_healthy(api, supervisor):
        supervisor.stop()
        fail("the API did not become healthy in 60 s (its log is above); stopped", FAILED)
    typer.echo(f"API:       {api}/api/v1  (OpenAPI {api}/openapi.json, docs {api}/docs)")
    if dashboard:
        typer.echo(f"Dashboard: http://{host}:{dashboard_port}")
    if demo and config.auth_mode == "accounts":  # the demo would need someone's token
        typer.echo("Demo not submitted: with INITLAB_AUTH=accounts, sign in to the dashboard "
                   "and submit demo-digits there (or `initlab submit demo-digits` with a token).")
    elif demo:
        _submit_demo(api)
    typer.echo("Ctrl-C stops everything.")
    raise typer.Exit(supervisor.wait())


def _demo_spec() -> dict[str, Any]:
    from core.paper.presets import PRESETS

    return PRESETS.get("demo-digits")()


@api_errors
def _submit_demo(api: str) -> None:
    import json

    with api_client(api) as client:
        body = client.submit(json.dumps(_demo_spec()), content_type="application/json")
    typer.echo(f"demo experiment {body['id']} submitted: {len(body['runs'])} runs")


def register(app: typer.Typer) -> None:
    """Add the service commands to the `initlab` CLI."""
    app.add_typer(db_app, name="db")
    app.command()(worker)
    app.command()(up)
