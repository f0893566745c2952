"""`initlab import`: take finished runs made elsewhere (the paper authors' array files) in."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from apiclient import ApiError, AuthFailed
from initlab.exits import USAGE, api_errors, fail
from initlab.options import ApiOption, api_client


def upload_document(results: dict[str, Any]) -> dict[str, Any]:
    """What POST /experiments/import takes (core.training.experiment.upload_document; loaded on use,
    as core pulls in torch)."""
    from core.training.experiment import upload_document as document

    return document(results)


def post_results(api: str | None, results: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Store a results document in the service: its URL and answer; one error line on refusal."""
    with api_client(api) as client:
        try:
            return client.url, client.import_results(upload_document(results))
        except ApiError as error:
            if isinstance(error, AuthFailed) or error.status >= 500:
                raise
            fail(f"the API refused the import ({error.status}): {'; '.join(error.lines)}", USAGE)


def _check_out(out: Path, results: dict[str, Any]) -> None:
    """Refuse to overwrite a folder that holds another experiment's results."""
    from core.results_file import read_results

    if not (out / "results.json").exists():
        return
    previous = read_results(out)
    same = previous.get("provenance", {}).get("sha256") == results["provenance"]["sha256"]
    if not same or previous["spec"] != results["spec"]:
        fail(f"{out / 'results.json'} holds other results; choose another --out folder", USAGE)


@api_errors
def import_command(
    file: Annotated[Path, typer.Argument(metavar="FILE.npz", help="the authors' array file")],
    preset: Annotated[str, typer.Option(help="the preset the file's runs followed")],
    out: Annotated[
        Path | None, typer.Option(help="write results.json and summaries here (no service)")
    ] = None,
    api: ApiOption = None,
    source: Annotated[
        str | None, typer.Option(help="where the file comes from (default: the authors' repo)")
    ] = None,
    licence: Annotated[
        str | None, typer.Option(help="the file's licence (default: the authors', CC BY-NC 4.0)")
    ] = None,
) -> None:
    """Import an array file of finished runs (runs × arms × epochs) as a finished experiment."""
    from core.paper.authors_import import import_authors_file
    from core.training.experiment import write_results

    if file.suffix != ".npz":
        fail(f"{file}: expected an .npz array file in the paper authors' layout", USAGE)
    given = {"source": source, "licence": licence}
    results = import_authors_file(file, preset, **{k: v for k, v in given.items() if v})
    n_runs = len(results["runs"])
    if out is not None:
        _check_out(out, results)
        write_results(out, results)
        typer.echo(f"{n_runs} imported runs -> {out / 'results.json'}")
        return
    url, answer = post_results(api, results)
    typer.echo(f"{n_runs} imported runs -> experiment {answer['id']} at {url}")


def register(app: typer.Typer) -> None:
    app.command("import")(import_command)
