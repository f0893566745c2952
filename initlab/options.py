"""Options several commands share, so each reads and documents them alike."""

from __future__ import annotations

from typing import Annotated

import typer

from apiclient import DEFAULT_URL, Client, Config

ApiOption = Annotated[
    str | None,
    typer.Option("--api", help=f"API base URL (env INITLAB_API_URL, default {DEFAULT_URL})"),
]
JsonOption = Annotated[bool, typer.Option("--json", help="print the API's JSON instead")]


def api_client(api: str | None) -> Client:
    """A client of the API named by --api, else INITLAB_API_URL; token from INITLAB_API_TOKEN."""
    return Client(Config.from_env(api))
