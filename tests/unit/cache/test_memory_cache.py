"""The in-process cache on a fake clock: eviction order, both size bounds, smart TTL, the sweep."""

from __future__ import annotations

import asyncio
from typing import Any

from clocks import FakeClock

from proxyapi.cache.codec import Codec
from proxyapi.cache.memory import ENTRY_OVERHEAD, MemoryCache

VALUE = b"x" * 100
ENTRY = len(VALUE) + len("k0") + ENTRY_OVERHEAD  # the size of a two-character key holding VALUE


def plain(clock: FakeClock, **options: Any) -> MemoryCache:
    """A cache that never compresses, so entry sizes are exact."""
    return MemoryCache(codec=Codec(compress=False), clock=clock, **options)


def present(cache: MemoryCache, *candidates: str) -> list[str]:
    return [key for key in candidates if key in cache]


def test_eviction_takes_the_lowest_priority_first_then_the_least_recently_used(
    clock: FakeClock,
) -> None:
    cache = plain(clock, max_size=3)
    cache.set_now("a", VALUE)
    cache.set_now("b", VALUE)
    cache.set_now("c", VALUE, priority=5)
    cache.get_now("a")  # now "b" is the least recently used
    cache.set_now("d", VALUE)
    assert present(cache, "a", "b", "c", "d") == ["a", "c", "d"]
    cache.set_now("e", VALUE)
    assert present(cache, "a", "c", "d", "e") == ["c", "d", "e"]
    assert cache.get_sync_stats()["evictions"] == 2


def test_a_higher_priority_entry_outlives_any_number_of_lower_ones(clock: FakeClock) -> None:
    cache = plain(clock, max_size=2)
    cache.set_now("keep", VALUE, priority=3)
    for i in range(10):
        cache.set_now(f"low{i}", VALUE, priority=2)
    assert cache.get_now("keep") == VALUE
    assert cache.get_now("low9") == VALUE


def test_a_priority_out_of_range_is_taken_as_the_nearest_one(clock: FakeClock) -> None:
    cache = plain(clock, max_size=2)
    cache.set_now("high", VALUE, priority=99)
    cache.set_now("low", VALUE, priority=-1)
    cache.set_now("new", VALUE)
    assert present(cache, "high", "low", "new") == ["high", "new"]


def test_max_size_holds_after_every_set(clock: FakeClock) -> None:
    cache = plain(clock, max_size=5)
    for i in range(20):
        cache.set_now(f"k{i}", VALUE)
        assert len(cache) == min(i + 1, 5)


def test_max_memory_bytes_holds_after_every_set(clock: FakeClock) -> None:
    cache = plain(clock, max_memory_bytes=3 * ENTRY)
    for i in range(10):
        assert cache.set_now(f"k{i}", VALUE)
        assert cache.memory_usage_bytes <= 3 * ENTRY
    assert len(cache) == 3
    assert cache.memory_usage_bytes == 3 * ENTRY


def test_a_big_value_evicts_as_many_entries_as_it_needs(clock: FakeClock) -> None:
    cache = plain(clock, max_memory_bytes=4 * ENTRY)
    for i in range(4):
        cache.set_now(f"k{i}", VALUE)
    big = b"y" * (2 * ENTRY)
    assert cache.set_now("big", big)
    assert cache.get_now("big") == big
    assert len(cache) == 2  # big (2 entries' worth and a little more) and one more of the old
    assert cache.memory_usage_bytes <= 4 * ENTRY


def test_a_value_bigger_than_the_whole_budget_is_refused_and_evicts_nothing(
    clock: FakeClock,
) -> None:
    cache = plain(clock, max_memory_bytes=10 * ENTRY)
    cache.set_now("k0", VALUE)
    assert not cache.set_now("huge", b"z" * (10 * ENTRY))
    assert cache.get_now("huge") is None
    assert cache.get_now("k0") == VALUE
    assert cache.get_sync_stats()["evictions"] == 0


def test_a_refused_write_leaves_no_older_value_behind(clock: FakeClock) -> None:
    cache = plain(clock, max_memory_bytes=10 * ENTRY)
    cache.set_now("k0", VALUE)
    assert not cache.set_now("k0", b"z" * (10 * ENTRY))
    assert cache.get_now("k0") is None
    assert cache.memory_usage_bytes == 0


def test_a_value_orjson_cannot_encode_is_refused_and_counted(clock: FakeClock) -> None:
    cache = plain(clock)
    assert not cache.set_now("k", {1, 2, 3})
    assert cache.get_sync_stats()["errors"] == 1


def test_sizes_count_the_compressed_payload_the_key_and_the_overhead(clock: FakeClock) -> None:
    cache = MemoryCache(codec=Codec(threshold=256), clock=clock)
    large = b"abc" * 10_000
    cache.set_now("large", large)
    stats = cache.get_sync_stats()
    assert cache.memory_usage_bytes < len(large) // 10
    assert stats["compression_ratio"] < 0.1
    assert stats["peak_memory_usage"] == cache.memory_usage_bytes
    assert cache.get_now("large") == large


