"""The Anthropic Messages API (``type: anthropic``), translated both ways.

``chat`` builds Messages requests and reads their answers, ``stream`` turns the
streamed events into OpenAI chunks, ``errors`` maps Anthropic's errors onto the
gateway's classes. Anthropic has no embeddings endpoint.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from proxyapi.errors import InvalidRequest, UpstreamError
from proxyapi.providers.anthropic.chat import (
    ANTHROPIC_VERSION,
    DEFAULT_MAX_TOKENS,
    THINKING_BUDGETS,
    build_messages_body,
    parse_message,
)
from proxyapi.providers.anthropic.errors import classify_error
from proxyapi.providers.anthropic.stream import AnthropicStreamTranslator
from proxyapi.providers.base import Deployment, JSONObject, UpstreamRequest
from proxyapi.providers.openai import read_model_list

__all__ = [
    "ANTHROPIC_VERSION",
    "DEFAULT_MAX_TOKENS",
    "THINKING_BUDGETS",
    "AnthropicAdapter",
    "AnthropicStreamTranslator",
    "build_headers",
]


def build_headers(deployment: Deployment, *, has_body: bool = True) -> dict[str, str]:
    """``x-api-key`` and ``anthropic-version``; the provider's ``headers`` override both."""
    headers = {"anthropic-version": ANTHROPIC_VERSION}
    if has_body:
        headers["content-type"] = "application/json"
    if deployment.api_key:
        headers["x-api-key"] = deployment.api_key
    for name, value in deployment.headers.items():
        # Header names are case-insensitive: one configured name replaces ours.
        headers.pop(name.lower(), None)
        headers[name] = value
    return headers


def api_root(base_url: str) -> str:
    """``https://api.anthropic.com``, whether or not the configured URL ends in ``/v1``."""
    return base_url[:-3] if base_url.endswith("/v1") else base_url


def _no_embeddings() -> InvalidRequest:
    return InvalidRequest(
        "Anthropic does not offer embeddings; route this model to a provider that does.",
        param="model",
        code="invalid_value",
    )


class AnthropicAdapter:
    """Adapter for Anthropic's Messages API (``POST /v1/messages``)."""

    def build_chat(self, body: JSONObject, deployment: Deployment) -> UpstreamRequest:
        payload = build_messages_body(body, deployment.drop_params)
        return UpstreamRequest(
            "POST",
            f"{api_root(deployment.base_url)}/v1/messages",
            build_headers(deployment),
            orjson.dumps(payload),
        )

    def parse_chat(self, status: int, body: bytes, request: JSONObject) -> bytes:
        return parse_message(body, request)

    def stream_translator(self, request: JSONObject) -> AnthropicStreamTranslator:
        return AnthropicStreamTranslator(request)

    def build_embeddings(self, body: JSONObject, deployment: Deployment) -> UpstreamRequest:
        raise _no_embeddings()

    def parse_embeddings(self, status: int, body: bytes, request: JSONObject) -> bytes:
        raise _no_embeddings()

    def build_models(self, deployment: Deployment) -> UpstreamRequest | None:
        url = f"{api_root(deployment.base_url)}/v1/models"
        return UpstreamRequest("GET", url, build_headers(deployment, has_body=False))

    def parse_models(self, body: bytes) -> list[str]:
        return read_model_list(body)

    def classify_error(
        self, status: int, headers: Mapping[str, str], body: bytes, provider: str
    ) -> UpstreamError:
        return classify_error(status, headers, body, provider)
