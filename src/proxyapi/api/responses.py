"""Responses the routes send: JSON bytes as they are, SSE streams, OpenAI-shaped errors."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from proxyapi.errors import ProxyError

JSON_TYPE = "application/json"


def json_bytes(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A response from bytes that are already JSON: no re-encoding on the way out."""
    return Response(body, status_code=status, headers=headers, media_type=JSON_TYPE)


def error_response(error: ProxyError) -> Response:
    return Response(
        error.to_json(),
        status_code=error.http_status,
        headers=error.headers() or None,
        media_type=JSON_TYPE,
    )


_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


class SSEResponse:
    """Streams OpenAI SSE bytes; stops reading upstream as soon as the client leaves.

    A plain ASGI response rather than Starlette's StreamingResponse: the first
    chunk is already in hand (the stream is committed), and each upstream read
    becomes exactly one write.
    """

    def __init__(
        self, first: bytes, rest: AsyncIterator[bytes], headers: list[tuple[bytes, bytes]]
    ) -> None:
        self.first = first
        self.rest = rest
        self.headers = [*_SSE_HEADERS, *headers]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        pump = asyncio.ensure_future(self._pump(send))
        watcher = asyncio.ensure_future(_wait_disconnect(receive))
        try:
            await asyncio.wait((pump, watcher), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (watcher, pump):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            aclose = getattr(self.rest, "aclose", None)
            if aclose is not None:
                await aclose()
        if pump.done() and not pump.cancelled():
            pump.result()  # Re-raise a failure of our own; never swallow it.

    async def _pump(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.first, "more_body": True})
        async for part in self.rest:
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _wait_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