def test_stats_report_memory_use_and_the_backend(clock: FakeClock) -> None:
    cache = plain(clock, max_size=7, max_memory_bytes=2 * 1024 * 1024)
    cache.set_now("k0", VALUE, category="responses")
    cache.set_now("k1", VALUE, category="responses")
    cache.set_now("k2", VALUE, category="models")
    cache.evict_to(ENTRY)
    stats = cache.get_sync_stats()
    assert stats["backend"] == "memory"
    assert (stats["entries"], stats["max_size"], stats["max_memory_mb"]) == (1, 7, 2.0)
    assert stats["memory_usage_bytes"] == ENTRY
    assert stats["peak_memory_usage"] == 3 * ENTRY
    assert stats["categories"] == {"models": 1}


def test_a_cached_value_is_a_copy_the_caller_cannot_change(clock: FakeClock) -> None:
    cache = plain(clock)
    value = {"models": ["a"]}
    cache.set_now("k", value)
    value["models"].append("b")
    read = cache.get_now("k")
    assert read is not None
    read["models"].append("c")
    assert cache.get_now("k") == {"models": ["a"]}


def test_get_now_and_set_now_need_no_event_loop(clock: FakeClock) -> None:
    cache = plain(clock)
    assert cache.set_now("k", ["gpt-4o"], category="models")
    assert cache.get_now("k", "models") == ["gpt-4o"]
    assert cache.get_now("missing") is None


async def test_the_ttl_given_then_the_categorys_then_the_default_applies(clock: FakeClock) -> None:
    cache = plain(clock, default_ttl=100, category_ttls={"models": 3600})
    cache.set_now("given", VALUE, ttl=5, category="models")
    cache.set_now("zero", VALUE, ttl=0, category="models")
    cache.set_now("category", VALUE, category="models")
    cache.set_now("default", VALUE, category="unlisted")
    ttls = [await cache.ttl(key) for key in ("given", "zero", "category", "default")]
    assert ttls == [5, 3600, 3600, 100]


async def test_ttl_rounds_up_to_whole_seconds(clock: FakeClock) -> None:
    cache = plain(clock)
    cache.set_now("k", VALUE, ttl=10)
    clock.advance(9.5)
    assert await cache.ttl("k") == 1
    clock.advance(0.5)
    assert await cache.ttl("k") == -2


def test_an_expired_entry_is_a_miss_and_an_expiration(clock: FakeClock) -> None:
    cache = plain(clock)
    cache.set_now("k", VALUE, ttl=10)
    clock.advance(9.9)
    assert cache.get_now("k") == VALUE
    clock.advance(0.1)
    assert cache.get_now("k") is None
    stats = cache.get_sync_stats()
    assert (stats["hits"], stats["misses"], stats["expirations"], stats["entries"]) == (1, 1, 1, 0)
    assert stats["categories"] == {}


async def test_cleanup_expired_removes_only_what_has_expired(clock: FakeClock) -> None:
    cache = plain(clock)
    cache.set_now("short", VALUE, ttl=10)
    cache.set_now("long", VALUE, ttl=100)
    clock.advance(50)
    assert await cache.cleanup_expired() == 1
    assert len(cache) == 1
    report = await cache.optimize()
    assert report["expired_removed"] == 0
    assert report["entries"] == 1


async def test_the_background_sweep_removes_expired_entries_until_stopped(
    clock: FakeClock,
) -> None:
    cache = plain(clock, cleanup_interval=0.01)
    cache.set_now("k", VALUE, ttl=10)
    await cache.start()
    assert cache.is_running()
    clock.advance(11)
    await asyncio.sleep(0.05)
    assert len(cache) == 0
    assert cache.get_sync_stats()["expirations"] == 1
    await cache.stop()
    assert not cache.is_running()
    cache.set_now("k", VALUE, ttl=10)
    clock.advance(11)
    await asyncio.sleep(0.05)
    assert len(cache) == 1


async def test_starting_twice_runs_one_sweep_and_stopping_twice_is_harmless(
    clock: FakeClock,
) -> None:
    cache = plain(clock, cleanup_interval=0.01)
    await cache.start()
    sweeps = {task for task in asyncio.all_tasks() if task.get_name() == "memory-cache-sweep"}
    await cache.start()
    again = {task for task in asyncio.all_tasks() if task.get_name() == "memory-cache-sweep"}
    assert len(sweeps) == 1
    assert again == sweeps
    await cache.stop()
    await cache.stop()
    assert not cache.is_running()


def renewing(clock: FakeClock, **options: Any) -> MemoryCache:
    """Smart TTL on a 100-second default TTL."""
    return plain(clock, default_ttl=100, **options)


