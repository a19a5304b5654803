"""``X-Request-ID`` on every response: the client's own (if sane) or a fresh one."""

from __future__ import annotations

import os

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = b"x-request-id"
_MAX_LENGTH = 128


def _client_id(scope: Scope) -> bytes | None:
    value: bytes
    for name, value in scope["headers"]:
        if name == HEADER:
            if (
                0 < len(value) <= _MAX_LENGTH
                and value.isascii()
                and value.decode("ascii").isprintable()
            ):
                return value
            return None
    return None


class RequestIdMiddleware:
    """Pure ASGI: one header added to ``http.response.start``, nothing else touched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _client_id(scope) or os.urandom(12).hex().encode()
        scope.setdefault("state", {})["request_id"] = request_id.decode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (HEADER, request_id)]
            await send(message)

        await self.app(scope, receive, send_with_id)
