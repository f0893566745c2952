"""`initlab import`: take finished runs made elsewhere in: a results folder or results.json (an
`initlab run --out` made on a laptop or another cluster), or the paper authors' array files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from apiclient import ApiError, AuthFailed
from apiclient.documents import results_body
from initlab.exits import USAGE, api_errors, fail
from initlab.options import ApiOption, api_client


def upload_document(results: dict[str, Any]) -> dict[str, Any]:
    """What POST /experiments/import takes (core.training.experiment.upload_document; loaded on use,
    as core pulls in torch)."""
    from core.training.experiment import upload_document as document

    return document(results)


def post_results(api: str | None, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Store an import body in the service: its URL and answer; one error line on refusal."""
    with api_client(api) as client:
        try:
            return client.url, client.import_results(body)
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


def results_file(path: Path) -> Path:
    """The results.json of a run folder, or `path` itself; one usage line if there is none."""
    if path.is_dir():
        if not (path / "results.json").is_file():
            fail(f"{path} holds no results.json (the folder `initlab run --out DIR` writes)", USAGE)
        return path / "results.json"
    if not path.is_file():
        fail(f"{path}: no such file or folder", USAGE)
    return path


def import_results_file(path: Path, api: str | None) -> None:
    """Store a run folder's results.json through POST /experiments/import (the Submit page's)."""
    file = results_file(path)
    try:
        body = results_body(str(file), file.read_bytes())
    except ValueError as error:
        fail(str(error), USAGE)
    url, answer = post_results(api, body)
    typer.echo(f"{answer['runs']} imported runs -> experiment {answer['id']} at {url}")


def import_authors_npz(
    file: Path, preset: str, out: Path | None, api: str | None, given: dict[str, str | None]
) -> None:
    """Import an authors' array file of `preset`'s runs into the service, or into `out`."""
    from core.paper.authors_import import import_authors_file
    from core.training.experiment import write_results

    results = import_authors_file(file, preset, **{k: v for k, v in given.items() if v})
    n_runs = len(results["runs"])
    if out is not None:
        _check_out(out, results)
        write_results(out, results)
        typer.echo(f"{n_runs} imported runs -> {out / 'results.json'}")
        return
    url, answer = post_results(api, upload_document(results))
    typer.echo(f"{n_runs} imported runs -> experiment {answer['id']} at {url}")


NPZ_ONLY = ("--preset", "--out", "--source", "--licence")


@api_errors
def import_command(
    path: Annotated[
        Path,
        typer.Argument(metavar="PATH", help="a run folder, its results.json, or the authors' "
                       ".npz array file (with --preset)"),
    ],
    preset: Annotated[
        str | None, typer.Option(help="for an .npz: the preset the file's runs followed")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="for an .npz: write results.json and summaries here (no service)"),
    ] = None,
    api: ApiOption = None,
    source: Annotated[
        str | None, typer.Option(help="where the .npz comes from (default: the authors' repo)")
    ] = None,
    licence: Annotated[
        str | None, typer.Option(help="the .npz's licence (default: the authors', CC BY-NC 4.0)")
    ] = None,
) -> None:
    """Store finished runs made elsewhere as a finished, imported experiment."""
    if path.suffix == ".npz":
        if preset is None:
            fail(f"{path}: an .npz array file needs --preset NAME, the preset its runs followed "
                 "(`initlab presets list`)", USAGE)
        import_authors_npz(path, preset, out, api, {"source": source, "licence": licence})
        return
    given = [name for name, value in zip(NPZ_ONLY, (preset, out, source, licence), strict=True)
             if value is not None]
    if given:
        fail(f"{', '.join(given)}: only for an .npz array file; {path} is a results folder or "
             "results.json, which carries its own spec", USAGE)
    import_results_file(path, api)


def register(app: typer.Typer) -> None:
    app.command("import")(import_command)
