"""Cache warming over a memory cache on a fake clock: popularity, rounds, bounds, stats."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from clocks import FakeClock

from proxyapi.cache import warming
from proxyapi.cache.codec import Codec
from proxyapi.cache.memory import MemoryCache
from proxyapi.cache.warming import Warmer
from proxyapi.config.caching import CacheWarming

INTERVAL = 10  # a round refreshes what has less than 15 s left
CATEGORY = "responses"


@pytest.fixture
def cache(clock: FakeClock) -> MemoryCache:
    return MemoryCache(codec=Codec(), clock=clock)


def warmer_of(cache: MemoryCache, **options: Any) -> Warmer:
    options.setdefault("interval", INTERVAL)
    options.setdefault("preload_threshold", 2)
    return Warmer(cache, CacheWarming(**options))


class Upstream:
    """Fetchers that count their calls and how many ran at once."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.running = 0
        self.peak = 0

    def fetcher(self, key: str, value: Any = None) -> Callable[[], Awaitable[Any]]:
        async def fetch() -> Any:
            self.calls.append(key)
            self.running += 1
            self.peak = max(self.peak, self.running)
            try:
                await asyncio.sleep(0.001)
            finally:
                self.running -= 1
            return value if value is not None else f"fresh {key}".encode()

        return fetch

    async def by_key(self, key: str) -> bytes:
        return await self.fetcher(key)()


async def failing() -> bytes:
    raise ConnectionError("upstream down")


def popular_entry(
    warmer: Warmer, upstream: Upstream, key: str, *, ttl_left: float, hits: int = 2
) -> None:
    """A stored answer with ``ttl_left`` seconds to live, tracked and hit ``hits`` times."""
    assert isinstance(warmer.cache, MemoryCache)
    warmer.cache.set_now(key, f"old {key}".encode(), ttl=ttl_left, category=CATEGORY)
    warmer.track(key, upstream.fetcher(key), 600, CATEGORY)
    for _ in range(hits):
        warmer.hit(key)


def test_hits_on_a_tracked_key_make_it_popular_at_the_threshold(cache: MemoryCache) -> None:
    warmer = warmer_of(cache, preload_threshold=3)
    warmer.track("a", Upstream().fetcher("a"), 60, CATEGORY)
    warmer.track("b", Upstream().fetcher("b"), 60, CATEGORY)
    for _ in range(2):
        warmer.hit("a")
    assert warmer.popular() == []
    warmer.hit("a")
    warmer.hit("b")
    assert warmer.popular() == ["a"]
    assert warmer.stats()["tracked_keys"] == 2
    assert warmer.stats()["popular_keys"] == 1


def test_hits_on_an_untracked_key_are_ignored(cache: MemoryCache) -> None:
    warmer = warmer_of(cache, preload_threshold=1)
    warmer.hit("never-stored")
    assert warmer.popular() == []
    assert warmer.stats()["tracked_keys"] == 0
    assert warmer.stats()["warm_hit_rate"] == 0.0


def test_tracking_a_key_again_keeps_its_hits(cache: MemoryCache) -> None:
    warmer = warmer_of(cache, preload_threshold=2)
    warmer.track("a", Upstream().fetcher("a"), 60, CATEGORY)
    warmer.hit("a")
    warmer.track("a", Upstream().fetcher("a"), 60, CATEGORY)
    warmer.hit("a")
    assert warmer.popular() == ["a"]


async def test_a_round_refetches_only_popular_keys_about_to_expire(cache: MemoryCache) -> None:
    warmer = warmer_of(cache)
    upstream = Upstream()
    popular_entry(warmer, upstream, "due", ttl_left=14)
    popular_entry(warmer, upstream, "fresh", ttl_left=16)
    popular_entry(warmer, upstream, "unpopular", ttl_left=5, hits=1)
    assert await warmer.run_once() == {"due": 1, "warmed": 1}
    assert upstream.calls == ["due"]
    assert cache.get_now("due") == b"fresh due"
    assert await cache.ttl("due") == 600
    assert cache.get_now("fresh") == b"old fresh"
    assert cache.get_now("unpopular") == b"old unpopular"
    stats = warmer.stats()
    assert (stats["rounds"], stats["warmup_operations"]) == (1, 1)


async def test_a_round_fetches_back_a_popular_key_already_gone(
    cache: MemoryCache, clock: FakeClock
) -> None:
    warmer = warmer_of(cache)
    upstream = Upstream()
    popular_entry(warmer, upstream, "k", ttl_left=1)
    clock.advance(2)
    assert "k" not in cache
    assert await warmer.run_once() == {"due": 1, "warmed": 1}
    assert cache.get_now("k") == b"fresh k"


