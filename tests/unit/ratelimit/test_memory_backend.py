"""The in-process backend on a fake clock: sweeping, its size bound, a clock that goes back."""

from __future__ import annotations

import pytest
from clocks import FakeClock

from proxyapi.ratelimit.base import Bucket
from proxyapi.ratelimit.bucket import Limit
from proxyapi.ratelimit.memory import MemoryBackend

QUICK = Limit(capacity=2, rate=1.0)  # full again one second after a request
SLOW = Limit(capacity=100, rate=0.001)  # full again 1000 s after a request


def take(backend: MemoryBackend, key: str, limit: Limit) -> bool:
    return backend.take_now([Bucket(key, limit, "ip")]).allowed


def level(backend: MemoryBackend, key: str, limit: Limit) -> float:
    """The bucket's level, read by a request that is certain to be refused."""
    return backend.take_now([Bucket(key, limit, "ip")], cost=limit.capacity + 1).tokens[0]


def test_a_sweep_forgets_buckets_that_are_full_again(clock: FakeClock) -> None:
    backend = MemoryBackend(clock)
    take(backend, "quick", QUICK)
    take(backend, "slow", SLOW)
    assert len(backend) == 2
    clock.advance(5.0)
    backend.sweep(clock())
    assert len(backend) == 1
    assert level(backend, "slow", SLOW) == pytest.approx(99.005)


def test_a_sweep_keeps_a_bucket_until_the_moment_it_is_full(clock: FakeClock) -> None:
    backend = MemoryBackend(clock)
    take(backend, "quick", QUICK)
    backend.sweep(clock.now + 0.5)
    assert len(backend) == 1
    backend.sweep(clock.now + 1.0)
    assert len(backend) == 0


def test_a_forgotten_bucket_comes_back_full(clock: FakeClock) -> None:
    backend = MemoryBackend(clock)
    take(backend, "quick", QUICK)
    clock.advance(1.0)
    backend.sweep(clock())
    assert level(backend, "quick", QUICK) == QUICK.capacity


def test_buckets_are_swept_on_their_own_once_the_sweep_interval_has_passed(
    clock: FakeClock,
) -> None:
    backend = MemoryBackend(clock, sweep_interval=60.0)
    for key in ("a", "b", "c"):
        take(backend, key, QUICK)
    take(backend, "slow", SLOW)
    clock.advance(59.0)
    take(backend, "d", QUICK)
    assert len(backend) == 5
    clock.advance(1.0)
    take(backend, "e", QUICK)
    assert len(backend) == 2


def test_a_refused_request_creates_no_bucket(clock: FakeClock) -> None:
    backend = MemoryBackend(clock)
    assert not backend.take_now([Bucket("k", QUICK, "ip")], cost=3.0).allowed
    assert len(backend) == 0


def test_past_max_buckets_the_oldest_buckets_are_forgotten_first(clock: FakeClock) -> None:
    backend = MemoryBackend(clock, max_buckets=3)
    for key in ("a", "b", "c", "d", "e"):
        take(backend, key, SLOW)
    assert level(backend, "a", SLOW) == SLOW.capacity
    assert level(backend, "e", SLOW) == pytest.approx(SLOW.capacity - 1)


def test_the_table_never_holds_more_than_max_buckets(clock: FakeClock) -> None:
    backend = MemoryBackend(clock, max_buckets=3)
    sizes = []
    for key in ("a", "b", "c", "d", "e", "f"):
        take(backend, key, SLOW)
        sizes.append(len(backend))
    assert max(sizes) <= 3


def test_the_table_does_not_grow_with_the_number_of_clients(clock: FakeClock) -> None:
    backend = MemoryBackend(clock, max_buckets=10)
    sizes = []
    for client in range(1000):
        take(backend, f"ip:{client}", SLOW)
        sizes.append(len(backend))
    assert sizes[999] == sizes[99] < 100


def test_a_clock_that_went_back_neither_adds_tokens_nor_rewinds_the_stamp(
    clock: FakeClock,
) -> None:
    backend = MemoryBackend(clock)
    limit = Limit(capacity=3, rate=1.0)
    assert take(backend, "k", limit)
    assert take(backend, "k", limit)
    clock.now -= 50.0
    assert take(backend, "k", limit)
    assert not take(backend, "k", limit)
    clock.now += 50.0
    assert not take(backend, "k", limit)
    clock.advance(1.0)
    assert take(backend, "k", limit)
    assert not take(backend, "k", limit)


def test_a_clock_that_went_back_does_not_take_tokens_away(clock: FakeClock) -> None:
    backend = MemoryBackend(clock)
    limit = Limit(capacity=5, rate=1.0)
    take(backend, "k", limit)
    clock.now -= 3600.0
    assert level(backend, "k", limit) == 4.0


async def test_take_is_take_now_as_a_coroutine(clock: FakeClock) -> None:
    backend = MemoryBackend(clock)
    verdict = await backend.take([Bucket("k", QUICK, "ip")])
    assert (verdict.allowed, verdict.tokens) == (True, (1.0,))


async def test_close_forgets_every_bucket(clock: FakeClock) -> None:
    backend = MemoryBackend(clock)
    take(backend, "k", SLOW)
    await backend.close()
    assert len(backend) == 0
