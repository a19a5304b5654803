"""OpenAI embeddings requests as Gemini ``:embedContent`` / ``:batchEmbedContents`` calls.

A single string goes to ``embedContent``, a list to ``batchEmbedContents``
(https://ai.google.dev/api/embeddings). Gemini usually reports no token usage for
embeddings; it is then estimated at four characters a token.
"""

from __future__ import annotations

from typing import Any

import orjson

from proxyapi.errors import InvalidRequest
from proxyapi.providers._openai_shape import embeddings_body
from proxyapi.providers.base import Deployment, JSONObject, UpstreamRequest
from proxyapi.providers.google.chat import build_headers, model_url
from proxyapi.providers.google.errors import check_params

_EMBEDDING_PARAMS = frozenset({"model", "input", "dimensions", "encoding_format", "user"})


def _embedding_texts(value: Any) -> list[str]:
    texts = [value] if isinstance(value, str) else value
    if isinstance(texts, list) and texts and all(isinstance(text, str) for text in texts):
        return texts
    raise InvalidRequest(
        "Google Gemini embeds text only: 'input' must be a string or an array of strings.",
        param="input",
    )


def build_embed_request(body: JSONObject, deployment: Deployment) -> UpstreamRequest:
    check_params(body, _EMBEDDING_PARAMS, deployment)
    if body.get("encoding_format") not in (None, "float", "base64"):
        raise InvalidRequest(
            "Invalid 'encoding_format': use float or base64.", param="encoding_format"
        )
    texts = _embedding_texts(body.get("input"))
    model = str(body["model"]).removeprefix("models/")
    extra = {"outputDimensionality": body["dimensions"]} if body.get("dimensions") else {}
    base = model_url(deployment, model)
    if isinstance(body.get("input"), str):
        url, payload = (
            f"{base}:embedContent",
            {"content": {"parts": [{"text": texts[0]}]}, **extra},
        )
    else:
        requests = [
            {"model": f"models/{model}", "content": {"parts": [{"text": text}]}, **extra}
            for text in texts
        ]
        url, payload = f"{base}:batchEmbedContents", {"requests": requests}
    return UpstreamRequest("POST", url, build_headers(deployment), orjson.dumps(payload))


def _estimate_tokens(text: str) -> int:
    return -(-len(text) // 4)


def embeddings_from(data: JSONObject, request: JSONObject) -> JSONObject:
    single = data.get("embedding")
    items = [single] if isinstance(single, dict) else data.get("embeddings") or []
    vectors = [item.get("values") or [] for item in items if isinstance(item, dict)]
    meta = data.get("usageMetadata")
    tokens = meta.get("promptTokenCount") if isinstance(meta, dict) else None
    if tokens is None:
        texts = request.get("input")
        texts = [texts] if isinstance(texts, str) else texts or []
        tokens = sum(_estimate_tokens(text) for text in texts if isinstance(text, str))
    return embeddings_body(
        vectors, request.get("model"), int(tokens), request.get("encoding_format")
    )
