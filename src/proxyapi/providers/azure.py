"""Azure OpenAI: OpenAI's wire format on Azure's paths, keys and deployments.

What differs from OpenAI (Azure OpenAI REST reference, "Chat completions" and
"Embeddings"; the ``openai`` SDK's ``lib/azure.py`` builds the same URLs):

- the URL names a *deployment*, not a model:
  ``{base_url}/openai/deployments/{deployment}/chat/completions?api-version=…``;
  the provider config's ``deployments`` maps the client's model name to it;
- the key goes in an ``api-key`` header, never ``Authorization``;
- ``api-version`` is a required query parameter: from ``api_version`` in the
  config, else the seed's ``headers: {api-version: …}`` (then not sent as a
  header), else ``DEFAULT_API_VERSION``;
- answers report the deployment's underlying model (``gpt-4o-2024-08-06``),
  so ``model`` is set back to the name the client asked for;
- streams open with a chunk whose ``choices`` is empty and which carries only
  ``prompt_filter_results``; the OpenAI SDK tolerates it, but it is not an
  OpenAI chunk, so it is dropped (a usage chunk, also choice-less, is kept);
- a prompt blocked by the content filter is a 400 with code ``content_filter``.

Bodies are re-encoded only when one of those quirks is present: a chunk or
answer already naming the client's model passes through byte for byte.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

import orjson

from proxyapi.errors import UpstreamError
from proxyapi.providers._errors import rate_limited, read_error
from proxyapi.providers.base import Deployment, JSONObject, UpstreamRequest
from proxyapi.providers.openai import OpenAIAdapter, OpenAIStreamTranslator
from proxyapi.transport.sse import DONE, SSEEvent, encode_data

# The newest GA version when this was written; the data-plane reference lists
# the versions (https://learn.microsoft.com/azure/ai-services/openai/reference).
DEFAULT_API_VERSION = "2024-10-21"

_EMPTY_CHOICES = b'"choices":[]'


def api_version_of(deployment: Deployment) -> str:
    """``api_version`` from the config, else the seed's ``api-version`` header, else the default."""
    if deployment.api_version:
        return deployment.api_version
    for name, value in deployment.headers.items():
        if name.lower() == "api-version" and value:
            return value
    return DEFAULT_API_VERSION


def build_headers(deployment: Deployment) -> dict[str, str]:
    """Azure's ``api-key`` plus the configured headers, ``api-version`` moved to the query."""
    headers = {"Content-Type": "application/json"}
    headers.update(
        (name, value) for name, value in deployment.headers.items() if name.lower() != "api-version"
    )
    if deployment.api_key:
        headers["api-key"] = deployment.api_key
    return headers


def deployment_url(deployment: Deployment, model: str, operation: str) -> str:
    name = deployment.deployments.get(model, model)
    version = quote(api_version_of(deployment), safe="")
    return (
        f"{deployment.base_url}/openai/deployments/{quote(name, safe='')}"
        f"/{operation}?api-version={version}"
    )


def _model_marker(model: str) -> bytes:
    """How the client's model appears in Azure's compact JSON when it already matches."""
    return b'"model":' + orjson.dumps(model)


def _with_model(body: bytes, model: str) -> bytes:
    """``body`` naming ``model``, re-encoded only when it names another one."""
    if not model or _model_marker(model) in body:
        return body
    parsed = orjson.loads(body)
    if not isinstance(parsed, dict):
        return body
    parsed["model"] = model
    return orjson.dumps(parsed)


class AzureStreamTranslator(OpenAIStreamTranslator):
    """OpenAI chunks, minus Azure's filter-only chunks, with the client's model name."""

    __slots__ = ("_marker", "_model")

    def __init__(self, model: str) -> None:
        super().__init__()
        self._model = model
        self._marker = _model_marker(model)

    def feed(self, event: SSEEvent) -> list[bytes]:
        data = event.data
        if self._done or data == DONE:
            return super().feed(event)
        is_choiceless = _EMPTY_CHOICES in data
        if not is_choiceless and (not self._model or self._marker in data):
            return [encode_data(data)]
        chunk = orjson.loads(data)
        if not isinstance(chunk, dict):
            return [encode_data(data)]
        if "error" in chunk:
            self._done = True  # an error event ends the stream; no [DONE] after it
            return [encode_data(data)]
        if not chunk.get("choices") and chunk.get("usage") is None:
            return []  # prompt_filter_results only: not an OpenAI chunk
        chunk["model"] = self._model
        return [encode_data(orjson.dumps(chunk))]


class AzureOpenAIAdapter(OpenAIAdapter):
    """Adapter for Azure OpenAI deployments (provider ``type: azure_openai``)."""

    def build_chat(self, body: JSONObject, deployment: Deployment) -> UpstreamRequest:
        return UpstreamRequest(
            "POST",
            deployment_url(deployment, str(body.get("model", "")), "chat/completions"),
            build_headers(deployment),
            orjson.dumps(body),
        )

    def parse_chat(self, status: int, body: bytes, request: JSONObject) -> bytes:
        return _with_model(body, str(request.get("model", "")))

    def stream_translator(self, request: JSONObject) -> AzureStreamTranslator:
        return AzureStreamTranslator(str(request.get("model", "")))

    def build_embeddings(self, body: JSONObject, deployment: Deployment) -> UpstreamRequest:
        return UpstreamRequest(
            "POST",
            deployment_url(deployment, str(body.get("model", "")), "embeddings"),
            build_headers(deployment),
            orjson.dumps(body),
        )

    def parse_embeddings(self, status: int, body: bytes, request: JSONObject) -> bytes:
        return _with_model(body, str(request.get("model", "")))

    def build_models(self, deployment: Deployment) -> UpstreamRequest | None:
        """None: Azure's ``GET /openai/models`` lists the models the resource *could*
        deploy, not its deployments, so none of its names is routable as such.
        The gateway lists the configured ``models`` instead."""
        return None

    def classify_error(
        self, status: int, headers: Mapping[str, str], body: bytes, provider: str
    ) -> UpstreamError:
        if status == 429:
            # Azure's body says {"code": "429", "message": "Requests to the
            # ChatCompletions_Create Operation ... Please retry after 6 seconds."}
            # and its headers carry retry-after and retry-after-ms.
            return rate_limited(read_error(body)[0], headers, provider)
        # The rest is OpenAI's classification: context_length_exceeded is the
        # same code and wording, and a content-filter 400 keeps its status and
        # its code "content_filter" (Azure OpenAI "Content filtering" docs).
        return super().classify_error(status, headers, body, provider)
