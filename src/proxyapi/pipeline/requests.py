"""The request path, top to bottom, for each OpenAI endpoint.

Read this file to know what happens to a request: validate, apply
``model_overrides``, pick candidates, call with fallback, answer. Each step is
a plain function call; there is no middleware stack to reconstruct in your head.
"""

from __future__ import annotations

import time
from typing import Any

from proxyapi.errors import ModelNotFound, NoProviderAvailable
from proxyapi.gateway import Candidate, Gateway
from proxyapi.pipeline.dispatch import Answer, Call, OpenStream, call_json, open_stream
from proxyapi.pipeline.validation import validate_chat, validate_embeddings

CHAT_PATH = "/v1/chat/completions"
EMBEDDINGS_PATH = "/v1/embeddings"


def route(gateway: Gateway, model: str) -> tuple[Candidate, ...]:
    """The candidates for ``model``, or why there are none (404 unknown, 503 unusable)."""
    candidates = gateway.candidates(model)
    if candidates:
        return candidates
    if model in gateway.configured_models:
        raise NoProviderAvailable(
            f"Model '{model}' is configured, but none of its providers is usable now "
            "(disabled, or missing its API key)."
        )
    raise ModelNotFound(model)


def call_of(gateway: Gateway, model: str, path: str) -> Call:
    """The request's upstream context; its deadline bounds every attempt, retry and fallback."""
    deadline = time.monotonic() + gateway.config.server.client_timeout
    return Call(model, deadline, path, gateway.chaos, gateway.limiter)


async def complete_chat(gateway: Gateway, body: dict[str, Any]) -> Answer:
    model = validate_chat(body)
    gateway.apply_overrides(body)
    candidates = route(gateway, model)
    return await call_json(
        candidates,
        lambda c: c.adapter.build_chat(body, c.deployment),
        lambda c, status, raw: c.adapter.parse_chat(status, raw, body),
        call_of(gateway, model, CHAT_PATH),
    )


async def stream_chat(gateway: Gateway, body: dict[str, Any]) -> OpenStream:
    model = validate_chat(body)
    gateway.apply_overrides(body)
    candidates = route(gateway, model)
    return await open_stream(
        candidates,
        lambda c: c.adapter.build_chat(body, c.deployment),
        body,
        call_of(gateway, model, CHAT_PATH),
    )


async def create_embeddings(gateway: Gateway, body: dict[str, Any]) -> Answer:
    model = validate_embeddings(body)
    gateway.apply_overrides(body)
    candidates = route(gateway, model)
    return await call_json(
        candidates,
        lambda c: c.adapter.build_embeddings(body, c.deployment),
        lambda c, status, raw: c.adapter.parse_embeddings(status, raw, body),
        call_of(gateway, model, EMBEDDINGS_PATH),
    )
