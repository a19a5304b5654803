"""Sending one request to its candidates in priority order, falling back on failure.

Retryable failures (connection errors, timeouts, 429, 5xx, a provider refusing
our key) move on to the next candidate; anything else is the client's problem
and is answered at once. A stream is committed only once its first translated
chunk exists, so a stream that fails before its first byte still falls back.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TypeVar

import orjson

from proxyapi.errors import (
    AllProvidersFailed,
    CircuitOpen,
    NoProviderAvailable,
    ProviderOverLimit,
    ProxyError,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
)
from proxyapi.gateway import Candidate
from proxyapi.observability.access import RequestRecord
from proxyapi.observability.metrics import (
    CLIENT_ERROR,
    ERROR,
    RATE_LIMITED,
    SUCCESS,
    TIMEOUT,
    Metrics,
)
from proxyapi.observability.tracing import AttributeValue, Tracing
from proxyapi.pipeline.response_checks import ResponseChecks
from proxyapi.providers.base import JSONObject, StreamTranslator, UpstreamRequest
from proxyapi.ratelimit.limiter import BackendUnavailable, RateLimiter
from proxyapi.resilience.chaos import ChaosMonkey
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
    attempts: int = 1
    cache: str | None = None  # X-Cache: HIT, MISS or BYPASS when the response cache is on


@dataclass(slots=True)
class OpenStream:
    """A committed stream: the first OpenAI SSE bytes, and an iterator over the rest."""

    first: bytes
    rest: AsyncIterator[bytes]
    provider: str
    attempts: int = 1
    cache: str | None = None


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
    tried = [e for e in errors if not isinstance(e, CircuitOpen)]
    if not tried:
        names = ", ".join(e.provider for e in errors)
        return NoProviderAvailable(
            f"Every provider for model '{model}' is failing; their circuit breakers are open "
            f"({names})."
        )
    if all(isinstance(e, UpstreamTimeout) for e in tried):
        return UpstreamTimeout(
            f"Every provider for model '{model}' timed out.", provider=errors[-1].provider
        )
    if all(isinstance(e, UpstreamRateLimited) for e in tried):
        # Every provider is limited: the client may retry when the first one frees up.
        return min(tried, key=lambda e: e.retry_after if e.retry_after is not None else math.inf)
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


@dataclass(slots=True)
class Call:
    """One client request on its way upstream: what it asks for and by when.

    ``path`` is the client's route, which chaos engineering's excluded_endpoints
    name; ``attempts`` counts upstream calls, retries and fallbacks included.
    """

    model: str
    deadline: float
    path: str
    chaos: ChaosMonkey | None = None
    limiter: RateLimiter | None = None
    metrics: Metrics | None = None
    tracing: Tracing | None = None
    checks: ResponseChecks | None = None  # validation.response, for streams
    attempts: int = 0


async def _first_success(
    candidates: tuple[Candidate, ...],
    attempt: Callable[[Candidate, float], Awaitable[T]],
    call: Call,
) -> T:
    """Each candidate in priority order, each with its retries, until one succeeds.

    An open circuit breaker skips its provider at once. A failure that cannot
    succeed anywhere (a client error) goes straight back to the client; the others
    are retried per the provider's policy, then the next candidate is tried. The
    deadline bounds all of it together.
    """
    errors: list[UpstreamError] = []
    last = len(candidates) - 1
    for index, candidate in enumerate(candidates):
        if errors and call.metrics is not None:
            call.metrics.fallbacks.labels(errors[-1].provider or "", call.model).inc()
        waiting = candidate.client.cooldown_left()
        if waiting > 0:
            # The provider asked for a pause (429 + Retry-After): honour it for every
            # request, not only the one that was told.
            errors.append(_cooling_down(candidate, waiting))
            continue
        if not candidate.breaker.allows():
            errors.append(CircuitOpen(candidate.deployment.name))
            continue
        try:
            result = await _with_retries(candidate, attempt, call)
        except UpstreamError as error:
            if not error.is_retryable:
                _observe(call, success=False)
                raise
            if index < last:
                logger.info(
                    "provider %s failed (%s); trying the next one", error.provider, error.code
                )
            errors.append(error)
        else:
            _observe(call, success=True)
            return result
    _observe(call, success=False)
    if _remaining(call.deadline) <= 0 and not any(isinstance(e, UpstreamTimeout) for e in errors):
        errors.append(UpstreamTimeout(f"The request for model '{call.model}' ran out of time."))
    raise final_error(errors, call.model)


def _cooling_down(candidate: Candidate, seconds: float) -> UpstreamRateLimited:
    name = candidate.deployment.name
    return UpstreamRateLimited(
        f"Provider '{name}' asked for a pause; retry after {seconds:.1f} s.",
        retry_after=seconds,
        provider=name,
    )


def _observe(call: Call, *, success: bool) -> None:
    """Chaos engineering's safety judges whole requests, after retries and fallbacks."""
    if call.chaos is not None:
        call.chaos.record(success)


