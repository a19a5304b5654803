"""The request path, top to bottom, for each OpenAI endpoint.

Read this file to know what happens to a request: validate, resolve the model
(a provider name means its selected model), apply ``model_overrides``, pick
candidates, look in the response cache, call with fallback, answer (and store
the answer). Each step is a plain function call; there is no middleware stack to
reconstruct in your head.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import Scope

from proxyapi.errors import ModelNotFound, NoProviderAvailable
from proxyapi.gateway import Candidate, Gateway
from proxyapi.observability.access import record_of
from proxyapi.pipeline.caching import NothingMore, Ticket
from proxyapi.pipeline.dispatch import Answer, Call, OpenStream, call_json, open_stream
from proxyapi.pipeline.validation import validate_chat, validate_embeddings
from proxyapi.selections import resolve_model

FROM_CACHE = "cache"  # the x-proxyapi-provider of an answer from the response cache
CHAT_PATH = "/v1/chat/completions"
EMBEDDINGS_PATH = "/v1/embeddings"


def route(gateway: Gateway, model: str) -> tuple[str, tuple[Candidate, ...]]:
    """The model ``model`` names and its candidates, or why there are none (404, 503).

    ``openai`` and ``openai/default`` name provider openai's selected model,
    ``openai/gpt-4o`` pins provider openai (the rules: ``selections.resolve_model``).
    """
    resolved = resolve_model(
        model,
        gateway.candidates,
        gateway.candidates_by_name,
        lambda provider: selected_model(gateway, provider),
    )
    if resolved is not None:
        return resolved
    if model in gateway.configured_models:
        raise NoProviderAvailable(
            f"Model '{model}' is configured, but none of its providers is usable now "
            "(disabled, or missing its API key)."
        )
    provider = model.partition("/")[0]
    if any(p.name == provider for p in gateway.config.providers):
        raise NoProviderAvailable(
            f"Provider '{provider}' is configured, but not usable now "
            "(disabled, or missing its API key)."
        )
    raise ModelNotFound(model)


def selected_model(gateway: Gateway, provider: str) -> str | None:
    """A usable provider's selected model: the selections file's, else its first configured."""
    candidate = gateway.candidates_by_name[provider]
    chosen = gateway.selections.choose(provider, candidate.deployment.models)
    return chosen.model_name if chosen is not None else None


def resolve(
    gateway: Gateway, body: dict[str, Any], scope: Scope, requested: str
) -> tuple[str, tuple[Candidate, ...]]:
    """Route the request; from here on its body names the model it resolved to.

    So ``model_overrides``, the response cache key, the upstream request and the
    access log all see ``gpt-4o-mini`` when the client asked for ``openai``.
    """
    note_model(scope, requested)  # kept when the model cannot be resolved
    model, candidates = route(gateway, requested)
    body["model"] = model
    note_model(scope, model)
    gateway.apply_overrides(body)
    return model, candidates


def call_of(gateway: Gateway, model: str, path: str) -> Call:
    """The request's upstream context; its deadline bounds every attempt, retry and fallback."""
    deadline = time.monotonic() + gateway.config.server.client_timeout
    return Call(
        model,
        deadline,
        path,
        gateway.chaos,
        gateway.limiter,
        gateway.metrics,
        gateway.tracing,
        gateway.response_checks,
    )


def note_model(scope: Scope, model: str) -> None:
    record = record_of(scope)
    if record is not None:
        record.model = model


def note_first_token(scope: Scope) -> None:
    record = record_of(scope)
    if record is not None:
        record.first_token = time.perf_counter() - record.started


async def lookup(gateway: Gateway, ticket: Ticket) -> bytes | None:
    """The cached answer for ``ticket``, if any; a span of its own when tracing is on."""
    assert gateway.responses is not None
    if gateway.tracing is None:
        return await gateway.responses.lookup(ticket)
    with gateway.tracing.span("cache.lookup") as span:
        found = await gateway.responses.lookup(ticket)
        span.set_attribute("cache.hit", found is not None)
        return found


def ticket_of(
    gateway: Gateway,
    scope: Scope,
    candidates: tuple[Candidate, ...],
    endpoint: str,
    body: dict[str, Any],
) -> Ticket | None:
    """The request's place in the response cache, or None when caching is off."""
    if gateway.responses is None:
        return None
    return gateway.responses.ticket(scope, candidates[0].deployment.name, endpoint, body)


