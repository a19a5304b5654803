"""Plain-ASGI reading and writing for the hot routes.

``POST /v1/chat/completions`` and ``/v1/embeddings`` skip Starlette's router,
request and response objects: they are most of what a request costs besides
the upstream call itself (measured with bench/, see the README). Everything
else goes through Starlette as usual.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from starlette.types import Receive, Scope, Send

from proxyapi.errors import ProxyError
from proxyapi.pipeline.body import too_large

REQUEST_ID = b"x-request-id"
GATEWAY = "proxyapi.gateway"  # the scope key of the Gateway a request is answered by
_MAX_REQUEST_ID = 128
JSON_HEADER = (b"content-type", b"application/json")


class ClientGone(Exception):
    """The client disconnected before its request body arrived: nobody to answer."""


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of header ``name`` (lower case), as raw bytes."""
    value: bytes
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


def request_id_of(scope: Scope) -> bytes:
    """The client's ``X-Request-ID`` when it is sane, else a fresh random one."""
    given = header(scope, REQUEST_ID)
    if given and len(given) <= _MAX_REQUEST_ID and given.isascii():
        text = given.decode("ascii")
        if text.isprintable():
            return given
    return os.urandom(12).hex().encode()


async def read_body(receive: Receive, max_size: int) -> bytes:
    """The whole body, refused with 413 as soon as it grows past ``max_size``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk: bytes = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > max_size:
                raise too_large(max_size)
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def send_json(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                JSON_HEADER,
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_error(
    send: Send, error: ProxyError, request_id: bytes, extra: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    headers = [(REQUEST_ID, request_id), *extra]
    headers.extend((k.lower().encode(), v.encode()) for k, v in error.headers().items())
    await send_json(send, error.http_status, error.to_json(), headers)
