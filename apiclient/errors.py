"""What can go wrong talking to the API, as three errors a caller can tell apart."""

from __future__ import annotations

import httpx


class Unreachable(RuntimeError):
    """The API did not answer (refused, unreachable or too slow); the message names its URL."""


class ApiError(RuntimeError):
    """The API answered with an error status; `lines` holds its detail, one item per line, and
    `detail` the body's `detail` as sent (a string, or structured `{loc, msg, type}` items)."""

    def __init__(self, status: int, lines: list[str], detail: object = None) -> None:
        super().__init__(f"HTTP {status}: " + "; ".join(lines))
        self.status = status
        self.lines = lines
        self.detail = detail

    @property
    def problems(self) -> list[dict[str, object]]:
        """A 422's `{loc, msg, type}` items as sent, for placing each beside its field."""
        items = self.detail if isinstance(self.detail, list) else []
        return [d for d in items if isinstance(d, dict)]


class AuthFailed(ApiError):
    """401 or 403: no token, a wrong one, or one without the right to do this."""


def _detail(response: httpx.Response) -> object:
    """The error body's `detail`, or its text where the body is not FastAPI's JSON."""
    try:
        return response.json().get("detail", response.text)
    except (ValueError, AttributeError):
        return response.text or response.reason_phrase


def detail_lines(detail: object) -> list[str]:
    """`detail` as lines: FastAPI's string, or one line per problem."""
    if isinstance(detail, list):
        return [_line(item) for item in detail]
    return [str(detail)]


def problem_path(problem: dict[str, object]) -> str:
    """A 422 item's field as a dotted path in the spec ("body" left out; "" for the body)."""
    loc = list(problem.get("loc") or [])  # type: ignore[call-overload]
    return ".".join(str(part) for part in (loc[1:] if loc[:1] == ["body"] else loc))


def _line(item: object) -> str:
    """'loc: msg' for a structured `{loc, msg, type}` item, the item itself for a string."""
    if not isinstance(item, dict):
        return str(item)
    loc, message = problem_path(item), str(item.get("msg", item))
    return f"{loc}: {message}" if loc else message


def raise_for(response: httpx.Response) -> None:
    """AuthFailed for 401/403, ApiError for any other 4xx/5xx, nothing for success."""
    if response.status_code < 400:
        return
    kind = AuthFailed if response.status_code in (401, 403) else ApiError
    detail = _detail(response)
    raise kind(response.status_code, detail_lines(detail), detail)
