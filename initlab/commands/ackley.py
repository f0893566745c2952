"""`initlab ackley`: the paper's Fig. 1 demonstration on the Ackley function."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def ackley(
    trials: Annotated[int, typer.Option(min=1, max=100_000, help="random starts")] = 100,
    out: Annotated[
        Path | None, typer.Option("--out", help="folder for ackley.png and ackley.html")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="print the rates as JSON")] = False,
    seed: Annotated[int, typer.Option(min=0, help="seed of the random starts")] = 0,
    tolerance: Annotated[
        float | None,
        typer.Option(min=0, help="distance to (0,0) that counts as success (default 0.05)"),
    ] = None,
    method: Annotated[
        str | None, typer.Option(help="scipy method (default trust-constr; a wrong one lists all)")
    ] = None,
) -> None:
    """Descend Ackley from random starts vs from the 64-point simplified function's minimum."""
    from core.paper.ackley import METHODS, TOLERANCE, plot_html, plot_png, run_ackley

    method = method or METHODS[0]
    tolerance = TOLERANCE if tolerance is None else tolerance
    if method not in METHODS:
        raise typer.BadParameter(
            f"{method!r}; valid choices: {', '.join(METHODS)}", param_hint="--method"
        )
    result = run_ackley(trials, seed=seed, tolerance=tolerance, method=method)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        plot_png(result, out / "ackley.png")
        plot_html(result, out / "ackley.html")
    if json_output:
        typer.echo(json.dumps(result.to_json()))
        return
    typer.echo(
        f"Ackley on [-1.5, 1.5]², {trials} random starts, {method}, success = within "
        f"{tolerance} of (0, 0):\n"
        f"  random start: {100 * result.random_start_success:.1f}%\n"
        f"  smart start (from the 64-point simplified function's minimum): "
        f"{100 * result.smart_start_success:.1f}%"
    )
    if out is not None:
        typer.echo(f"plots: {out / 'ackley.png'}, {out / 'ackley.html'}")


def register(app: typer.Typer) -> None:
    app.command("ackley")(ackley)
