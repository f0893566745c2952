"""/auth (sign in and out, who am I, personal tokens) and /users (accounts, admins only)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from api.deps import AdminOnly, Authorized, CurrentPrincipal, DatabaseDep, Principal, SettingsDep
from api.throttle import LoginThrottle
from store import accounts
from store.accounts import AccountError, Role
from store.config import Settings
from store.models import ApiToken, User

router = APIRouter(prefix="/auth", tags=["auth"])
users_router = APIRouter(prefix="/users", tags=["users"], dependencies=[Authorized, AdminOnly])

AuthMode = Literal["accounts", "token", "none"]
TokenId = Annotated[int, Path(ge=1, le=2**31 - 1, description="a token's id")]
UserName = Annotated[str, Path(max_length=64, description="a user's name")]


class AuthInfo(BaseModel):
    """How this API authenticates: what a client's sign-in form must ask for."""

    mode: AuthMode


class Login(BaseModel):
    name: str = Field(max_length=64)
    password: str = Field(max_length=1024)


class Me(BaseModel):
    """The caller: a user, or (name null) the shared token's or an open API's admin."""

    name: str | None
    role: Role
    mode: AuthMode


class LoginResponse(BaseModel):
    """A session token for `Authorization: Bearer`; POST /auth/logout ends it."""

    token: str
    expires: datetime
    user: Me


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="what the token is for")
    expires_days: float | None = Field(None, gt=0, le=3650, description="none: never expires")


class TokenPublic(BaseModel):
    """A personal token as listed: never its secret, only its first characters."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str
    created: datetime
    expires: datetime | None
    revoked: datetime | None


class TokenCreated(TokenPublic):
    token: str = Field(description="the secret; shown this once, stored only hashed")


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    role: Role
    disabled: bool
    created: datetime


class UserCreate(BaseModel):
    name: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    role: Role = "member"


class UserUpdate(BaseModel):
    role: Role | None = None
    disabled: bool | None = None


def _accounts_only(settings: Settings) -> None:
    if settings.auth_mode != "accounts":
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"accounts are off (INITLAB_AUTH={settings.auth_mode}); set INITLAB_AUTH=accounts",
        )


def _invalid(error: AccountError) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [str(error)])


@router.get("/mode", response_model=AuthInfo)
def auth_mode(settings: SettingsDep) -> AuthInfo:
    """How to sign in here (open to anyone: the answer is no secret)."""
    return AuthInfo(mode=settings.auth_mode)


def _throttled(seconds: int) -> HTTPException:
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        f"too many failed sign-ins; try again in {seconds} s",
        headers={"Retry-After": str(seconds)},
    )


@router.post(
    "/login",
    response_model=LoginResponse,
    responses={429: {"description": "too many failed sign-ins; see Retry-After"}},
)
def login(body: Login, request: Request, db: DatabaseDep, settings: SettingsDep) -> LoginResponse:
    """Check a name and password; a session token that lasts INITLAB_SESSION_HOURS."""
    _accounts_only(settings)
    throttle: LoginThrottle = request.app.state.login_throttle
    key = (body.name.lower(), request.client.host if request.client else "")
    wait = throttle.retry_after(key)
    if wait is not None:
        raise _throttled(wait)
    with db.transaction() as session:
        user = accounts.check_password(session, name=body.name, password=body.password)
        if user is None:
            left = throttle.failed(key)
            wait = throttle.retry_after(key)
            if wait is not None:
                raise _throttled(wait)
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                f"wrong user name or password ({left} more failed sign-in(s) and this name"
                f" waits {settings.login_lockout:.0f} s)",
            )
        lifetime = timedelta(hours=settings.session_hours)
        token, secret = accounts.new_token(
            session, user=user, name="login", kind="session", lifetime=lifetime
        )
        me = Me(name=user.name, role=accounts.check_role(user.role), mode="accounts")
    throttle.succeeded(key)
    assert token.expires is not None
    return LoginResponse(token=secret, expires=token.expires, user=me)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(principal: CurrentPrincipal, db: DatabaseDep) -> Response:
    """End the session (or revoke the token) this request came with."""
    if principal.token_id is not None:
        with db.transaction() as session:
            token = session.get(ApiToken, principal.token_id)
            if token is not None:
                accounts.revoke_token(session, user=token.user, token_id=token.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", response_model=Me)
def me(principal: CurrentPrincipal, settings: SettingsDep) -> Me:
    """Who the credentials of this request belong to, and their role."""
    return Me(name=principal.name, role=principal.role, mode=settings.auth_mode)


def _user_name(principal: Principal, settings: Settings) -> str:
    _accounts_only(settings)
    assert principal.name is not None  # accounts mode: every principal is a user
    return principal.name


@router.post("/tokens", status_code=status.HTTP_201_CREATED, response_model=TokenCreated)
def create_token(
    body: TokenCreate, principal: CurrentPrincipal, db: DatabaseDep, settings: SettingsDep
) -> TokenCreated:
    """A personal token for scripts and the CLI; its secret is in this response only."""
    name = _user_name(principal, settings)
    lifetime = timedelta(days=body.expires_days) if body.expires_days else None
    with db.transaction() as session:
        user = accounts.require_user(session, name)
        token, secret = accounts.new_token(session, user=user, name=body.name, lifetime=lifetime)
        return TokenCreated(**TokenPublic.model_validate(token).model_dump(), token=secret)


@router.get("/tokens", response_model=list[TokenPublic])
def list_tokens(
    principal: CurrentPrincipal, db: DatabaseDep, settings: SettingsDep
) -> list[ApiToken]:
    """The caller's personal tokens, newest first, revoked and expired ones included."""
    name = _user_name(principal, settings)
    with db.session() as session:
        return accounts.list_tokens(session, user=accounts.require_user(session, name))


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_token(
    token_id: TokenId, principal: CurrentPrincipal, db: DatabaseDep, settings: SettingsDep
) -> Response:
    """Revoke one of the caller's tokens; it stops working at once."""
    name = _user_name(principal, settings)
    with db.transaction() as session:
        try:
            accounts.revoke_token(session, user=accounts.require_user(session, name),
                                  token_id=token_id)
        except AccountError as error:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@users_router.get("", response_model=list[UserPublic])
def list_users(db: DatabaseDep, settings: SettingsDep) -> list[User]:
    """Every account, by name."""
    _accounts_only(settings)
    with db.session() as session:
        return accounts.list_users(session)


@users_router.post("", status_code=status.HTTP_201_CREATED, response_model=UserPublic)
def create_user(body: UserCreate, db: DatabaseDep, settings: SettingsDep) -> User:
    """A new account (409 when the name is taken)."""
    _accounts_only(settings)
    with db.transaction() as session:
        if accounts.get_user(session, body.name) is not None:
            raise HTTPException(status.HTTP_409_CONFLICT, f"user {body.name!r} exists already")
        try:
            return accounts.add_user(
                session, name=body.name, password=body.password, role=body.role
            )
        except AccountError as error:
            raise _invalid(error) from None


@users_router.patch("/{name}", response_model=UserPublic)
def update_user(name: UserName, body: UserUpdate, db: DatabaseDep, settings: SettingsDep) -> User:
    """Change a user's role, or disable (enable) them: a disabled user's tokens stop at once."""
    _accounts_only(settings)
    with db.transaction() as session:
        try:
            user = accounts.require_user(session, name)
        except AccountError as error:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None
        if body.role is not None:
            user.role = body.role
        if body.disabled is not None:
            user.disabled = body.disabled
        return user
