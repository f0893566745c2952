"""`initlab presets [list|show NAME]`: the paper's protocols as ready-to-run specs."""

from __future__ import annotations

import textwrap
from typing import Annotated

import typer

from initlab.options import JsonOption, print_json

presets_app = typer.Typer(help="The paper's protocols as complete experiment specs.")


@presets_app.callback(invoke_without_command=True)
def presets(ctx: typer.Context) -> None:
    """List the presets (the same as `initlab presets list`)."""
    if ctx.invoked_subcommand is None:
        list_presets(as_json=False)


@presets_app.command("list")
def list_presets(as_json: JsonOption = False) -> None:
    """Each preset's name and what it reproduces."""
    from core.paper.presets import PRESETS, preset_summary

    if as_json:
        print_json([{"name": name, "summary": preset_summary(name)} for name in PRESETS])
        return
    width = max(len(name) for name in PRESETS)
    for name in PRESETS:
        typer.echo(f"{name:<{width}}  {preset_summary(name)}")


@presets_app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="preset name (see `initlab presets list`)")],
) -> None:
    """Print the preset as YAML to save, edit and `initlab run`; unset fields take defaults."""
    import yaml

    from core.paper.presets import differences, get_preset, preset_summary

    spec = get_preset(name)
    # The fields the preset sets; a full dump would add knobs of other data sets (num_train …).
    data = spec.model_dump(mode="json", exclude_unset=True, exclude_none=True)
    typer.echo(f"# {preset_summary(name)}")
    notes = differences(name)
    if notes:
        typer.echo("# Where this preset still differs from the authors' code, and why:")
        for note in notes:
            typer.echo(textwrap.fill(note, 98, initial_indent="# - ", subsequent_indent="#   "))
    typer.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), nl=False)


def register(app: typer.Typer) -> None:
    app.add_typer(presets_app, name="presets")