async def _call_once(
    candidate: Candidate,
    attempt: Callable[[Candidate, float], Awaitable[T]],
    seconds: float,
    call: Call,
) -> T:
    """One upstream call, with any fault chaos engineering injects in front of it.

    Faults go through the same error path as real failures, so they exercise the
    real retries, breakers and fallbacks.
    """
    if call.chaos is not None:
        name = candidate.deployment.name
        fault = call.chaos.fault_for(name, call.path)
        if fault is not None:
            try:
                async with asyncio.timeout(seconds):
                    await call.chaos.apply(fault, name)
            except TimeoutError:
                raise UpstreamTimeout(
                    f"Provider '{name}' did not answer in time.", provider=name
                ) from None
    return await attempt(candidate, seconds)


async def _with_retries(
    candidate: Candidate,
    attempt: Callable[[Candidate, float], Awaitable[T]],
    call: Call,
) -> T:
    """One provider: call, and retry what its policy allows. The breaker is already passed.

    Exactly one of record_success / record_failure / release answers each
    ``allows()``, as the breaker requires.
    """
    policy, stats, breaker = candidate.retry, candidate.retry_stats, candidate.breaker
    tries = 0
    while True:
        seconds = min(candidate.deployment.timeout, _remaining(call.deadline))
        if seconds <= 0:
            breaker.release()
            raise UpstreamTimeout(
                "The request ran out of time.", provider=candidate.deployment.name
            )
        if candidate.quota and call.limiter is not None:
            wait = await _over_quota(candidate, call.limiter)
            if wait is not None:
                breaker.release()
                if call.metrics is not None:
                    call.metrics.rate_limited.labels("provider").inc()
                raise ProviderOverLimit(candidate.deployment.name, wait)
        stats.record_attempt(tries)
        call.attempts += 1
        started = time.perf_counter()
        try:
            result = await _traced_call(candidate, attempt, seconds, call, tries)
        except UpstreamError as raw_error:
            error = scrub(raw_error, candidate)
            _count_call(call, candidate, tries, outcome_of(error), started)
            if not error.is_retryable:
                breaker.release()  # The provider answered; the request was at fault.
                raise
            if isinstance(error, UpstreamRateLimited):
                # A rate limit is the provider working as designed, not failing: it
                # pauses the provider (Retry-After) instead of opening its breaker.
                breaker.release()
                if error.retry_after:
                    candidate.client.cool_down(error.retry_after)
            else:
                breaker.record_failure()
            stats.record_failure()
            policy.record(False)
            delay = policy.next_delay(tries, error)
            if delay is None or delay >= _remaining(call.deadline) or not breaker.allows():
                raise
            tries += 1
            await asyncio.sleep(delay)
            continue
        except BaseException:
            breaker.release()
            raise
        _count_call(call, candidate, tries, SUCCESS, started)
        breaker.record_success()
        stats.record_success(tries)
        policy.record(True)
        return result


def outcome_of(error: UpstreamError) -> str:
    """The ``status`` label of a failed upstream call."""
    if isinstance(error, UpstreamTimeout):
        return TIMEOUT
    if isinstance(error, UpstreamRateLimited):
        return RATE_LIMITED
    return ERROR if error.is_retryable else CLIENT_ERROR


def _count_call(call: Call, candidate: Candidate, tries: int, outcome: str, started: float) -> None:
    if call.metrics is not None:
        seconds = time.perf_counter() - started
        call.metrics.note(
            _count_upstream, (candidate.deployment.name, call.model, outcome, tries), seconds
        )


def _count_upstream(metrics: Metrics, call: tuple[str, str, str, int], seconds: float) -> None:
    """One upstream call's metrics (run by ``Metrics.apply``, in a batch)."""
    name, model, outcome, tries = call
    metrics.record_upstream(name, model, outcome, seconds)
    if tries:
        metrics.retries.labels(name).inc()


