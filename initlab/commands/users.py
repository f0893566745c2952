"""`initlab users add|list|set-role|disable|enable` and `initlab token create|list|revoke`.

They work on the database itself (INITLAB_DATABASE_URL or --database-url), as the admin of the
machine the store lives on: that is how the first admin is made. Heavy modules are imported
inside the commands so `initlab --help` stays fast.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

users_app = typer.Typer(help="Accounts (INITLAB_AUTH=accounts): who may sign in, as what.",
                        no_args_is_help=True)
token_app = typer.Typer(help="Personal API tokens: shown once, stored hashed.",
                        no_args_is_help=True)


class RoleChoice(StrEnum):
    viewer = "viewer"
    member = "member"
    admin = "admin"


DatabaseUrl = Annotated[
    str | None, typer.Option("--database-url", help="default: INITLAB_DATABASE_URL")
]
AsJson = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]
UserOption = Annotated[str, typer.Option("--user", help="the token's owner")]


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"initlab: error: {message}", err=True)
    return typer.Exit(code)


@contextmanager
def _transaction(url: str | None) -> Iterator[Session]:
    """A write transaction on the store; its failures become one line, never a traceback."""
    from sqlalchemy.exc import SQLAlchemyError

    from store.accounts import AccountError
    from store.config import get_settings
    from store.db import get_database

    target = url or get_settings().database_url
    try:
        with get_database(target).transaction() as session:
            yield session
    except AccountError as error:
        raise _fail(str(error)) from None
    except SQLAlchemyError as error:
        where = target.split("@")[-1]
        reason = str(getattr(error, "orig", None) or error).splitlines()[0]
        raise _fail(f"database {where}: {reason} (is it reachable and at the newest revision? "
                    "`initlab db upgrade`)") from None


def _read_password(name: str) -> str:
    """From standard input when it is not a terminal (scripts), else asked for twice."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt(f"password for {name}", hide_input=True, confirmation_prompt=True))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return value.strftime("%Y-%m-%d %H:%M") if isinstance(value, datetime) else str(value)


def _print_rows(rows: list[dict[str, Any]], as_json: bool) -> None:
    """A table with a header line, or a JSON list (times in ISO 8601, UTC)."""
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=datetime.isoformat))
        return
    columns = list(rows[0]) if rows else []
    cells = [[_cell(row[c]) for c in columns] for row in rows]
    widths = [max([len(c), *(len(line[i]) for line in cells)]) for i, c in enumerate(columns)]
    for line in [[c.upper() for c in columns], *cells]:
        typer.echo("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())


@users_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="lower-case letters, digits, . _ -")],
    role: Annotated[RoleChoice, typer.Option(help="what the user may do")] = RoleChoice.member,
    database_url: DatabaseUrl = None,
) -> None:
    """Add a user; the password comes from standard input when it is not a terminal."""
    from store import accounts

    password = _read_password(name)
    with _transaction(database_url) as session:
        accounts.add_user(session, name=name, password=password, role=role.value)
    typer.echo(f"user {name} added ({role.value})")


@users_app.command("list")
def list_users(database_url: DatabaseUrl = None, as_json: AsJson = False) -> None:
    """Every user with their role and whether they are disabled."""
    from store import accounts

    with _transaction(database_url) as session:
        rows = [
            {"name": u.name, "role": u.role, "disabled": u.disabled, "created": u.created}
            for u in accounts.list_users(session)
        ]
    _print_rows(rows, as_json)


@users_app.command("set-role")
def set_role(
    name: Annotated[str, typer.Argument(help="the user")],
    role: Annotated[RoleChoice, typer.Argument(help="viewer, member or admin")],
    database_url: DatabaseUrl = None,
) -> None:
    """Change what a user may do; it applies to their next request."""
    from store import accounts

    with _transaction(database_url) as session:
        accounts.set_role(session, name=name, role=role.value)
    typer.echo(f"user {name} is now {role.value}")


@users_app.command("disable")
def disable(
    name: Annotated[str, typer.Argument(help="the user")],
    database_url: DatabaseUrl = None,
) -> None:
    """Stop a user signing in; their sessions and tokens stop working at once (nothing deleted)."""
    from store import accounts

    with _transaction(database_url) as session:
        accounts.set_disabled(session, name=name, disabled=True)
    typer.echo(f"user {name} disabled")


@users_app.command("enable")
def enable(
    name: Annotated[str, typer.Argument(help="the user")],
    database_url: DatabaseUrl = None,
) -> None:
    """Let a disabled user sign in again (their unexpired, unrevoked tokens work again)."""
    from store import accounts

    with _transaction(database_url) as session:
        accounts.set_disabled(session, name=name, disabled=False)
    typer.echo(f"user {name} enabled")


@token_app.command("create")
def create_token(
    user: UserOption,
    name: Annotated[str, typer.Option(help="what the token is for")] = "cli",
    expires_days: Annotated[
        float | None, typer.Option(min=0.001, help="lifetime in days (default: no expiry)")
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Make a personal token for USER; the token alone is the last line (shown only now)."""
    from datetime import timedelta

    from store import accounts

    lifetime = timedelta(days=expires_days) if expires_days else None
    with _transaction(database_url) as session:
        owner = accounts.require_user(session, user)
        token, secret = accounts.new_token(session, user=owner, name=name, lifetime=lifetime)
    expiry = f"expires {token.expires:%Y-%m-%d %H:%M} UTC" if token.expires else "no expiry"
    typer.echo(f"token {token.id} ({name}) for {user}, {expiry}; it is shown only once:", err=True)
    typer.echo(secret)


@token_app.command("list")
def list_tokens(
    user: UserOption, database_url: DatabaseUrl = None, as_json: AsJson = False
) -> None:
    """USER's personal tokens: id, name, first characters, expiry, revoked (never the secret)."""
    from store import accounts

    with _transaction(database_url) as session:
        owner = accounts.require_user(session, user)
        rows = [
            {"id": t.id, "name": t.name, "prefix": t.prefix, "created": t.created,
             "expires": t.expires, "revoked": t.revoked}
            for t in accounts.list_tokens(session, user=owner)
        ]
    _print_rows(rows, as_json)


@token_app.command("revoke")
def revoke_token(
    token_id: Annotated[int, typer.Argument(help="the id `initlab token list` shows")],
    user: UserOption,
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke one of USER's tokens; it stops working at once."""
    from store import accounts

    with _transaction(database_url) as session:
        owner = accounts.require_user(session, user)
        accounts.revoke_token(session, user=owner, token_id=token_id)
    typer.echo(f"token {token_id} of {user} revoked")


def register(app: typer.Typer) -> None:
    """Add `users` and `token` to the `initlab` CLI."""
    app.add_typer(users_app, name="users")
    app.add_typer(token_app, name="token")
