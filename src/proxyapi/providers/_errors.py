"""Reading upstream failures into the gateway's ``UpstreamError`` classes.

What every adapter's ``classify_error`` shares: retry hints from headers, the
OpenAI error body (which several providers also send), a tolerant JSON read,
and the two errors built the same way everywhere (a 429 and a passed-on status).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from proxyapi.errors import UpstreamRateLimited, UpstreamStatusError
from proxyapi.providers.base import JSONObject

# Statuses whose Retry-After is kept on the error: 503 (RFC 9110, "Retry-After")
# and Anthropic's 529 overloaded_error, which sends it the same way.
_RETRY_AFTER_STATUSES = frozenset({503, 529})


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` (OpenAI) or ``Retry-After`` (RFC 9110)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return float(millis) / 1000
        except ValueError:
            pass
    seconds = headers.get("retry-after")
    if seconds:
        try:
            return float(seconds)
        except ValueError:
            return None  # An HTTP-date; rare from LLM providers, not worth parsing.
    return None


def load_json(body: bytes) -> Any:
    """``body`` parsed, or None when it is empty or not JSON (error bodies often are not)."""
    try:
        return orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None


def read_error(body: bytes) -> tuple[str, str | None, str | None, str | None]:
    """(message, type, param, code) from an OpenAI-shaped error body, tolerating others."""
    parsed = load_json(body)
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(error, dict):
        message = error.get("message")
        return (
            str(message) if message else "Upstream error",
            _str_or_none(error.get("type")),
            _str_or_none(error.get("param")),
            _str_or_none(error.get("code")),
        )
    if isinstance(error, str):
        return error, None, None, None
    return body_excerpt(body), None, None, None


def body_excerpt(body: bytes) -> str:
    """The start of a body that has no message field, as the error's message."""
    return body[:200].decode("utf-8", "replace").strip() or "Upstream error"


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def rate_limited(
    message: str,
    headers: Mapping[str, str],
    provider: str,
    *,
    retry_after: float | None = None,
    code: str | None = None,
) -> UpstreamRateLimited:
    """A 429, waiting ``retry_after`` if the body said so, else what the headers say."""
    return UpstreamRateLimited(
        message,
        retry_after=retry_after or parse_retry_after(headers),
        provider=provider,
        upstream_status=429,
        code=code,
    )


def status_error(
    message: str,
    headers: Mapping[str, str],
    provider: str,
    status: int,
    *,
    code: str | None = None,
    param: str | None = None,
    error_type: str | None = None,
) -> UpstreamStatusError:
    """The upstream's status passed on; 5xx are ``server_error``, 4xx the client's fault."""
    return UpstreamStatusError(
        message,
        provider=provider,
        upstream_status=status,
        param=param,
        code=code,
        error_type=error_type or ("server_error" if status >= 500 else "invalid_request_error"),
        retry_after=parse_retry_after(headers) if status in _RETRY_AFTER_STATUSES else None,
    )


def load_object(body: bytes, provider: str, error_type: str | None = None) -> JSONObject:
    """A 2xx body as a JSON object; anything else is the upstream's failure (502)."""
    parsed = load_json(body)
    if not isinstance(parsed, dict):
        raise UpstreamStatusError(
            f"{provider.capitalize()} answered with a body that is not a JSON object.",
            provider=provider,
            upstream_status=502,
            error_type=error_type,
        )
    return parsed
