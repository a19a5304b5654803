"""Sending one request to its candidates in priority order, falling back on failure.

Retryable failures (connection errors, timeouts, 429, 5xx, a provider refusing
our key) move on to the next candidate; anything else is the client's problem
and is answered at once. A stream is committed only once its first translated
chunk exists, so a stream that fails before its first byte still falls back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import orjson

from proxyapi.errors import (
    AllProvidersFailed,
    NoProviderAvailable,
    ProxyError,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
)
from proxyapi.gateway import Candidate
from proxyapi.providers.base import JSONObject, StreamTranslator, UpstreamRequest
from proxyapi.transport.client import UpstreamResponse
from proxyapi.transport.sse import SSEDecoder

logger = logging.getLogger("proxyapi.dispatch")

BuildRequest = Callable[[Candidate], UpstreamRequest]
T = TypeVar("T")


@dataclass(slots=True)
class Answer:
    """A complete upstream answer, already in OpenAI shape."""

    body: bytes
    provider: str


@dataclass(slots=True)
class OpenStream:
    """A committed stream: the first OpenAI SSE bytes, and an iterator over the rest."""

    first: bytes
    rest: AsyncIterator[bytes]
    provider: str


def scrub(error: UpstreamError, candidate: Candidate) -> UpstreamError:
    """Never let a provider's key through, even if an upstream echoes it back."""
    key = candidate.deployment.api_key
    if key and key in error.message:
        error.message = error.message.replace(key, "***")
    return error


def final_error(errors: list[UpstreamError], model: str) -> ProxyError:
    """What the client hears when no candidate succeeded."""
    if not errors:
        return NoProviderAvailable(f"No provider is available for model '{model}'.")
    if all(isinstance(e, UpstreamTimeout) for e in errors):
        return UpstreamTimeout(
            f"Every provider for model '{model}' timed out.", provider=errors[-1].provider
        )
    if all(isinstance(e, UpstreamRateLimited) for e in errors):
        return errors[-1]
    details = "; ".join(f"{e.provider}: {e.message}" for e in errors)
    return AllProvidersFailed(f"All providers failed for model '{model}'. {details}")


def _remaining(deadline: float) -> float:
    return deadline - time.monotonic()


async def _classify(candidate: Candidate, response: UpstreamResponse) -> UpstreamError:
    async with response:
        raw = await response.read()
    error = candidate.adapter.classify_error(
        response.status, response.headers, raw, candidate.deployment.name
    )
    return scrub(error, candidate)


async def _attempt_json(
    candidate: Candidate, request: UpstreamRequest, seconds: float
) -> tuple[int, bytes]:
    response = await candidate.client.open(request, seconds=seconds)
    if response.status >= 300:
        raise await _classify(candidate, response)
    async with response:
        return response.status, await response.read()


def _give_up(error: UpstreamError, errors: list[UpstreamError]) -> bool:
    """Record a failure; True when it must go to the client as it is."""
    if not error.is_retryable:
        return True
    logger.info("provider %s failed (%s); trying the next one", error.provider, error.code)
    errors.append(error)
    return False


async def _first_success(
    candidates: tuple[Candidate, ...],
    attempt: Callable[[Candidate, float], Awaitable[T]],
    model: str,
    deadline: float,
) -> T:
    """Run ``attempt`` on each candidate in turn until one succeeds."""
    errors: list[UpstreamError] = []
    for candidate in candidates:
        seconds = min(candidate.deployment.timeout, _remaining(deadline))
        if seconds <= 0:
            break
        try:
            return await attempt(candidate, seconds)
        except UpstreamError as error:
            if _give_up(scrub(error, candidate), errors):
                raise
    if not errors and _remaining(deadline) <= 0:
        errors.append(UpstreamTimeout(f"The request for model '{model}' ran out of time."))
    raise final_error(errors, model)


async def call_json(
    candidates: tuple[Candidate, ...],
    build: BuildRequest,
    parse: Callable[[Candidate, int, bytes], bytes],
    model: str,
    deadline: float,
) -> Answer:
    async def attempt(candidate: Candidate, seconds: float) -> Answer:
        status, raw = await _attempt_json(candidate, build(candidate), seconds)
        return Answer(parse(candidate, status, raw), candidate.deployment.name)

    return await _first_success(candidates, attempt, model, deadline)


async def open_stream(
    candidates: tuple[Candidate, ...],
    build: BuildRequest,
    request_body: JSONObject,
    model: str,
    deadline: float,
) -> OpenStream:
    async def attempt(candidate: Candidate, seconds: float) -> OpenStream:
        return await _attempt_stream(candidate, build(candidate), request_body, seconds)

    return await _first_success(candidates, attempt, model, deadline)


async def _attempt_stream(
    candidate: Candidate, request: UpstreamRequest, request_body: JSONObject, seconds: float
) -> OpenStream:
    response = await candidate.client.open(request, seconds=seconds, stream=True)
    if response.status >= 300:
        raise await _classify(candidate, response)
    translator = candidate.adapter.stream_translator(request_body)
    decoder = SSEDecoder()
    chunks = response.iter_chunks()
    try:
        first = await _first_output(chunks, decoder, translator)
    except BaseException:
        response.abort()
        raise
    rest = _pump(response, chunks, decoder, translator)
    return OpenStream(first, rest, candidate.deployment.name)


async def _first_output(
    chunks: AsyncIterator[bytes], decoder: SSEDecoder, translator: StreamTranslator
) -> bytes:
    """Read until the translator has something to send (or the stream ends)."""
    async for chunk in chunks:
        out: list[bytes] = []
        for event in decoder.feed(chunk):
            out.extend(translator.feed(event))
        if out:
            return b"".join(out)
    return _flush(decoder, translator)


def _flush(decoder: SSEDecoder, translator: StreamTranslator) -> bytes:
    out: list[bytes] = []
    for event in decoder.close():
        out.extend(translator.feed(event))
    out.extend(translator.close())
    return b"".join(out)


async def _pump(
    response: UpstreamResponse,
    chunks: AsyncIterator[bytes],
    decoder: SSEDecoder,
    translator: StreamTranslator,
) -> AsyncIterator[bytes]:
    """The rest of a committed stream; a failure now ends it with an error event."""
    finished = False
    try:
        async for chunk in chunks:
            out: list[bytes] = []
            for event in decoder.feed(chunk):
                out.extend(translator.feed(event))
            if out:
                yield b"".join(out)
        finished = True
        tail = _flush(decoder, translator)
        if tail:
            yield tail
    except UpstreamError as error:
        yield error_event(error)
    finally:
        # A stream cut short (upstream failure, client gone) leaves its
        # connection unusable; a finished one goes back to the pool.
        if finished:
            response.close()
        else:
            response.abort()


def error_event(error: ProxyError) -> bytes:
    """An OpenAI-shaped error as an SSE event: how OpenAI itself ends a failed stream."""
    return b"data: " + orjson.dumps(error.to_dict()) + b"\n\n"
