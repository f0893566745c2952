"""Commands against the API: `submit`, `status`, `cancel`, `retry`, `logs`, `archive`.

They import only the API client (and core.paper.presets for a preset name), so they start fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from apiclient import ApiError
from initlab.exits import FAILED, api_errors, fail
from initlab.options import ApiOption, JsonOption, api_client, print_json
from initlab.specs import is_preset, unknown_spec


def spec_body(spec: str) -> tuple[bytes, str]:
    """A spec file's bytes and content type, or a preset's JSON when no such file exists."""
    path = Path(spec)
    if path.exists():
        kind = "application/json" if path.suffix == ".json" else "application/yaml"
        return path.read_bytes(), kind
    if not is_preset(spec):
        raise unknown_spec(spec)
    from core.paper.presets import PRESETS

    return json.dumps(PRESETS.get(spec)()).encode(), "application/json"


def submission_lines(result: dict[str, Any]) -> list[str]:
    """What a submission queued: the experiment (or the sweep and each experiment) and runs,
    after a line for each reason its primary comparison can never decide."""
    warnings = [f"warning: {w}" for w in result.get("warnings") or []]
    return warnings + _queued_lines(result)


def _queued_lines(result: dict[str, Any]) -> list[str]:
    runs = result["runs"]
    if result.get("sweep_id") or len(result.get("experiments", [])) > 1:
        label = "dry run of a sweep" if result["dry_run"] else f"sweep {result['sweep_id']}"
        lines = [f"{label}: {len(result['experiments'])} experiments, {len(runs)} runs"]
        for e in result["experiments"]:
            swept = ", ".join(f"{k}={v}" for k, v in e.get("swept", {}).items())
            lines.append(f"  experiment {e['id'] or '-':>6}  {e['runs']:>4} runs  {swept}")
        return lines
    label = "dry run" if result["dry_run"] else f"experiment {result['id']}"
    return [f"{label}: {len(runs)} runs"] + [
        f"  run {run['id'] or '-':>6}  {run['arm']:<20} repeat {run['repeat']}" for run in runs
    ]


@api_errors
def submit(
    spec: Annotated[str, typer.Argument(metavar="SPEC", help="spec file or preset name")],
    api: ApiOption = None,
    priority: Annotated[int, typer.Option(min=0, max=9, help="9 runs first")] = 5,
    dry_run: Annotated[bool, typer.Option(help="validate and list runs only")] = False,
    sweep: Annotated[
        bool, typer.Option("--sweep", help="POST /sweeps: refuse a spec without `sweep:`")
    ] = False,
    idempotency_key: Annotated[
        str | None,
        typer.Option(help="a retried submit with the same key queues nothing twice"),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Send a spec to the API; prints the experiment id (or sweep id and experiments) and runs."""
    body, kind = spec_body(spec)
    with api_client(api) as client:
        send = client.submit_sweep if sweep else client.submit
        result = send(body, dry_run=dry_run, priority=priority, content_type=kind,
                      idempotency_key=idempotency_key)
    if as_json:
        print_json(result)
        return
    for line in submission_lines(result):
        typer.echo(line)


def experiment_line(e: dict[str, Any]) -> str:
    p = e["progress"]
    return (f"{e['id']:>6}  {e['status']:<10} {p['runs_done']:>4}/{p['runs_total']:<4}"
            f" {100 * p['fraction']:5.1f}%  {e['name']}")


def run_line(r: dict[str, Any]) -> str:
    where = f"{r['last_phase']} {r['last_epoch']}" if r["last_phase"] else ""
    error = (r["error"] or "").strip().splitlines()
    return (f"  run {r['id']:>6}  {r['arm']:<20} #{r['repeat']:<3} {r['status']:<10} "
            f"{where:<14} {r.get('note') or (error[-1] if error else '')}")


@api_errors
def status(
    target: Annotated[
        str | None, typer.Argument(metavar="[ID]", help="an experiment id, or a sweep id")
    ] = None,
    api: ApiOption = None,
    as_json: JsonOption = False,
) -> None:
    """List experiments with progress, or show one experiment's runs, or one sweep's experiments."""
    with api_client(api) as client:
        if target is None:
            page = client.experiments()
            data: Any = page
            lines = [experiment_line(e) for e in page["items"]] or ["no experiments yet"]
        elif target.isdigit():
            e, runs = client.experiment(int(target)), client.runs(int(target))
            data = {**e, "runs": runs}
            waiting = f", {e['waiting']}" if e.get("waiting") else ""
            lines = [f"experiment {e['id']} {e['name']}: {e['status']}, "
                     f"{100 * e['progress']['fraction']:.1f}% done{waiting}"]
            lines += [run_line(r) for r in runs]
        else:
            data = client.sweep(target)
            lines = [f"sweep {data['id']}: {data['status']}, {100 * data['fraction']:.1f}% done"]
            lines += [experiment_line(e) for e in data["experiments"]]
    if as_json:
        print_json(data)
        return
    for line in lines:
        typer.echo(line)


