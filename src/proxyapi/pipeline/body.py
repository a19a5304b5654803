"""A client's JSON body: media type, size limit and syntax, in that order.

Pure checks; the ASGI reading that applies them chunk by chunk lives in
``api/asgi.py``, so an oversized upload is refused after ``max_body_size``
bytes, never buffered whole.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson

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


def check_required_headers(present: Callable[[str], bool], required: Sequence[str]) -> None:
    """400 naming the first of ``validation.request.required_headers`` the request lacks."""
    for name in required:
        if not present(name):
            raise InvalidRequest(
                f"Missing required header: {name}.", param=name, code="missing_header"
            )


def too_large(max_size: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"Request body is larger than the limit of {max_size} bytes.")


def check_declared_length(content_length: str | None, max_size: int) -> None:
    """Refuse at once when the client announces more than the limit."""
    if content_length is not None and content_length.isdigit() and int(content_length) > max_size:
        raise too_large(max_size)


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