async def test_a_popular_entry_is_renewed_once_less_than_half_its_ttl_is_left(
    clock: FakeClock,
) -> None:
    cache = renewing(clock, min_accesses=5)
    cache.set_now("k", VALUE)
    for _ in range(5):
        cache.get_now("k")
    assert cache.get_sync_stats()["ttl_extensions"] == 0  # more than half is left
    clock.advance(60)
    cache.get_now("k")
    assert cache.get_sync_stats()["ttl_extensions"] == 1
    assert await cache.ttl("k") == 100


async def test_an_entry_is_not_renewed_before_min_accesses(clock: FakeClock) -> None:
    cache = renewing(clock, min_accesses=5)
    cache.set_now("k", VALUE)
    clock.advance(60)
    for _ in range(4):
        cache.get_now("k")
    assert await cache.ttl("k") == 40
    cache.get_now("k")
    assert await cache.ttl("k") == 100


async def test_an_entry_whose_key_was_often_missed_is_not_renewed(clock: FakeClock) -> None:
    cache = renewing(clock, min_accesses=5, hit_rate_threshold=0.7)
    for _ in range(10):
        cache.get_now("k")
    cache.set_now("k", VALUE)
    clock.advance(60)
    for _ in range(23):  # 23 / (23 + 10) < 0.7
        cache.get_now("k")
    assert await cache.ttl("k") == 40
    cache.get_now("k")  # 24 / 34 >= 0.7
    assert await cache.ttl("k") == 100


def test_a_renewed_entry_never_outlives_four_ttls(clock: FakeClock) -> None:
    cache = renewing(clock, min_accesses=1)
    cache.set_now("k", VALUE)
    for _ in range(6):
        clock.advance(60)
        assert cache.get_now("k") == VALUE
    assert cache.get_sync_stats()["ttl_extensions"] == 5  # the last one would pass 400 s
    clock.advance(40)  # 400 s after the set
    assert cache.get_now("k") is None


def test_no_entry_is_renewed_with_smart_ttl_off(clock: FakeClock) -> None:
    cache = renewing(clock, min_accesses=1, smart_ttl=False)
    cache.set_now("k", VALUE)
    clock.advance(60)
    cache.get_now("k")
    clock.advance(40)
    assert cache.get_now("k") is None
    assert cache.get_sync_stats()["ttl_extensions"] == 0


def test_evict_to_frees_memory_in_eviction_order_and_counts_the_pressure(
    clock: FakeClock,
) -> None:
    cache = plain(clock)
    for i in range(4):
        cache.set_now(f"k{i}", VALUE, priority=4 - i)
    assert cache.evict_to(2 * ENTRY) == 2
    assert cache.memory_usage_bytes == 2 * ENTRY
    assert present(cache, "k0", "k1", "k2", "k3") == ["k0", "k1"]
    assert cache.evict_to(10 * ENTRY) == 0  # still a pressure event: the process was over
    stats = cache.get_sync_stats()
    assert (stats["memory_pressure_events"], stats["evictions"]) == (2, 2)


def test_fifty_thousand_sets_keep_exactly_max_size_entries(clock: FakeClock) -> None:
    cache = plain(clock, max_size=1_000)
    for i in range(50_000):
        cache.set_now(f"key:{i}", i)
    assert len(cache) == 1_000
    assert cache.get_sync_stats()["evictions"] == 49_000
    assert cache.get_now("key:49999") == 49_999
    assert cache.get_now("key:49000") == 49_000
    assert cache.get_now("key:48999") is None


def test_ttl_for_is_the_categorys_ttl_or_the_default(clock: FakeClock) -> None:
    cache = plain(clock, default_ttl=100, category_ttls={"models": 3600})
    assert (cache.ttl_for("models"), cache.ttl_for("unlisted")) == (3600.0, 100.0)


def test_a_sample_names_stored_entries_and_their_categories(clock: FakeClock) -> None:
    cache = plain(clock)
    for i in range(10):
        cache.set_now(f"k{i}", VALUE, category="odd" if i % 2 else "even")
    sample = cache.sample(4)
    assert len(sample) == 4
    assert all(category == ("odd" if int(key[1:]) % 2 else "even") for key, category in sample)
    assert len(cache.sample(50)) == 10


def test_an_uncounted_read_changes_no_stats_recency_or_ttl(clock: FakeClock) -> None:
    cache = plain(clock, max_size=2, default_ttl=100, min_accesses=1)
    cache.set_now("a", VALUE)
    cache.set_now("b", VALUE)
    clock.advance(60)
    assert cache.get_now("a", count=False) == VALUE
    assert cache.get_now("missing", count=False) is None
    stats = cache.get_sync_stats()
    assert (stats["hits"], stats["misses"], stats["ttl_extensions"]) == (0, 0, 0)
    cache.set_now("c", VALUE)
    assert present(cache, "a", "b", "c") == ["b", "c"]