@api_errors
def cancel(
    experiment_id: Annotated[int, typer.Argument(metavar="ID", help="experiment id")],
    api: ApiOption = None,
    as_json: JsonOption = False,
) -> None:
    """Cancel an experiment's queued and running runs (running ones stop at their next batch)."""
    with api_client(api) as client:
        result = client.cancel(experiment_id)
    if as_json:
        print_json(result)
        return
    typer.echo(f"experiment {result['id']}: {result['cancelled_runs']} run(s) cancelled, "
               f"now {result['status']}")


@api_errors
def retry(
    run_id: Annotated[int, typer.Argument(metavar="RUN_ID", help="a failed or cancelled run")],
    fresh: Annotated[bool, typer.Option(help="drop checkpoint and metrics; start over")] = False,
    api: ApiOption = None,
    as_json: JsonOption = False,
) -> None:
    """Queue a failed or cancelled run again; it resumes from its checkpoint unless --fresh."""
    with api_client(api) as client:
        run = client.retry(run_id, fresh=fresh)
    if as_json:
        print_json(run)
        return
    start = "from epoch 1" if fresh else "from its last checkpoint"
    typer.echo(f"run {run['id']} ({run['arm']} #{run['repeat']}) queued again, attempt "
               f"{run['attempt']}, {start}")


# The moments the API records of a run, in the order they happen.
EVENTS = (("enqueued", "queued"), ("started", "started"), ("progress_at", "last progress"),
          ("heartbeat", "last heartbeat"), ("finished", "finished"))


def log_lines(run: dict[str, Any]) -> list[str]:
    """A run's story as the API has it: where and when it ran, its re-queues, its error."""
    lines = [f"run {run['id']} of experiment {run['experiment_id']}: {run['arm']} "
             f"#{run['repeat']}, {run['status']}, attempt {run['attempt']}"]
    events = sorted((run[key], label) for key, label in EVENTS if run.get(key))
    lines += [f"  {when}  {label}" for when, label in events]
    if run.get("worker"):
        lines.append(f"  worker {run['worker']} on {run.get('host') or '?'} "
                     f"({run.get('device_name') or 'device unknown'})")
    if run.get("last_phase"):
        lines.append(f"  reached {run['last_phase']} epoch {run['last_epoch']}")
    if run.get("requeues"):
        lines.append(f"  re-queued {run['requeues']} time(s), last because "
                     f"{run.get('requeue_reason') or 'unknown'} ({run.get('stalls', 0)} stalled)")
    if run.get("error"):
        lines += ["  error:", *(f"    {line}" for line in run["error"].rstrip().splitlines())]
    return lines


@api_errors
def logs(
    run_id: Annotated[int, typer.Argument(metavar="RUN_ID", help="run id (see `status ID`)")],
    api: ApiOption = None,
    as_json: JsonOption = False,
) -> None:
    """A run's events (queued, started, progress, re-queues, finished) and its error traceback."""
    with api_client(api) as client:
        run = client.run(run_id)
    if as_json:
        print_json(run)
        return
    for line in log_lines(run):
        typer.echo(line)


@api_errors
def archive(
    experiment_id: Annotated[int, typer.Argument(metavar="ID", help="experiment id")],
    api: ApiOption = None,
    as_json: JsonOption = False,
) -> None:
    """Hide an experiment from the lists; nothing is erased and it can be restored."""
    with api_client(api) as client:
        try:
            result = client.archive(experiment_id)
        except ApiError as error:
            # No such route (a server older than archiving): Starlette's bare 404 or a 405.
            if error.status == 405 or error.lines == ["Not Found"]:
                fail(f"the API at {client.url} cannot archive experiments (no "
                     "POST /experiments/{id}/archive; upgrade the server)", FAILED)
            raise
    if as_json:
        print_json(result)
        return
    typer.echo(f"experiment {experiment_id} archived")


def register(app: typer.Typer) -> None:
    """Add the API commands to the `initlab` CLI."""
    for command in (submit, status, cancel, retry, logs, archive):
        app.command()(command)
