"""The Google Gemini wire format: the Generative Language API, v1beta.

Chat goes to ``models/{model}:generateContent`` (``:streamGenerateContent?alt=sse``
when streaming), embeddings to ``:embedContent`` / ``:batchEmbedContents``, with the
key in ``x-goog-api-key``. References: https://ai.google.dev/api/generate-content,
https://ai.google.dev/api/embeddings, https://ai.google.dev/api/models, and the
field names of the official ``google-genai`` SDK (its REST converters in ``models.py``).

Translation choices worth knowing (the README's provider table repeats them):

- ``system`` / ``developer`` messages, wherever they are, become one ``systemInstruction``.
- ``user`` has no Gemini equivalent and is dropped silently, like OpenAI's own advice field.
- ``reasoning_effort`` becomes ``thinkingConfig.thinkingBudget`` (``THINKING_BUDGETS``)
  with ``includeThoughts``, so thought summaries come back as ``reasoning_content``.
- Tool ``parameters`` go through ``gemini_schema``: Gemini's ``parameters`` is an
  OpenAPI 3.0 subset, so unknown JSON-Schema keys (``additionalProperties``,
  ``$schema``, ...) are stripped, local ``$ref``s inlined, ``["T", "null"]`` types
  turned into ``nullable``, and a parameterless tool sends no ``parameters`` at all.
- Gemini gives function calls no id, so ids are ``call_`` + a hash of the response.
  A call's ``thoughtSignature`` (Gemini 3 rejects a history without it, see
  https://ai.google.dev/gemini-api/docs/thought-signatures) rides in the id after
  ``SIGNATURE_MARK``: every OpenAI client echoes tool-call ids back verbatim.
- Embedding usage is estimated (four characters a token) when Gemini reports none.

``chat`` translates requests and answers (``tools`` the tool declarations),
``stream`` the streamed answers, ``embeddings`` the embedding calls, ``errors``
Google's failures.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from proxyapi.errors import UpstreamError
from proxyapi.providers._errors import load_object
from proxyapi.providers.base import Deployment, JSONObject, UpstreamRequest
from proxyapi.providers.google.chat import (
    API_VERSION,
    SIGNATURE_MARK,
    THINKING_BUDGETS,
    build_generate_request,
    build_headers,
    completion_from,
    model_url,
)
from proxyapi.providers.google.embeddings import build_embed_request, embeddings_from
from proxyapi.providers.google.errors import classify
from proxyapi.providers.google.stream import GoogleStreamTranslator
from proxyapi.providers.google.tools import gemini_schema
from proxyapi.providers.openai import read_model_list

__all__ = [
    "API_VERSION",
    "SIGNATURE_MARK",
    "THINKING_BUDGETS",
    "GoogleAdapter",
    "GoogleStreamTranslator",
    "build_headers",
    "gemini_schema",
]


class GoogleAdapter:
    """Adapter for Google's Gemini API (AI Studio keys, ``generativelanguage.googleapis.com``)."""

    def build_chat(self, body: JSONObject, deployment: Deployment) -> UpstreamRequest:
        payload = build_generate_request(body, deployment)
        method = (
            "streamGenerateContent?alt=sse" if body.get("stream") is True else "generateContent"
        )
        return UpstreamRequest(
            "POST",
            f"{model_url(deployment, str(body['model']))}:{method}",
            build_headers(deployment),
            orjson.dumps(payload),
        )

    def parse_chat(self, status: int, body: bytes, request: JSONObject) -> bytes:
        data = load_object(body, "google")
        return orjson.dumps(completion_from(data, str(request.get("model"))))

    def stream_translator(self, request: JSONObject) -> GoogleStreamTranslator:
        return GoogleStreamTranslator(request)

    def build_embeddings(self, body: JSONObject, deployment: Deployment) -> UpstreamRequest:
        return build_embed_request(body, deployment)

    def parse_embeddings(self, status: int, body: bytes, request: JSONObject) -> bytes:
        return orjson.dumps(embeddings_from(load_object(body, "google"), request))

    def build_models(self, deployment: Deployment) -> UpstreamRequest | None:
        return UpstreamRequest(
            "GET",
            f"{deployment.base_url}/{API_VERSION}/models?pageSize=1000",
            build_headers(deployment, has_body=False),
        )

    def parse_models(self, body: bytes) -> list[str]:
        names = read_model_list(body, "models", "name")
        return [name.removeprefix("models/") for name in names]

    def classify_error(
        self, status: int, headers: Mapping[str, str], body: bytes, provider: str
    ) -> UpstreamError:
        return classify(status, headers, body, provider)
