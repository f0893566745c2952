"""The CLI's exit codes (documented in `initlab --help`) and its one-line error exits."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import typer

from apiclient import ApiError, AuthFailed, Unreachable

OK, FAILED, USAGE, UNREACHABLE = 0, 1, 2, 3
INTERRUPTED = 130  # the shells' code for a process stopped by Ctrl-C (128 + SIGINT)
EPILOG = (
    "Exit codes: 0 ok; 1 the operation failed; 2 bad usage or an invalid spec; "
    "3 a server (the API; the database for db upgrade) is unreachable or refused the "
    "credentials; 130 interrupted (Ctrl-C)."
)
# API statuses that mean the request itself was wrong: a bad spec, value or id.
USAGE_STATUSES = frozenset({400, 404, 413, 415, 422})

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = FAILED) -> NoReturn:
    """Print `initlab: error: MESSAGE` on stderr and exit with `code` (inside a command or not)."""
    typer.echo(f"initlab: error: {message}", err=True)
    sys.exit(code)


def api_exit(error: Exception) -> NoReturn:
    """One line per problem the API named, and the exit code its kind of failure has."""
    if isinstance(error, Unreachable):
        fail(str(error), UNREACHABLE)
    assert isinstance(error, ApiError)
    if isinstance(error, AuthFailed):
        fail(f"the API refused the credentials ({error.status}): {'; '.join(error.lines)}; "
             "set INITLAB_API_TOKEN", UNREACHABLE)
    for line in error.lines[:-1]:
        typer.echo(f"initlab: error: {line}", err=True)
    code = USAGE if error.status in USAGE_STATUSES else FAILED
    fail(f"{error.lines[-1] if error.lines else ''} (HTTP {error.status})", code)


def api_errors(command: F) -> F:
    """Turn the API client's errors raised by `command` into one-line exits 1, 2 or 3."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (Unreachable, ApiError) as error:
            api_exit(error)

    return wrapper  # type: ignore[return-value]
