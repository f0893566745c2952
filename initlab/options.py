"""Options several commands share, so each reads and documents them alike."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from apiclient import DEFAULT_URL, Client, Config

ApiOption = Annotated[
    str | None,
    typer.Option("--api", help=f"API base URL (env INITLAB_API_URL, default {DEFAULT_URL})"),
]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON instead, for scripts")]


def print_json(data: Any) -> None:
    """`data` as indented JSON on stdout (`--json`)."""
    typer.echo(json.dumps(data, indent=2))


def api_client(api: str | None) -> Client:
    """A client of the API named by --api, else INITLAB_API_URL; token from INITLAB_API_TOKEN."""
    return Client(Config.from_env(api))
