"""`initlab report`: Tables I–V with paired statistics, and Figs. 2–5, for one experiment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from core.figures import FIGURE_BANDS
from core.report import FORMATS, read_results, render_report, report_figures
from core.stats import RULES

DEFAULT_API = "http://127.0.0.1:8000"
PAGE = 5000  # metric rows per request


# --- a small client for a stored experiment (kept here: the REST API is built concurrently) ---


def api_client(api: str) -> Any:
    import httpx

    token = os.environ.get("INITLAB_API_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=api.rstrip("/"), headers=headers, timeout=60)


def fail(message: str) -> typer.Exit:
    """Print one error line; the caller raises the returned exit (code 2, as cli.main does)."""
    typer.echo(f"initlab: error: {message}", err=True)
    return typer.Exit(2)


def _get(client: Any, path: str, **params: Any) -> Any:
    import httpx

    try:
        response = client.get(path, params=params or None)
    except httpx.HTTPError as error:
        raise fail(f"cannot reach the API at {client.base_url}: {error}") from None
    if response.status_code >= 400:
        text = response.text[:300]
        raise fail(f"GET {response.url} answered {response.status_code}: {text}")
    return response.json()


def _metric_rows(client: Any, base: str) -> list[dict[str, Any]]:
    """Every metric row, following the cursor ({"items"|"rows", "next_cursor"|"next"})."""
    rows: list[dict[str, Any]] = []
    cursor: Any = 0
    while True:
        page = _get(client, f"{base}/metrics", after=cursor, limit=PAGE)
        items = page.get("items", page.get("rows")) or []
        following = page.get("next_cursor", page.get("next"))
        rows += items
        if not items or following is None or following == cursor:
            return rows
        cursor = following


def fetch_experiment(api: str, experiment_id: str) -> dict[str, Any]:
    """A stored experiment as a results document (spec, runs with metric rows, provenance)."""
    base = f"/api/v1/experiments/{experiment_id}"
    with api_client(api) as client:
        detail = _get(client, base)
        runs = _get(client, f"{base}/runs")["items"]  # one page holds a submission's runs
        rows = _metric_rows(client, base)
    spec = detail.get("spec", detail)
    by_key = {(run["arm"], int(run["repeat"])): {**run, "metrics": []} for run in runs}
    for row in rows:
        run = by_key.setdefault(
            (row["arm"], int(row["repeat"])),
            {"arm": row["arm"], "repeat": int(row["repeat"]), "metrics": []},
        )
        run["metrics"].append(row)
    return {"spec": spec, "runs": list(by_key.values()), "provenance": detail.get("provenance")}


# --- the command ---


def report(
    experiment: Annotated[
        str, typer.Argument(metavar="EXPERIMENT_ID|RESULTS_DIR", help="stored id or run folder")
    ],
    fmt: Annotated[str, typer.Option("--format", help=" | ".join(FORMATS))] = "md",
    select: Annotated[
        str | None, typer.Option(help=f"one rule: {' | '.join(RULES)} (default: all)")
    ] = None,
    figures: Annotated[
        Path | None, typer.Option(help="folder for the figures (PNG and SVG)")
    ] = None,
    api: Annotated[
        str | None, typer.Option(help=f"API URL (env INITLAB_API_URL, default {DEFAULT_API})")
    ] = None,
    from_epoch: Annotated[int, typer.Option(min=0, help="first main-phase epoch drawn")] = 1,
    band: Annotated[str, typer.Option(help=" | ".join(FIGURE_BANDS))] = "iqr",
) -> None:
    """Print the experiment's tables (Tables I–V, paired statistics); optionally draw Figs. 2–5."""
    for value, valid, hint in ((fmt, FORMATS, "--format"), (band, FIGURE_BANDS, "--band")):
        if value not in valid:
            raise typer.BadParameter(
                f"{value!r}; valid choices: {', '.join(valid)}", param_hint=hint
            )
    if select is not None and select not in RULES:
        raise typer.BadParameter(
            f"{select!r}; valid choices: {', '.join(RULES)}", param_hint="--select"
        )
    local = Path(experiment)
    if local.exists():
        results = read_results(local)
    else:
        url = api or os.environ.get("INITLAB_API_URL") or DEFAULT_API
        results = fetch_experiment(url, experiment)
    spec, runs = results["spec"], results["runs"]
    text = render_report(spec, runs, fmt, select, results.get("provenance"))
    typer.echo(text, nl=False)
    if figures is not None:
        written = report_figures(spec, runs, figures, from_epoch=from_epoch, band=band)
        typer.echo(f"figures: {', '.join(str(p) for p in written)}", err=True)


def register(app: typer.Typer) -> None:
    app.command("report")(report)
