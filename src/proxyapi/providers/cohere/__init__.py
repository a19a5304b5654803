"""Cohere's API v2: ``POST /v2/chat`` (streamed with ``"stream": true``), ``POST /v2/embed``,
``GET /v1/models``; ``Authorization: Bearer``.

Field names and the streamed event union follow Cohere's API reference ("Chat
(v2)", "Chat with streaming", "Embed (v2)", "List Models") and the ``cohere``
SDK's generated types (``cohere/v2/types``, ``cohere/types``), which are the
schema Cohere publishes. The translation, both ways:

- messages map nearly one to one: ``developer`` becomes ``system``; content
  parts keep their shape (``text``, ``image_url`` with a URL or a data URL);
  an assistant turn with ``tool_calls`` carries its text (or its
  ``reasoning_content``) as Cohere's ``tool_plan``, the way Cohere's tool-use
  guide hands the plan back with the calls;
- ``top_p`` is ``p``, ``stop`` is ``stop_sequences``, ``max_completion_tokens``
  is ``max_tokens``; ``tools`` have OpenAI's function shape already (ToolV2),
  a function's ``strict`` becomes the request-wide ``strict_tools``;
  ``tool_choice`` ``required``/``none`` are ``REQUIRED``/``NONE``;
  ``response_format`` is ``{"type": "json_object", "json_schema": schema}``;
  ``reasoning_effort`` is ``thinking`` with a token budget (reasoning models);
- Cohere cannot honour ``n > 1``, a forced specific function, ``parallel_tool_calls:
  false``, ``logprobs`` or other OpenAI-only parameters: a 400 naming the
  parameter, or dropped (logged at debug) when the provider sets ``drop_params``.
  ``user``, ``metadata``, ``store`` and ``service_tier: auto`` change no answer and
  are left out silently;
- answers: text parts joined; ``thinking`` parts and the ``tool_plan`` come back
  as ``reasoning_content`` (both are the model's reasoning, not its answer);
  ``finish_reason`` COMPLETE/STOP_SEQUENCE -> stop, MAX_TOKENS -> length,
  TOOL_CALL -> tool_calls, ERROR/TIMEOUT -> an upstream error; usage from
  ``usage.tokens`` (else ``billed_units``), ``cached_tokens`` as OpenAI's.

``chat`` translates requests and answers, ``stream`` the streamed events,
``embeddings`` the ``/v2/embed`` calls, ``errors`` Cohere's failures.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from proxyapi.errors import UpstreamError
from proxyapi.providers._errors import load_object
from proxyapi.providers.base import Deployment, JSONObject, UpstreamRequest
from proxyapi.providers.cohere.chat import build_chat_payload, chat_completion
from proxyapi.providers.cohere.embeddings import (
    DEFAULT_INPUT_TYPE,
    build_embed_payload,
    embedding_list,
)
from proxyapi.providers.cohere.errors import classify
from proxyapi.providers.cohere.stream import CohereStreamTranslator
from proxyapi.providers.openai import read_model_list

__all__ = ["DEFAULT_INPUT_TYPE", "CohereAdapter", "CohereStreamTranslator", "build_headers"]


def build_headers(deployment: Deployment, *, is_json: bool = True) -> dict[str, str]:
    headers = {"Content-Type": "application/json"} if is_json else {}
    headers.update(deployment.headers)
    if deployment.api_key:
        headers["Authorization"] = f"Bearer {deployment.api_key}"
    return headers


def _load_object(body: bytes) -> JSONObject:
    return load_object(body, "cohere", error_type="server_error")


class CohereAdapter:
    """Adapter for Cohere's API v2 (provider ``type: cohere``)."""

    def build_chat(self, body: JSONObject, deployment: Deployment) -> UpstreamRequest:
        payload = build_chat_payload(body, deployment)
        return UpstreamRequest(
            "POST",
            f"{deployment.base_url}/v2/chat",
            build_headers(deployment),
            orjson.dumps(payload),
        )

    def parse_chat(self, status: int, body: bytes, request: JSONObject) -> bytes:
        return orjson.dumps(chat_completion(_load_object(body), request))

    def stream_translator(self, request: JSONObject) -> CohereStreamTranslator:
        return CohereStreamTranslator(request)

    def build_embeddings(self, body: JSONObject, deployment: Deployment) -> UpstreamRequest:
        payload = build_embed_payload(body)
        return UpstreamRequest(
            "POST",
            f"{deployment.base_url}/v2/embed",
            build_headers(deployment),
            orjson.dumps(payload),
        )

    def parse_embeddings(self, status: int, body: bytes, request: JSONObject) -> bytes:
        return orjson.dumps(embedding_list(_load_object(body), request))

    def build_models(self, deployment: Deployment) -> UpstreamRequest | None:
        # page_size: Cohere pages by 20 by default, 1000 at most.
        url = f"{deployment.base_url}/v1/models?page_size=1000"
        return UpstreamRequest("GET", url, build_headers(deployment, is_json=False))

    def parse_models(self, body: bytes) -> list[str]:
        return read_model_list(body, "models", "name")

    def classify_error(
        self, status: int, headers: Mapping[str, str], body: bytes, provider: str
    ) -> UpstreamError:
        return classify(status, headers, body, provider)
