"""`initlab import`: take finished runs made elsewhere (the paper authors' array files) in."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from core.authors_import import AUTHORS_LICENCE, AUTHORS_SOURCE, import_authors_file
from core.experiment import write_results
from core.report import read_results
from initlab.commands.report import DEFAULT_API, api_client, fail

IMPORT_PATH = "/api/v1/experiments/import"


def upload_document(results: dict[str, Any]) -> dict[str, Any]:
    """What POST /experiments/import takes: spec, runs with metric rows, provenance.

    Per-rule selections and the summary are left out: the service recomputes them.
    """
    runs = [{k: v for k, v in run.items() if k != "selected"} for run in results["runs"]]
    return {"spec": results["spec"], "runs": runs, "provenance": results.get("provenance")}


def post_results(api: str, results: dict[str, Any]) -> dict[str, Any]:
    """Store a results document in the service; one error line on any refusal."""
    import httpx

    body = json.dumps(upload_document(results)).encode()
    with api_client(api) as client:
        try:
            response = client.post(
                IMPORT_PATH, content=body, headers={"Content-Type": "application/json"}
            )
        except httpx.HTTPError as error:
            raise fail(f"cannot reach the API at {client.base_url}: {error}") from None
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        lines = detail if isinstance(detail, list) else [detail]
        raise fail(f"the API refused the import ({response.status_code}): {'; '.join(lines)}")
    answer: dict[str, Any] = response.json()
    return answer


def _check_out(out: Path, results: dict[str, Any]) -> None:
    """Refuse to overwrite a folder that holds another experiment's results."""
    if not (out / "results.json").exists():
        return
    previous = read_results(out)
    same = previous.get("provenance", {}).get("sha256") == results["provenance"]["sha256"]
    if not same or previous["spec"] != results["spec"]:
        raise fail(f"{out / 'results.json'} holds other results; choose another --out folder")


def import_command(
    file: Annotated[Path, typer.Argument(metavar="FILE.npz", help="the authors' array file")],
    preset: Annotated[str, typer.Option(help="the preset the file's runs followed")],
    out: Annotated[
        Path | None, typer.Option(help="write results.json and summaries here (no service)")
    ] = None,
    api: Annotated[
        str | None, typer.Option(help=f"API URL (env INITLAB_API_URL, default {DEFAULT_API})")
    ] = None,
    source: Annotated[str, typer.Option(help="where the file comes from")] = AUTHORS_SOURCE,
    licence: Annotated[str, typer.Option(help="the file's licence")] = AUTHORS_LICENCE,
) -> None:
    """Import an array file of finished runs (runs × arms × epochs) as a finished experiment."""
    if file.suffix != ".npz":
        raise fail(f"{file}: expected an .npz array file in the paper authors' layout")
    results = import_authors_file(file, preset, source=source, licence=licence)
    n_runs = len(results["runs"])
    if out is not None:
        _check_out(out, results)
        write_results(out, results)
        typer.echo(f"{n_runs} imported runs -> {out / 'results.json'}")
        return
    url = api or os.environ.get("INITLAB_API_URL") or DEFAULT_API
    answer = post_results(url, results)
    typer.echo(f"{n_runs} imported runs -> experiment {answer['id']} at {url}")


def register(app: typer.Typer) -> None:
    app.command("import")(import_command)