async def _traced_call(
    candidate: Candidate,
    attempt: Callable[[Candidate, float], Awaitable[T]],
    seconds: float,
    call: Call,
    tries: int,
) -> T:
    """``_call_once``, inside a ``provider.attempt`` span when tracing is on."""
    if call.tracing is None:
        return await _call_once(candidate, attempt, seconds, call)
    attributes: dict[str, AttributeValue] = {
        "gen_ai.system": candidate.deployment.type,
        "proxyapi.provider": candidate.deployment.name,
        "gen_ai.request.model": call.model,
        "proxyapi.retry": tries,
    }
    with call.tracing.span("provider.attempt", attributes) as span:
        try:
            result = await _call_once(candidate, attempt, seconds, call)
        except UpstreamError as error:
            span.set_attribute("proxyapi.outcome", outcome_of(error))
            span.set_attribute("http.response.status_code", error.http_status)
            raise
        span.set_attribute("proxyapi.outcome", SUCCESS)
        if isinstance(result, Answer):
            record = _usage_of(result.body)
            if record is not None:
                span.set_attribute("gen_ai.usage.input_tokens", record[0])
                span.set_attribute("gen_ai.usage.output_tokens", record[1])
        return result


def _usage_of(body: bytes) -> tuple[int, int] | None:
    probe = RequestRecord("", "", 0.0)
    if not probe.read_usage(body):
        return None
    return probe.prompt_tokens or 0, probe.completion_tokens or 0


async def _over_quota(candidate: Candidate, limiter: RateLimiter) -> float | None:
    """Seconds until the provider's own limits allow a call; None when they allow it now.

    Unreachable limiter: the call goes ahead (the client check already applied
    fail_open / fail closed to this request).
    """
    try:
        outcome = await limiter.check(candidate.quota)
    except BackendUnavailable:
        return None
    if outcome is None or outcome.allowed:
        return None
    return outcome.retry_after


async def call_json(
    candidates: tuple[Candidate, ...],
    build: BuildRequest,
    parse: Callable[[Candidate, int, bytes], bytes],
    call: Call,
) -> Answer:
    async def attempt(candidate: Candidate, seconds: float) -> Answer:
        status, raw = await _attempt_json(candidate, _traced(build(candidate), call), seconds)
        return Answer(parse(candidate, status, raw), candidate.deployment.name)

    answer = await _first_success(candidates, attempt, call)
    answer.attempts = call.attempts
    return answer


async def open_stream(
    candidates: tuple[Candidate, ...],
    build: BuildRequest,
    request_body: JSONObject,
    call: Call,
) -> OpenStream:
    async def attempt(candidate: Candidate, seconds: float) -> OpenStream:
        return await _attempt_stream(
            candidate, _traced(build(candidate), call), request_body, seconds, call.checks
        )

    stream = await _first_success(candidates, attempt, call)
    stream.attempts = call.attempts
    return stream


def _traced(request: UpstreamRequest, call: Call) -> UpstreamRequest:
    """The request with the current span's ``traceparent``, when tracing is on."""
    if call.tracing is None:
        return request
    headers = dict(request.headers)
    call.tracing.inject(headers)
    return replace(request, headers=headers)


async def _attempt_stream(
    candidate: Candidate,
    request: UpstreamRequest,
    request_body: JSONObject,
    seconds: float,
    checks: ResponseChecks | None = None,
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
    name = candidate.deployment.name
    if checks is not None:
        try:
            first = checks.first(first, name)
        except BaseException:
            response.abort()
            raise
    rest = _pump(response, chunks, decoder, translator, checks, len(first), name)
    return OpenStream(first, rest, name)


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
    checks: ResponseChecks | None = None,
    size: int = 0,
    provider: str = "",
) -> AsyncIterator[bytes]:
    """The rest of a committed stream; a failure now ends it with an error event.

    ``validation.response`` (size limit, sanitizing) is applied here, in the loop
    that already exists, rather than by one more generator around it.
    """
    finished = False
    try:
        async for chunk in chunks:
            out: list[bytes] = []
            for event in decoder.feed(chunk):
                out.extend(translator.feed(event))
            if out:
                data = b"".join(out)
                if checks is not None:
                    size += len(data)
                    data = checks.chunk(data, size, provider)
                yield data
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
