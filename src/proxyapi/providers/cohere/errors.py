"""Cohere's failures as the gateway's ``UpstreamError`` classes.

Cohere's error bodies are ``{"id": ..., "message": ...}`` (API reference, "Errors");
a 200 answer can still report a failed generation with ``finish_reason`` ERROR or
TIMEOUT (``ChatFinishReason``), which ``failure`` turns into an error as well.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from proxyapi.errors import (
    ContextLengthExceeded,
    UpstreamAuthError,
    UpstreamError,
    UpstreamStatusError,
    UpstreamTimeout,
)
from proxyapi.providers._errors import load_json, rate_limited, read_error, status_error

# ChatFinishReason's failures; any other (future) reason reads as a normal stop.
FAILED = frozenset({"ERROR", "TIMEOUT"})
# Cohere's context-length 400 reads "too many tokens: size limit exceeded by N
# tokens. Try using shorter or fewer inputs. The limit for this model is M tokens."
_CONTEXT_MARKERS = ("size limit exceeded", "too many tokens: total number of tokens")


def failure(finish: Any, detail: Any, provider: str = "cohere") -> UpstreamError:
    """A 200 answer that says the generation failed (finish_reason ERROR or TIMEOUT)."""
    message = str(detail) if detail else f"Cohere ended the generation with {finish}."
    if finish == "TIMEOUT":
        return UpstreamTimeout(message, provider=provider)
    return UpstreamStatusError(
        message, provider=provider, upstream_status=502, error_type="server_error"
    )


def _message_of(body: bytes) -> str:
    """Cohere's errors are ``{"id": ..., "message": ...}``; others are read as OpenAI's."""
    parsed = load_json(body)
    if isinstance(parsed, dict) and isinstance(parsed.get("message"), str):
        return str(parsed["message"])
    return read_error(body)[0]


def classify(status: int, headers: Mapping[str, str], body: bytes, provider: str) -> UpstreamError:
    message = _message_of(body)
    if status == 429:
        return rate_limited(message, headers, provider)
    # 498 is Cohere's "invalid token" (the SDK's InvalidTokenError).
    if status in (401, 403, 498):
        return UpstreamAuthError(provider, status)
    lowered = message.lower()
    if status == 400 and any(marker in lowered for marker in _CONTEXT_MARKERS):
        return ContextLengthExceeded(
            message, provider=provider, upstream_status=status, param="messages"
        )
    code = "model_not_found" if status == 404 else None
    return status_error(message, headers, provider, status, code=code)