async def test_a_round_warms_at_most_the_batch_size_most_recently_hit_first(
    cache: MemoryCache,
) -> None:
    warmer = warmer_of(cache, warm_batch_size=2)
    upstream = Upstream()
    for key in ("k0", "k1", "k2", "k3", "k4"):
        popular_entry(warmer, upstream, key, ttl_left=5)
    warmer.hit("k1")
    assert await warmer.run_once() == {"due": 2, "warmed": 2}
    assert sorted(upstream.calls) == ["k1", "k4"]


async def test_a_round_runs_at_most_max_concurrent_warms_fetchers_at_once(
    cache: MemoryCache,
) -> None:
    warmer = warmer_of(cache, max_concurrent_warms=2, warm_batch_size=10)
    upstream = Upstream()
    for i in range(6):
        popular_entry(warmer, upstream, f"k{i}", ttl_left=5)
    assert await warmer.run_once() == {"due": 6, "warmed": 6}
    assert len(upstream.calls) == 6
    assert upstream.peak == 2


async def test_a_failing_fetcher_is_counted_and_leaves_the_cache_unchanged(
    cache: MemoryCache,
) -> None:
    warmer = warmer_of(cache)
    cache.set_now("k", b"old", ttl=5, category=CATEGORY)
    warmer.track("k", failing, 600, CATEGORY)
    warmer.hit("k")
    warmer.hit("k")
    assert await warmer.run_once() == {"due": 1, "warmed": 0}
    assert cache.get_now("k") == b"old"
    assert await cache.ttl("k") == 5
    stats = warmer.stats()
    assert (stats["warm_failures"], stats["warmup_operations"]) == (1, 0)
    assert stats["warm_coverage"] == 0.0


async def test_warmup_fetches_and_stores_each_key(cache: MemoryCache) -> None:
    warmer = warmer_of(cache, max_concurrent_warms=2)
    upstream = Upstream()
    keys = [f"k{i}" for i in range(5)]
    assert await warmer.warmup(keys, upstream.by_key, ttl=120, category=CATEGORY) == 5
    assert sorted(upstream.calls) == keys
    assert upstream.peak == 2
    for key in keys:
        assert cache.get_now(key, CATEGORY) == f"fresh {key}".encode()
        assert await cache.ttl(key) == 120
    assert warmer.stats()["warmup_operations"] == 5


async def test_warmup_counts_keys_it_could_not_fetch(cache: MemoryCache) -> None:
    warmer = warmer_of(cache)

    async def some_fail(key: str) -> bytes:
        if key == "bad":
            raise TimeoutError
        return b"ok"

    assert await warmer.warmup(["good", "bad"], some_fail) == 1
    assert "bad" not in cache
    assert cache.get_now("good") == b"ok"
    assert warmer.stats()["warm_failures"] == 1


async def test_stats_count_hits_served_by_warmed_entries(cache: MemoryCache) -> None:
    warmer = warmer_of(cache)
    upstream = Upstream()
    popular_entry(warmer, upstream, "warmed", ttl_left=5)
    popular_entry(warmer, upstream, "fresh", ttl_left=100)
    await warmer.run_once()
    warmer.hit("warmed")
    warmer.hit("warmed")
    stats = warmer.stats()
    assert stats["warm_hits"] == 2
    assert stats["warm_hit_rate"] == round(2 / 6, 4)
    assert stats["warm_coverage"] == 0.5
    assert (stats["popular_keys"], stats["rounds"]) == (2, 1)


def test_at_most_max_tracked_keys_are_remembered_least_recently_used_dropped_first(
    cache: MemoryCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(warming, "MAX_TRACKED", 3)
    warmer = warmer_of(cache, preload_threshold=1)
    upstream = Upstream()
    for key in ("a", "b", "c"):
        warmer.track(key, upstream.fetcher(key), 60, CATEGORY)
    warmer.hit("a")
    warmer.track("d", upstream.fetcher("d"), 60, CATEGORY)
    warmer.track("e", upstream.fetcher("e"), 60, CATEGORY)
    assert warmer.stats()["tracked_keys"] == 3
    for key in ("b", "c", "d", "e"):
        warmer.hit(key)
    assert sorted(warmer.popular()) == ["a", "d", "e"]


@pytest.mark.parametrize(
    "options", [{"enabled": False}, {"preload_popular": False}], ids=["disabled", "no-preload"]
)
async def test_start_does_nothing_unless_enabled_with_preload_popular(
    cache: MemoryCache, options: dict[str, bool]
) -> None:
    warmer = warmer_of(cache, **options)
    await warmer.start()
    assert not warmer.stats()["running"]
    await warmer.stop()


async def test_start_runs_the_loop_until_stopped(cache: MemoryCache) -> None:
    warmer = warmer_of(cache)
    await warmer.start()
    assert warmer.stats()["running"]
    await warmer.stop()
    assert not warmer.stats()["running"]
    assert warmer.stats()["rounds"] == 0
