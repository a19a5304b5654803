"""Reading upstream failures into the gateway's ``UpstreamError`` classes.

What every adapter's ``classify_error`` shares: retry hints from headers, the
OpenAI error body (which several providers also send), a tolerant JSON read,
and the two errors built the same way everywhere (a 429 and a passed-on status).
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from proxyapi.errors import UpstreamRateLimited, UpstreamStatusError
from proxyapi.providers.base import JSONObject

# Statuses whose Retry-After is kept on the error: 503 (RFC 9110, "Retry-After")
# and Anthropic's 529 overloaded_error, which sends it the same way.
_RETRY_AFTER_STATUSES = frozenset({503, 529})


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait: ``retry-after-ms`` (OpenAI), ``Retry-After`` (RFC 9110, seconds
    or an HTTP-date), else the providers' rate-limit reset headers.
    """
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
            return _seconds_until(_http_date(seconds))
    return parse_reset_headers(headers)


# OpenAI: "x-ratelimit-reset-requests: 1s", "6m0s", "20ms" (its rate-limits guide).
_OPENAI_RESETS = ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens")
# Anthropic: RFC 3339 times (its "Rate limits" page, response headers).
_ANTHROPIC_RESETS = (
    "anthropic-ratelimit-requests-reset",
    "anthropic-ratelimit-tokens-reset",
    "anthropic-ratelimit-input-tokens-reset",
    "anthropic-ratelimit-output-tokens-reset",
)
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_reset_headers(headers: Mapping[str, str]) -> float | None:
    """The longest wait any provider reset header asks for, or None without one."""
    waits = [_duration(headers[name]) for name in _OPENAI_RESETS if headers.get(name)]
    waits += [
        _seconds_until(_rfc3339(headers[name])) for name in _ANTHROPIC_RESETS if headers.get(name)
    ]
    known = [w for w in waits if w is not None]
    return max(known) if known else None


def _duration(text: str) -> float | None:
    parts = _DURATION_PART.findall(text.strip())
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        return None
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def _http_date(text: str) -> datetime | None:
    try:
        return email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None


def _rfc3339(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _seconds_until(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


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
