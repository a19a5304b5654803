"""Reading a client's JSON body: media type, size limit and syntax, in that order.

The size limit is enforced while the body streams in, so an oversized upload is
refused after ``max_body_size`` bytes, never buffered whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from starlette.requests import Request

from proxyapi.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType


def check_media_type(content_type: str | None, allowed: Sequence[str]) -> None:
    """415 unless the body is declared as JSON (a missing Content-Type is taken as JSON)."""
    if not content_type:
        return
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type == "application/json" or media_type.endswith("+json"):
        if media_type in allowed or "application/json" in allowed:
            return
    raise UnsupportedMediaType(
        f"Unsupported Content-Type '{media_type}': send the body as application/json."
    )


async def read_body(request: Request, max_size: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_size:
        raise _too_large(max_size)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_size:
            raise _too_large(max_size)
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large(max_size: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"Request body is larger than the limit of {max_size} bytes.")


def parse_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, or a 400 saying what is wrong with it."""
    if not raw:
        raise InvalidRequest("Request body is empty: expected a JSON object.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"Request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidRequest("Request body must be a JSON object.")
    return body


async def read_json(request: Request, max_size: int, allowed: Sequence[str]) -> dict[str, Any]:
    check_media_type(request.headers.get("content-type"), allowed)
    return parse_object(await read_body(request, max_size))