def screen_request(gateway: Gateway, body: dict[str, Any]) -> None:
    """``validation.content_filter`` on the messages: redact, flag, or 400 ``content_filter``."""
    if gateway.content_filter is not None:
        gateway.content_filter.screen_request(body)


def checked_chat(gateway: Gateway, candidate: Candidate, answer: bytes) -> bytes:
    """``validation.response`` on one attempt's answer; a failure is the provider's."""
    if gateway.response_checks is None:
        return answer
    return gateway.response_checks.chat(answer, candidate.deployment.name)


def screened_stream(gateway: Gateway, stream: OpenStream) -> OpenStream:
    """The response rules of ``validation.content_filter`` on a stream, cached or not."""
    if gateway.content_filter is not None:
        stream.first, stream.rest = gateway.content_filter.screen_stream(stream.first, stream.rest)
    return stream


async def complete_chat(gateway: Gateway, body: dict[str, Any], scope: Scope) -> Answer:
    model, candidates = resolve(gateway, body, scope, validate_chat(body))
    screen_request(gateway, body)
    ticket = ticket_of(gateway, scope, candidates, "chat", body)
    answer = await _answer(
        gateway,
        ticket,
        lambda: call_json(
            candidates,
            lambda c: c.adapter.build_chat(body, c.deployment),
            lambda c, status, raw: checked_chat(
                gateway, c, c.adapter.parse_chat(status, raw, body)
            ),
            call_of(gateway, model, CHAT_PATH),
        ),
    )
    if gateway.content_filter is not None:
        answer.body = gateway.content_filter.screen_answer(answer.body)
    return answer


async def stream_chat(gateway: Gateway, body: dict[str, Any], scope: Scope) -> OpenStream:
    model, candidates = resolve(gateway, body, scope, validate_chat(body))
    screen_request(gateway, body)
    ticket = ticket_of(gateway, scope, candidates, "chat-stream", body)
    if ticket is not None and gateway.responses is not None:
        found = await lookup(gateway, ticket)
        if found is not None:
            note_first_token(scope)
            hit = OpenStream(found, NothingMore(), FROM_CACHE, attempts=0, cache="HIT")
            return screened_stream(gateway, hit)
    stream = await open_stream(
        candidates,
        lambda c: c.adapter.build_chat(body, c.deployment),
        body,
        call_of(gateway, model, CHAT_PATH),
    )
    note_first_token(scope)
    if ticket is not None and gateway.responses is not None:
        stream.rest = gateway.responses.store_stream(ticket, stream.first, stream.rest)
        stream.cache = ticket.status
    return screened_stream(gateway, stream)


async def create_embeddings(gateway: Gateway, body: dict[str, Any], scope: Scope) -> Answer:
    model, candidates = resolve(gateway, body, scope, validate_embeddings(body))
    ticket = ticket_of(gateway, scope, candidates, "embeddings", body)
    return await _answer(
        gateway,
        ticket,
        lambda: call_json(
            candidates,
            lambda c: c.adapter.build_embeddings(body, c.deployment),
            lambda c, status, raw: checked_embeddings(
                gateway, c, c.adapter.parse_embeddings(status, raw, body)
            ),
            call_of(gateway, model, EMBEDDINGS_PATH),
        ),
    )


def checked_embeddings(gateway: Gateway, candidate: Candidate, answer: bytes) -> bytes:
    if gateway.response_checks is None:
        return answer
    return gateway.response_checks.embeddings(answer, candidate.deployment.name)


async def _answer(
    gateway: Gateway, ticket: Ticket | None, call: Callable[[], Awaitable[Answer]]
) -> Answer:
    """From the cache when it has the answer; else from upstream, then into the cache."""
    responses = gateway.responses
    if ticket is None or responses is None:
        return await call()
    found = await lookup(gateway, ticket)
    if found is not None:
        return Answer(found, FROM_CACHE, attempts=0, cache="HIT")

    async def refetch() -> bytes:
        return (await call()).body

    responses.lead(ticket)
    body: bytes | None = None
    try:
        answer = await call()
        body = answer.body
        responses.store(ticket, body, refetch)
    finally:
        responses.settle(ticket, body)  # also on failure or cancellation: waiters go on
    answer.cache = ticket.status
    return answer
