"""The response cache on the request path: client directives, scopes, statuses, streams."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from clocks import FakeClock
from starlette.types import Scope

from proxyapi.cache.codec import Codec
from proxyapi.cache.memory import MemoryCache
from proxyapi.cache.warming import Warmer
from proxyapi.config.caching import CacheWarming
from proxyapi.errors import InvalidRequest
from proxyapi.pipeline.caching import (
    CATEGORY,
    KEY_ID,
    Directives,
    ResponseCache,
    Ticket,
    directives_of,
)

BODY = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hello"}]}
ANSWER = b'{"id":"chatcmpl-1","choices":[]}'
DEFAULT_TTL = 600.0
FIRST = b'data: {"choices":[{"delta":{"content":"He"}}]}\n\n'
MIDDLE = b'data: {"choices":[{"delta":{"content":"llo"}}]}\n\n'
DONE = b"data: [DONE]\n\n"
ERROR = b'data: {"error":{"message":"upstream failed","type":"server_error"}}\n\n'


def scope_of(key_id: str | None = "key-1", headers: Sequence[tuple[bytes, bytes]] = ()) -> Scope:
    scope: dict[str, Any] = {"type": "http", "headers": list(headers)}
    if key_id is not None:
        scope[KEY_ID] = key_id
    return scope


def with_headers(*headers: tuple[bytes, bytes]) -> Scope:
    return scope_of(headers=headers)


@pytest.fixture
def memory(clock: FakeClock) -> MemoryCache:
    return MemoryCache(codec=Codec(), clock=clock)


@pytest.fixture
def responses(memory: MemoryCache) -> ResponseCache:
    return ResponseCache(memory, per_key=True, default_ttl=DEFAULT_TTL)


def ticket_for(responses: ResponseCache, scope: Scope, endpoint: str = "chat") -> Ticket:
    return responses.ticket(scope, "openai", endpoint, BODY)


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        await asyncio.sleep(0)
        yield part


async def consume(stream: AsyncIterator[bytes]) -> list[bytes]:
    return [chunk async for chunk in stream]


# Directives.


def test_without_directives_the_cache_is_looked_up_and_stored_with_the_default_ttl() -> None:
    assert directives_of(scope_of()) == Directives(lookup=True, store=True, ttl=None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"no-cache", Directives(lookup=False, store=True)),
        (b"no-store", Directives(lookup=True, store=False)),
        (b"No-Cache", Directives(lookup=False, store=True)),
        (b"NO-STORE", Directives(lookup=True, store=False)),
        (b"no-cache, no-store", Directives(lookup=False, store=False)),
        (b"no-store,no-cache", Directives(lookup=False, store=False)),
        (b"max-age=0", Directives()),
        (b"max-age=0, no-store", Directives(lookup=True, store=False)),
        (b"private", Directives()),
    ],
)
def test_cache_control_directives(value: bytes, expected: Directives) -> None:
    assert directives_of(with_headers((b"cache-control", value))) == expected


def test_directives_in_separate_cache_control_headers_add_up() -> None:
    scope = with_headers((b"cache-control", b"no-cache"), (b"cache-control", b"no-store"))
    assert directives_of(scope) == Directives(lookup=False, store=False)


@pytest.mark.parametrize(
    ("value", "ttl"), [(b"60", 60.0), (b" 120 ", 120.0), (b"1", 1.0), (b"2592000", 2592000.0)]
)
def test_the_ttl_header_sets_the_entrys_ttl(value: bytes, ttl: float) -> None:
    assert directives_of(with_headers((b"x-proxyapi-cache-ttl", value))).ttl == ttl


@pytest.mark.parametrize(
    "value", [b"0", b"-1", b"abc", b"99999999", b"2592001", b"1.5", b"", b"+5", b"6 0"]
)
def test_an_invalid_ttl_header_is_an_invalid_request(value: bytes) -> None:
    with pytest.raises(InvalidRequest, match="x-proxyapi-cache-ttl"):
        directives_of(with_headers((b"x-proxyapi-cache-ttl", value)))


@pytest.mark.parametrize("value", [b"\xb2", b"1" * 5000], ids=["superscript-two", "5000-digits"])
def test_a_ttl_header_int_cannot_parse_is_an_invalid_request(value: bytes) -> None:
    with pytest.raises(InvalidRequest):
        directives_of(with_headers((b"x-proxyapi-cache-ttl", value)))


# Scopes and statuses.


async def test_per_key_scope_keeps_one_owners_answers_from_another(
    responses: ResponseCache,
) -> None:
    mine = ticket_for(responses, scope_of("key-1"))
    theirs = ticket_for(responses, scope_of("key-2"))
    assert mine.key != theirs.key
    responses.store(mine, ANSWER)
    await responses.drain()
    assert await responses.lookup(theirs) is None
    assert theirs.status == "MISS"
    assert await responses.lookup(ticket_for(responses, scope_of("key-1"))) == ANSWER


async def test_per_key_scope_shares_between_requests_without_a_key(
    responses: ResponseCache,
) -> None:
    responses.store(ticket_for(responses, scope_of(None)), ANSWER)
    await responses.drain()
    assert await responses.lookup(ticket_for(responses, scope_of(None))) == ANSWER
    assert await responses.lookup(ticket_for(responses, scope_of("key-1"))) is None


async def test_global_scope_shares_answers_between_owners(memory: MemoryCache) -> None:
    responses = ResponseCache(memory, per_key=False, default_ttl=DEFAULT_TTL)
    mine = ticket_for(responses, scope_of("key-1"))
    theirs = ticket_for(responses, scope_of("key-2"))
    assert mine.key == theirs.key
    responses.store(mine, ANSWER)
    await responses.drain()
    assert await responses.lookup(theirs) == ANSWER
    assert theirs.status == "HIT"


async def test_the_endpoint_separates_answers(responses: ResponseCache) -> None:
    responses.store(ticket_for(responses, scope_of(), "chat"), ANSWER)
    await responses.drain()
    assert await responses.lookup(ticket_for(responses, scope_of(), "chat-stream")) is None


async def test_a_lookup_is_a_miss_then_a_hit_once_stored(responses: ResponseCache) -> None:
    first = ticket_for(responses, scope_of())
    assert first.status == "MISS"
    assert await responses.lookup(first) is None
    assert first.status == "MISS"
    responses.store(first, ANSWER)
    await responses.drain()
    second = ticket_for(responses, scope_of())
    assert await responses.lookup(second) == ANSWER
    assert second.status == "HIT"


async def test_no_cache_bypasses_the_lookup_but_still_stores(
    responses: ResponseCache, memory: MemoryCache
) -> None:
    plain = ticket_for(responses, scope_of())
    responses.store(plain, b"old")
    await responses.drain()
    bypass = ticket_for(responses, with_headers((b"cache-control", b"no-cache")))
    assert await responses.lookup(bypass) is None
    assert bypass.status == "BYPASS"
    responses.store(bypass, ANSWER)
    await responses.drain()
    assert memory.get_now(plain.key, CATEGORY) == ANSWER


async def test_no_store_stores_nothing(responses: ResponseCache, memory: MemoryCache) -> None:
    ticket = ticket_for(responses, with_headers((b"cache-control", b"no-store")))
    responses.store(ticket, ANSWER)
    await responses.drain()
    assert ticket.key not in memory
    assert len(memory) == 0


async def test_an_answer_is_stored_in_the_responses_category_with_the_default_ttl(
    responses: ResponseCache, memory: MemoryCache
) -> None:
    ticket = ticket_for(responses, scope_of())
    responses.store(ticket, ANSWER)
    await responses.drain()
    assert await memory.ttl(ticket.key) == DEFAULT_TTL
    assert await memory.get_categories() == [CATEGORY]


async def test_the_ttl_header_sets_how_long_the_answer_is_kept(
    responses: ResponseCache, memory: MemoryCache, clock: FakeClock
) -> None:
    ticket = ticket_for(responses, with_headers((b"x-proxyapi-cache-ttl", b"60")))
    responses.store(ticket, ANSWER)
    await responses.drain()
    assert await memory.ttl(ticket.key) == 60
    clock.advance(60)
    assert await responses.lookup(ticket_for(responses, scope_of())) is None


async def test_a_stored_value_that_is_not_bytes_is_a_miss(
    responses: ResponseCache, memory: MemoryCache
) -> None:
    ticket = ticket_for(responses, scope_of())
    memory.set_now(ticket.key, {"not": "bytes"}, category=CATEGORY)
    assert await responses.lookup(ticket) is None
    assert ticket.status == "MISS"


# Streams.


async def test_a_complete_stream_passes_through_and_is_stored_once_consumed(
    responses: ResponseCache, memory: MemoryCache
) -> None:
    ticket = ticket_for(responses, scope_of(), "chat-stream")
    stream = responses.store_stream(ticket, FIRST, chunks(MIDDLE, DONE))
    assert await anext(stream) == MIDDLE
    await responses.drain()
    assert ticket.key not in memory
    assert await consume(stream) == [DONE]
    await responses.drain()
    assert memory.get_now(ticket.key, CATEGORY) == FIRST + MIDDLE + DONE


async def test_a_stream_that_is_all_in_its_first_chunk_is_stored(
    responses: ResponseCache, memory: MemoryCache
) -> None:
    ticket = ticket_for(responses, scope_of(), "chat-stream")
    assert await consume(responses.store_stream(ticket, FIRST + DONE, chunks())) == []
    await responses.drain()
    assert memory.get_now(ticket.key, CATEGORY) == FIRST + DONE


@pytest.mark.parametrize(
    "rest",
    [(MIDDLE,), (ERROR, DONE), (MIDDLE, ERROR, DONE), (DONE, MIDDLE)],
    ids=["no-done", "error-then-done", "error-midway", "done-not-last"],
)
async def test_a_stream_without_a_clean_end_is_not_stored(
    responses: ResponseCache, memory: MemoryCache, rest: tuple[bytes, ...]
) -> None:
    ticket = ticket_for(responses, scope_of(), "chat-stream")
    assert await consume(responses.store_stream(ticket, FIRST, chunks(*rest))) == list(rest)
    await responses.drain()
    assert len(memory) == 0


async def test_a_stream_whose_consumer_stops_early_is_not_stored(
    responses: ResponseCache, memory: MemoryCache
) -> None:
    ticket = ticket_for(responses, scope_of(), "chat-stream")
    stream = responses.store_stream(ticket, FIRST, chunks(MIDDLE, MIDDLE, DONE))
    assert await anext(stream) == MIDDLE
    await stream.aclose()  # type: ignore[attr-defined]
    await responses.drain()
    assert len(memory) == 0


async def test_a_stream_that_fails_upstream_is_not_stored(
    responses: ResponseCache, memory: MemoryCache
) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield MIDDLE
        raise ConnectionResetError("upstream hung up")

    ticket = ticket_for(responses, scope_of(), "chat-stream")
    with pytest.raises(ConnectionResetError):
        await consume(responses.store_stream(ticket, FIRST, broken()))
    await responses.drain()
    assert len(memory) == 0


async def test_a_no_store_stream_is_not_stored(
    responses: ResponseCache, memory: MemoryCache
) -> None:
    ticket = ticket_for(
        responses, with_headers((b"cache-control", b"no-store")), endpoint="chat-stream"
    )
    await consume(responses.store_stream(ticket, FIRST, chunks(MIDDLE, DONE)))
    await responses.drain()
    assert len(memory) == 0


# Draining.


class SlowCache(MemoryCache):
    """A memory cache whose writes take a little while, as a disk or Redis write would."""

    async def set(self, *args: Any, **kwargs: Any) -> bool:
        await asyncio.sleep(0.01)
        return await super().set(*args, **kwargs)


class BrokenCache(MemoryCache):
    async def set(self, *args: Any, **kwargs: Any) -> bool:
        raise OSError("disk full")


async def test_drain_waits_for_the_stores_in_flight(clock: FakeClock) -> None:
    cache = SlowCache(codec=Codec(), clock=clock)
    responses = ResponseCache(cache, per_key=True, default_ttl=DEFAULT_TTL)
    tickets = [responses.ticket(scope_of(f"key-{i}"), "openai", "chat", BODY) for i in range(3)]
    for ticket in tickets:
        responses.store(ticket, ANSWER)
    await asyncio.sleep(0)
    assert len(cache) == 0
    await responses.drain()
    assert all(ticket.key in cache for ticket in tickets)
    await responses.drain()


async def test_drain_swallows_a_failed_store(clock: FakeClock) -> None:
    responses = ResponseCache(
        BrokenCache(codec=Codec(), clock=clock), per_key=True, default_ttl=DEFAULT_TTL
    )
    responses.store(ticket_for(responses, scope_of()), ANSWER)
    await responses.drain()


async def test_drain_with_nothing_in_flight_returns_at_once(responses: ResponseCache) -> None:
    await asyncio.wait_for(responses.drain(), timeout=1)


# The warmer.


@pytest.fixture
def warmer(memory: MemoryCache) -> Warmer:
    return Warmer(memory, CacheWarming(interval=10, preload_threshold=2))


@pytest.fixture
def warmed_responses(memory: MemoryCache, warmer: Warmer) -> ResponseCache:
    return ResponseCache(memory, per_key=True, default_ttl=DEFAULT_TTL, warmer=warmer)


async def test_hits_make_a_stored_answer_popular_with_the_warmer(
    warmed_responses: ResponseCache, warmer: Warmer
) -> None:
    async def refetch() -> bytes:
        return ANSWER

    ticket = ticket_for(warmed_responses, scope_of())
    warmed_responses.store(ticket, ANSWER, refetch)
    await warmed_responses.drain()
    assert warmer.stats()["tracked_keys"] == 1
    for _ in range(2):
        assert await warmed_responses.lookup(ticket_for(warmed_responses, scope_of())) == ANSWER
    assert warmer.popular() == [ticket.key]


async def test_the_warmer_refreshes_a_popular_answer_with_its_refetcher(
    warmed_responses: ResponseCache, warmer: Warmer, memory: MemoryCache, clock: FakeClock
) -> None:
    calls: list[int] = []

    async def refetch() -> bytes:
        calls.append(1)
        return b"refreshed"

    ticket = ticket_for(warmed_responses, with_headers((b"x-proxyapi-cache-ttl", b"60")))
    warmed_responses.store(ticket, ANSWER, refetch)
    await warmed_responses.drain()
    for _ in range(2):
        await warmed_responses.lookup(ticket_for(warmed_responses, scope_of()))
    clock.advance(50)
    assert await warmer.run_once() == {"due": 1, "warmed": 1}
    assert calls == [1]
    assert memory.get_now(ticket.key, CATEGORY, count=False) == b"refreshed"
    assert await memory.ttl(ticket.key) == 60


async def test_answers_stored_without_a_refetcher_or_with_no_store_are_not_tracked(
    warmed_responses: ResponseCache, warmer: Warmer
) -> None:
    async def refetch() -> bytes:
        return ANSWER

    warmed_responses.store(ticket_for(warmed_responses, scope_of("key-1")), ANSWER)
    no_store = scope_of("key-2", [(b"cache-control", b"no-store")])
    warmed_responses.store(ticket_for(warmed_responses, no_store), ANSWER, refetch)
    await warmed_responses.drain()
    assert warmer.stats()["tracked_keys"] == 0


async def test_a_miss_or_a_bypass_is_no_hit_for_the_warmer(
    warmed_responses: ResponseCache, warmer: Warmer
) -> None:
    async def refetch() -> bytes:
        return ANSWER

    ticket = ticket_for(warmed_responses, scope_of())
    await warmed_responses.lookup(ticket)
    warmed_responses.store(ticket, ANSWER, refetch)
    await warmed_responses.drain()
    bypass = ticket_for(warmed_responses, with_headers((b"cache-control", b"no-cache")))
    await warmed_responses.lookup(bypass)
    assert warmer.stats()["tracked_keys"] == 1
    assert warmer.stats()["warm_hit_rate"] == 0.0
    assert warmer.popular() == []


async def test_an_identical_request_waits_for_the_one_in_flight_and_gets_its_answer(
    responses: ResponseCache,
) -> None:
    leader, follower = (ticket_for(responses, scope_of()) for _ in range(2))
    assert await responses.lookup(leader) is None
    responses.lead(leader)
    waiting = asyncio.ensure_future(responses.lookup(follower))
    await asyncio.sleep(0)
    assert not waiting.done()
    responses.settle(leader, b"the answer")
    assert await waiting == b"the answer"
    assert (leader.status, follower.status) == ("MISS", "HIT")


async def test_when_the_request_in_flight_fails_the_waiters_go_upstream_themselves(
    responses: ResponseCache,
) -> None:
    leader, follower = (ticket_for(responses, scope_of()) for _ in range(2))
    responses.lead(leader)
    waiting = asyncio.ensure_future(responses.lookup(follower))
    await asyncio.sleep(0)
    responses.settle(leader, None)
    assert await waiting is None
    assert follower.status == "MISS"


async def test_another_owner_never_waits_for_a_request_it_may_not_see(
    responses: ResponseCache,
) -> None:
    responses.lead(ticket_for(responses, scope_of("key-1")))
    other = ticket_for(responses, scope_of("key-2"))
    assert await asyncio.wait_for(responses.lookup(other), timeout=1) is None
