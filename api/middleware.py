"""ASGI middleware: refuse request bodies over INITLAB_MAX_BODY_BYTES (or a path's own) with 413."""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class _TooLarge(Exception):
    pass


class BodySizeLimit:
    """413 for a body over the limit, by Content-Length up front or while it streams in.

    `paths` gives some paths a limit of their own: path -> (bytes, the setting that sets it).
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, paths: Mapping[str, tuple[int, str]] | None = None
    ) -> None:
        self.app, self.max_bytes, self.paths = app, max_bytes, dict(paths or {})

    async def _refuse(self, send: Send, size: str, limit: int, setting: str) -> None:
        detail = f"request body {size} exceeds the limit of {limit} bytes ({setting})"
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
        limit, setting = self.paths.get(
            scope.get("path", ""), (self.max_bytes, "INITLAB_MAX_BODY_BYTES")
        )
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length", b"").decode() or None
        if length is not None and length.isdigit() and int(length) > limit:
            await self._refuse(send, f"of {length} bytes", limit, setting)
            return
        received, started = 0, False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
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
                await self._refuse(send, f"of more than {limit} bytes", limit, setting)
