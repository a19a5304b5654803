"""The OpenAI wire format, shared by the OpenAI-compatible family.

openai, perplexity, grok, openrouter, blackbox and openai_compatible (vLLM,
Ollama, llama.cpp, ...) all speak it, so the gateway passes their bytes through
untouched: no parse, no re-encode, on the way back. Only errors are read, to be
classified for fallback and re-shaped without the provider's key or URL.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from proxyapi.errors import ContextLengthExceeded, UpstreamAuthError, UpstreamError
from proxyapi.providers._errors import (
    parse_retry_after as parse_retry_after,
    rate_limited,
    read_error as read_error,
    status_error,
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


def read_model_list(body: bytes, list_key: str = "data", name_key: str = "id") -> list[str]:
    """Model names from a listing: OpenAI's ``{"data": [{"id"}]}``, or another provider's keys."""
    parsed = orjson.loads(body)
    models = parsed.get(list_key) if isinstance(parsed, dict) else None
    if not isinstance(models, list):
        return []
    return [str(m[name_key]) for m in models if isinstance(m, dict) and m.get(name_key)]


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
        return read_model_list(body)

    def classify_error(
        self, status: int, headers: Mapping[str, str], body: bytes, provider: str
    ) -> UpstreamError:
        message, error_type, param, code = read_error(body)
        if status == 429:
            return rate_limited(message, headers, provider, code=code)
        if status in (401, 403):
            return UpstreamAuthError(provider, status)
        lowered = message.lower()
        if status == 400 and (
            code == "context_length_exceeded" or any(m in lowered for m in _CONTEXT_MARKERS)
        ):
            return ContextLengthExceeded(
                message, provider=provider, upstream_status=status, param=param or "messages"
            )
        return status_error(
            message, headers, provider, status, param=param, code=code, error_type=error_type
        )
