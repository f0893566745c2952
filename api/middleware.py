"""ASGI middleware: refuse request bodies over INITLAB_MAX_BODY_BYTES with 413."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class _TooLarge(Exception):
    pass


class BodySizeLimit:
    """413 for a body over `max_bytes`, by Content-Length up front or while it streams in."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def _refuse(self, send: Send, size: str) -> None:
        detail = (
            f"request body {size} exceeds the limit of {self.max_bytes} bytes "
            "(INITLAB_MAX_BODY_BYTES)"
        )
        body = json.dumps({"detail": detail}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length", b"").decode() or None
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._refuse(send, f"of {length} bytes")
            return
        received, started = 0, False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(send, f"of more than {self.max_bytes} bytes")


def validation_lines(errors: list[dict[str, Any]]) -> list[str]:
    """FastAPI's request validation errors as 'where: what (got value)' lines."""
    lines = []
    for item in errors:
        loc = ".".join(str(part) for part in item.get("loc", ())) or "request"
        line = f"{loc}: {item.get('msg', 'invalid')}"
        if "input" in item and item.get("type") != "missing":
            line += f" (got {item['input']!r})"
        lines.append(line)
    return lines
