"""OpenAI embeddings requests as Cohere ``/v2/embed`` requests, and the answers back."""

from __future__ import annotations

from typing import Any

from proxyapi.errors import InvalidRequest
from proxyapi.providers._openai_shape import embeddings_body
from proxyapi.providers.base import JSONObject

# Cohere embeds v3+ need an input_type; a gateway mostly embeds documents to index.
# A client may say otherwise with an extra body field "input_type".
DEFAULT_INPUT_TYPE = "search_document"


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return list(value)
    raise InvalidRequest(
        "Cohere embeds text only: 'input' must be a string or an array of strings, "
        "not token arrays.",
        param="input",
    )


def build_embed_payload(body: JSONObject) -> JSONObject:
    payload: JSONObject = {
        "model": body.get("model"),
        "texts": _texts(body.get("input")),
        "input_type": body.get("input_type") or DEFAULT_INPUT_TYPE,
        # Always floats: Cohere's "base64" type does not document its byte order,
        # OpenAI's is little-endian float32, so base64 is encoded here.
        "embedding_types": ["float"],
    }
    if body.get("dimensions") is not None:
        payload["output_dimension"] = body["dimensions"]
    if body.get("truncate") is not None:
        payload["truncate"] = body["truncate"]
    return payload


def embedding_list(data: JSONObject, request: JSONObject) -> JSONObject:
    """OpenAI's embeddings list from a ``/v2/embed`` answer (embeddings by type)."""
    embeddings = data.get("embeddings")
    vectors = embeddings.get("float") if isinstance(embeddings, dict) else embeddings
    meta = data.get("meta") or {}
    counts = meta.get("billed_units") or meta.get("tokens") or {}
    tokens = int(counts.get("input_tokens") or 0)
    return embeddings_body(
        vectors or (), request.get("model"), tokens, request.get("encoding_format")
    )
