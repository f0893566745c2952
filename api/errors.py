"""Error bodies: `{"detail": str}` for most 4xx, `{"detail": [{loc, msg, type}]}` for every 422.

A 422 names each problem by where it is (`loc`, as FastAPI does: "body", "query", then the
field path), what is wrong (`msg`) and a machine-readable kind (`type`), so clients place errors
beside their field without parsing the message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import HTTPException, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

# A spec error line is "dotted.path: message" (core.spec.SpecError); anything else is about
# the body as a whole.
_SPEC_LINE = re.compile(r"^([A-Za-z_][\w-]*(?:\.[\w-]+)*): (.+)$", re.DOTALL)
SPEC_ERROR = "spec_invalid"


class ValidationItem(BaseModel):
    """One problem of an invalid request."""

    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorBody(BaseModel):
    """Every 422 body: one item per problem."""

    detail: list[ValidationItem]


class ErrorBody(BaseModel):
    """Every other 4xx body: what is wrong, in one line."""

    detail: str | list[str]


# Documented on every route, so a client (and schemathesis) can check error bodies too.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": model, "description": description}
    for code, model, description in (
        (401, ErrorBody, "missing, wrong, expired or revoked bearer token (INITLAB_AUTH)"),
        (403, ErrorBody, "the caller's role may not do this, or the object is another member's"),
        (404, ErrorBody, "no such object"),
        (409, ErrorBody, "the object's state forbids the request"),
        (413, ErrorBody, "request body over INITLAB_MAX_BODY_BYTES"),
        (415, ErrorBody, "body neither JSON nor YAML"),
        (422, ValidationErrorBody, "invalid request: one {loc, msg, type} per problem"),
    )
}


def item(loc: Sequence[str | int], msg: str, kind: str = "value_error") -> dict[str, Any]:
    """One 422 problem."""
    return {"loc": list(loc), "msg": msg, "type": kind}


def _part(name: str) -> str | int:
    return int(name) if name.isdigit() else name


def spec_items(lines: Iterable[str]) -> list[dict[str, Any]]:
    """SpecError lines as items located in the body: "training.lr: ..." -> body.training.lr."""
    items = []
    for line in lines:
        match = _SPEC_LINE.match(line)
        where: list[str | int] = ["body"]
        if match is None:
            msg = line
        else:
            msg = match.group(2)
            if match.group(1) not in ("body", "spec"):
                where += [_part(part) for part in match.group(1).split(".")]
        items.append(item(where, msg, SPEC_ERROR))
    return items


def invalid(items: list[dict[str, Any]]) -> HTTPException:
    """A 422 carrying `items`."""
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, items)


def _request_items(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """FastAPI's request errors, the bad value named in the message (never echoed in full)."""
    items = []
    for error in errors:
        msg = str(error.get("msg", "invalid"))
        if "input" in error and error.get("type") != "missing":
            msg += f" (got {repr(error['input'])[:200]})"
        items.append(item(error.get("loc", ()), msg, str(error.get("type", "value_error"))))
    return items


async def request_invalid(_request: Request, error: Exception) -> JSONResponse:
    """FastAPI's parameter and body errors in the one 422 shape."""
    assert isinstance(error, RequestValidationError)
    return JSONResponse({"detail": _request_items(error.errors())}, status_code=422)


async def http_error(request: Request, error: Exception) -> Response:
    """HTTPException as FastAPI sends it, except that a 422 given as lines becomes items."""
    assert isinstance(error, StarletteHTTPException)
    detail: Any = error.detail
    if error.status_code == 422 and isinstance(detail, str):
        detail = spec_items([detail])
    elif error.status_code == 422 and all(isinstance(line, str) for line in detail):
        detail = spec_items(detail)
    return await http_exception_handler(
        request, StarletteHTTPException(error.status_code, detail, error.headers)
    )
