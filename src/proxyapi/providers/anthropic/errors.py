"""Anthropic's error bodies and statuses, mapped to the gateway's ``UpstreamError`` classes.

Anthropic answers every failure as ``{"type": "error", "error": {"type", "message"},
"request_id"}`` (docs.claude.com/en/api/errors, "Error shapes") with these statuses:

```
400 invalid_request_error   the client's fault; "prompt is too long: N tokens > M maximum"
                            is the context-length error -> ContextLengthExceeded
401 authentication_error    our key                  -> UpstreamAuthError (next provider)
403 permission_error        our key's rights         -> UpstreamAuthError (next provider)
404 not_found_error         passed on, not retried
413 request_too_large       passed on, not retried (Cloudflare, before the API)
429 rate_limit_error        -> UpstreamRateLimited, honouring retry-after
500 api_error               retryable
529 overloaded_error        retryable: Anthropic is busy for everyone, another provider is not;
                            its retry-after is kept and sent on as Retry-After
```

The same body arrives mid-stream as an ``event: error`` SSE event
(docs "Streaming messages", "Error events"); ``openai_error`` renders it for the client.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from proxyapi.errors import ContextLengthExceeded, UpstreamAuthError, UpstreamError
from proxyapi.providers._errors import rate_limited, read_error, status_error
from proxyapi.providers._openai_shape import error_event

# Both wordings Anthropic uses when a request does not fit the context window:
# "prompt is too long: 219898 tokens > 200000 maximum" (seen in
# github.com/earendil-works/pi/issues/102) and "input length and `max_tokens`
# exceed context limit: 188240 + 21333 > 200000, decrease input length or
# `max_tokens` and try again".
_CONTEXT_MARKERS = ("prompt is too long", "exceed context limit")

# Anthropic error type -> (OpenAI error type, OpenAI error code).
_OPENAI_ERRORS: Mapping[str, tuple[str, str | None]] = {
    "invalid_request_error": ("invalid_request_error", None),
    "authentication_error": ("authentication_error", "invalid_api_key"),
    "permission_error": ("permission_error", "permission_denied"),
    "not_found_error": ("invalid_request_error", "not_found"),
    "request_too_large": ("invalid_request_error", "request_too_large"),
    "rate_limit_error": ("rate_limit_error", "rate_limit_exceeded"),
    "api_error": ("server_error", "api_error"),
    "overloaded_error": ("server_error", "overloaded_error"),
}


def openai_error(kind: str | None, status: int) -> tuple[str, str | None]:
    """The OpenAI (type, code) for an Anthropic error type, by status when it is unknown."""
    if kind is not None and kind in _OPENAI_ERRORS:
        return _OPENAI_ERRORS[kind]
    return ("server_error" if status >= 500 else "invalid_request_error"), kind


def is_context_error(message: str) -> bool:
    lowered = message.lower()
    return any(marker in lowered for marker in _CONTEXT_MARKERS)


def classify_error(
    status: int, headers: Mapping[str, str], body: bytes, provider: str
) -> UpstreamError:
    """An Anthropic error answer as the gateway's error class (which decides fallback)."""
    # Anthropic's error body has OpenAI's {"error": {"type", "message"}} shape.
    message, kind, _, _ = read_error(body)
    if status == 429:
        return rate_limited(message, headers, provider, code="rate_limit_exceeded")
    if status in (401, 403):
        return UpstreamAuthError(provider, status)
    if status in (400, 413) and is_context_error(message):
        return ContextLengthExceeded(
            message, provider=provider, upstream_status=status, param="messages"
        )
    error_type, code = openai_error(kind, status)
    # 500 api_error and 529 overloaded_error are >= 500, so retryable on the next provider;
    # a 529's retry-after is kept (status_error), for when every provider is busy.
    return status_error(message, headers, provider, status, code=code, error_type=error_type)


def stream_error_event(data: Any) -> bytes:
    """An Anthropic ``error`` stream event as the OpenAI error event that ends the stream."""
    error = data.get("error") if isinstance(data, dict) else None
    message = "The upstream stream failed."
    kind: str | None = None
    if isinstance(error, dict):
        message = str(error.get("message") or message)
        kind = error.get("type") if isinstance(error.get("type"), str) else None
    error_type, code = openai_error(kind, 500)
    return error_event(message, error_type, code)
