"""`initlab report`: Tables I–V with paired statistics, and Figs. 2–5, for one experiment."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from apiclient import Client
from initlab.csv_tables import TABLES, csv_table
from initlab.exits import api_errors
from initlab.options import ApiOption, api_client

PAGE = 5000  # metric rows per request


def fetch_experiment(client: Client, experiment_id: int) -> dict[str, Any]:
    """A stored experiment as a results document (spec, runs with metric rows, provenance)."""
    detail = client.experiment(experiment_id)
    runs = client.runs(experiment_id)
    rows = client.all_metrics(experiment_id, page=PAGE)
    spec = detail.get("spec", detail)
    by_key = {(run["arm"], int(run["repeat"])): {**run, "metrics": []} for run in runs}
    for row in rows:
        run = by_key.setdefault(
            (row["arm"], int(row["repeat"])),
            {"arm": row["arm"], "repeat": int(row["repeat"]), "metrics": []},
        )
        run["metrics"].append(row)
    return {"spec": spec, "runs": list(by_key.values()), "provenance": detail.get("provenance")}


def _check_choice(value: str | None, valid: tuple[str, ...], hint: str) -> None:
    if value is not None and value not in valid:
        raise typer.BadParameter(f"{value!r}; valid choices: {', '.join(valid)}", param_hint=hint)


def _results(experiment: str, api: str | None) -> dict[str, Any]:
    """The results document of a run folder, or of a stored experiment fetched from the API."""
    local = Path(experiment)
    if local.exists():
        from core.results_file import read_results

        return read_results(local)
    if not experiment.isdigit():
        raise typer.BadParameter(
            f"{experiment!r} is neither a folder nor an experiment id", param_hint="EXPERIMENT"
        )
    with api_client(api) as client:
        return fetch_experiment(client, int(experiment))


def _search_section(target: str, api: str | None) -> str:
    """Print the search's section; returns its confirmation experiment's id to report on."""
    from initlab.commands.search import search_markdown

    number = target.removeprefix("search:")
    if not number.isdigit():
        raise typer.BadParameter(f"{target!r}: give search:ID", param_hint="EXPERIMENT")
    with api_client(api) as client:
        found = client.search(int(number))
    typer.echo(search_markdown(found), nl=False)
    if found["confirm_experiment_id"] is None:
        raise typer.Exit(0)
    return str(found["confirm_experiment_id"])


# The choices are core.reports.report.FORMATS, core.stats.summary.RULES and
# core.reports.figures.FIGURE_BANDS; the
# command checks against those (help stays fast: they live beside matplotlib and scipy).
@api_errors
def report(
    experiment: Annotated[
        str, typer.Argument(metavar="EXPERIMENT_ID|RESULTS_DIR", help="stored id or run folder")
    ],
    fmt: Annotated[str, typer.Option("--format", help="md | csv | latex")] = "md",
    select: Annotated[
        str | None, typer.Option(help="one rule: val_loss | final | paper (default: all)")
    ] = None,
    figures: Annotated[
        Path | None, typer.Option(help="folder for the figures (PNG and SVG)")
    ] = None,
    api: ApiOption = None,
    from_epoch: Annotated[int, typer.Option(min=0, help="first main-phase epoch drawn")] = 1,
    band: Annotated[str, typer.Option(help="iqr | minmax | p10p90")] = "iqr",
    table: Annotated[
        str,
        typer.Option(help="with --format csv: all (Tables I-V and paired) | tables | paired | "
                     "preprocessing"),
    ] = "all",
) -> None:
    """Print the experiment's tables (Tables I–V, paired statistics); optionally draw Figs. 2–5.
    `search:ID`: a calibration search's section, then its confirmation's tables."""
    if experiment.startswith("search:"):
        experiment = _search_section(experiment, api)
    results = _results(experiment, api)  # first: an unreachable API fails before core loads
    from core.reports.figures import FIGURE_BANDS
    from core.reports.report import FORMATS, render_report, report_figures
    from core.stats.summary import RULES

    _check_choice(fmt, FORMATS, "--format")
    _check_choice(band, FIGURE_BANDS, "--band")
    _check_choice(select, RULES, "--select")
    _check_choice(table, TABLES, "--table")
    if table != "all" and fmt != "csv":
        raise typer.BadParameter("only with --format csv", param_hint="--table")
    spec, runs = results["spec"], results["runs"]
    if table == "all":
        text = render_report(spec, runs, fmt, select, results.get("provenance"))
    else:
        text = csv_table(spec, runs, table, select)
    typer.echo(text, nl=False)
    if figures is not None:
        written = report_figures(spec, runs, figures, from_epoch=from_epoch, band=band)
        typer.echo(f"figures: {', '.join(str(p) for p in written)}", err=True)


def register(app: typer.Typer) -> None:
    app.command("report")(report)
