"""Accounts: users with a role and an argon2-hashed password, and their API tokens.

A token is shown once, when it is made; the store keeps only its SHA-256 (a random 256-bit
secret needs no slow hash) and a short prefix to find the row. Login sessions are tokens too
(kind "session", with an expiry), so signing out is revoking one.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta
from functools import cache
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import ApiToken, User, utcnow

Role = Literal["viewer", "member", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "member", "admin")  # each may do what the previous may
TokenKind = Literal["personal", "session"]
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MIN_PASSWORD = 8
TOKEN_MARK = "ilt_"  # says what a leaked string is (secret scanners key on such marks)
PREFIX_LENGTH = 12  # the mark and 8 random characters: shown in lists, indexed (api_token.prefix)

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


@cache
def _dummy_hash() -> str:
    """Verified when no such user exists, so a wrong name takes as long as a wrong password."""
    return _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """A bad name, role or password, or an unknown user or token: one line for the caller."""


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise AccountError(
            f"user name {name!r}: 1-64 characters, lower-case letters, digits, '.', '_' or '-',"
            " starting with a letter or digit"
        )
    return name


def check_role(role: str) -> Role:
    if role not in ROLES:
        raise AccountError(f"role {role!r}: choose one of {', '.join(ROLES)}")
    return role  # type: ignore[return-value]


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password: at least {MIN_PASSWORD} characters")
    return _hasher.hash(password)


def get_user(session: Session, name: str) -> User | None:
    return session.scalars(select(User).where(User.name == name)).one_or_none()


def require_user(session: Session, name: str) -> User:
    """The user called `name`, or AccountError naming it."""
    user = get_user(session, name)
    if user is None:
        raise AccountError(f"no user {name!r} (see `initlab users list`)")
    return user


def add_user(session: Session, *, name: str, password: str, role: str) -> User:
    """A new enabled user; AccountError when the name is taken or anything is invalid."""
    user = User(name=check_name(name), role=check_role(role), password_hash=hash_password(password))
    if get_user(session, name) is not None:
        raise AccountError(f"user {name!r} exists already")
    session.add(user)
    session.flush()
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.name)))


def set_role(session: Session, *, name: str, role: str) -> User:
    user = require_user(session, name)
    user.role = check_role(role)
    return user


def set_disabled(session: Session, *, name: str, disabled: bool) -> User:
    """Disable (or enable again) a user; a disabled user's tokens stop working at once."""
    user = require_user(session, name)
    user.disabled = disabled
    return user


def check_password(session: Session, *, name: str, password: str) -> User | None:
    """The enabled user whose password this is, or None (in the same time either way)."""
    user = get_user(session, name)
    try:
        _hasher.verify(user.password_hash if user else _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or user.disabled:
        return None
    if _hasher.check_needs_rehash(user.password_hash):  # parameters raised since it was set
        user.password_hash = _hasher.hash(password)
    return user


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token(
    session: Session,
    *,
    user: User,
    name: str,
    kind: TokenKind = "personal",
    lifetime: timedelta | None = None,
) -> tuple[ApiToken, str]:
    """A new token row and its secret, which is returned here once and never stored."""
    secret = TOKEN_MARK + secrets.token_urlsafe(32)
    now = utcnow()
    token = ApiToken(
        user_id=user.id, user=user, kind=kind, name=name[:100], prefix=secret[:PREFIX_LENGTH],
        token_hash=_digest(secret), created=now, expires=now + lifetime if lifetime else None,
    )
    session.add(token)
    session.flush()
    return token, secret


def find_token(session: Session, secret: str) -> ApiToken | None:
    """The live token whose secret this is, or None (unknown, revoked, expired, user disabled)."""
    if not secret.startswith(TOKEN_MARK):
        return None
    digest = _digest(secret)
    for token in session.scalars(
        select(ApiToken).where(ApiToken.prefix == secret[:PREFIX_LENGTH])
    ):
        if hmac.compare_digest(token.token_hash, digest):
            return token if token.is_live(utcnow()) else None
    return None


def list_tokens(session: Session, *, user: User) -> list[ApiToken]:
    """A user's personal tokens, newest first (login sessions are not listed)."""
    query = (
        select(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.kind == "personal")
        .order_by(ApiToken.id.desc())
    )
    return list(session.scalars(query))


def revoke_token(session: Session, *, user: User, token_id: int) -> ApiToken:
    """Revoke one of `user`'s tokens (revoking twice keeps the first time)."""
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise AccountError(f"user {user.name!r} has no token {token_id}")
    token.revoked = token.revoked or utcnow()
    return token
