"""Cache keys, in seed 002's families: ``response:…``, ``summary:…``, ``models:…``.

A response key must be equal for requests that must get the same answer and
differ otherwise: it hashes the request after ``model_overrides`` were applied,
with keys sorted (so key order and whitespace do not matter), without the fields
that do not change the output (``user``, ``metadata``), and with the scope: the
caller's API key id unless ``caching.scope`` is ``global``, so one tenant never
receives another's cached answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Final

import orjson

# Attribution only: they never change what the model says.
IGNORED_FIELDS: Final = frozenset({"user", "metadata"})


def params_hash(body: Mapping[str, Any], scope: str) -> str:
    """SHA-256 (hex, 32 characters) of the scope and the normalised request."""
    kept = {k: v for k, v in body.items() if k not in IGNORED_FIELDS}
    canonical = orjson.dumps(kept, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return hashlib.sha256(scope.encode() + b"\0" + canonical).hexdigest()[:32]


def response_key(provider: str, endpoint: str, body: Mapping[str, Any], scope: str) -> str:
    """``response:{provider}:{endpoint}:{params_hash}``; ``provider`` is the model's first.

    ``endpoint`` is ``chat``, ``chat-stream`` or ``embeddings``: a stream is kept
    as the SSE bytes it was, to be replayed as it was.
    """
    return f"response:{provider}:{endpoint}:{params_hash(body, scope)}"


def summary_key(text: str, max_tokens: int, model: str) -> str:
    """``summary:{input_hash}:{max_tokens}:{model}`` (seed 002), for context condensation."""
    digest = hashlib.sha256(text.encode()).hexdigest()[:32]
    return f"summary:{digest}:{max_tokens}:{model}"


def models_key(provider: str, base_url: str) -> str:
    """``models:{provider}:{base_url}`` (seed 002): a provider's own model list."""
    return f"models:{provider}:{base_url}"
