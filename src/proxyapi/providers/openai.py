"""The OpenAI wire format, shared by the OpenAI-compatible family.

openai, perplexity, grok, openrouter, blackbox and openai_compatible (vLLM,
Ollama, llama.cpp, ...) all speak it, so the gateway passes their bytes through
untouched: no parse, no re-encode, on the way back. Only errors are read, to be
classified for fallback and re-shaped without the provider's key or URL.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from proxyapi.errors import (
    ContextLengthExceeded,
    UpstreamAuthError,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamStatusError,
)
from proxyapi.providers.base import Deployment, JSONObject, UpstreamRequest
from proxyapi.transport.sse import DONE, DONE_EVENT, SSEEvent, encode_data

_CONTEXT_MARKERS = ("context_length_exceeded", "maximum context length", "context window")


def build_headers(deployment: Deployment) -> dict[str, str]:
    """Bearer auth plus the provider's own configured headers."""
    headers = {"Content-Type": "application/json", **deployment.headers}
    if deployment.api_key:
        headers["Authorization"] = f"Bearer {deployment.api_key}"
    return headers


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


def read_error(body: bytes) -> tuple[str, str | None, str | None, str | None]:
    """(message, type, param, code) from an OpenAI-shaped error body, tolerating others."""
    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        parsed = None
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
    text = body[:200].decode("utf-8", "replace").strip()
    return text or "Upstream error", None, None, None


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)


class OpenAIStreamTranslator:
    """Passes OpenAI chunks through, making sure the stream ends with ``[DONE]``."""

    __slots__ = ("_done",)

    def __init__(self) -> None:
        self._done = False

    def feed(self, event: SSEEvent) -> list[bytes]:
        if self._done:
            return []
        if event.data == DONE:
            self._done = True
            return [DONE_EVENT]
        return [encode_data(event.data)]

    def close(self) -> list[bytes]:
        if self._done:
            return []
        self._done = True
        return [DONE_EVENT]


class OpenAIAdapter:
    """Adapter for every provider speaking OpenAI's own API."""

    def build_chat(self, body: JSONObject, deployment: Deployment) -> UpstreamRequest:
        return UpstreamRequest(
            "POST",
            f"{deployment.base_url}/chat/completions",
            build_headers(deployment),
            orjson.dumps(body),
        )

    def parse_chat(self, status: int, body: bytes, request: JSONObject) -> bytes:
        return body

    def stream_translator(self, request: JSONObject) -> OpenAIStreamTranslator:
        return OpenAIStreamTranslator()

    def build_embeddings(self, body: JSONObject, deployment: Deployment) -> UpstreamRequest:
        return UpstreamRequest(
            "POST",
            f"{deployment.base_url}/embeddings",
            build_headers(deployment),
            orjson.dumps(body),
        )

    def parse_embeddings(self, status: int, body: bytes, request: JSONObject) -> bytes:
        return body

    def build_models(self, deployment: Deployment) -> UpstreamRequest | None:
        headers = build_headers(deployment)
        del headers["Content-Type"]
        return UpstreamRequest("GET", f"{deployment.base_url}/models", headers)

    def parse_models(self, body: bytes) -> list[str]:
        parsed = orjson.loads(body)
        data = parsed.get("data") if isinstance(parsed, dict) else None
        if not isinstance(data, list):
            return []
        return [str(m["id"]) for m in data if isinstance(m, dict) and m.get("id")]

    def classify_error(
        self, status: int, headers: Mapping[str, str], body: bytes, provider: str
    ) -> UpstreamError:
        message, error_type, param, code = read_error(body)
        if status == 429:
            return UpstreamRateLimited(
                message,
                retry_after=parse_retry_after(headers),
                provider=provider,
                upstream_status=status,
                code=code or "rate_limit_exceeded",
            )
        if status in (401, 403):
            return UpstreamAuthError(provider, status)
        lowered = message.lower()
        if status == 400 and (
            code == "context_length_exceeded" or any(m in lowered for m in _CONTEXT_MARKERS)
        ):
            return ContextLengthExceeded(
                message, provider=provider, upstream_status=status, param=param or "messages"
            )
        return UpstreamStatusError(
            message,
            provider=provider,
            upstream_status=status,
            param=param,
            code=code,
            error_type=error_type or ("server_error" if status >= 500 else "invalid_request_error"),
        )
