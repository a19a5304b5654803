"""What every cache backend guarantees (seed 000's ``ICache``), checked on memory, disk and Redis.

Expiry is checked with short real TTLs: a fake clock cannot drive Redis or the disk.
"""

from __future__ import annotations

import asyncio

from proxyapi.cache.base import ICache

SHORT_TTL = 0.2
PAST_SHORT_TTL = SHORT_TTL + 0.15
MODELS_TTL = 3600
SEED_STATS = {
    "hits",
    "misses",
    "total_requests",
    "hit_rate",
    "evictions",
    "expirations",
    "sets",
    "deletes",
    "consistency_checks",
    "inconsistencies_found",
    "memory_pressure_events",
    "warmup_operations",
    "average_access_time",
    "peak_memory_usage",
    "categories",
    "entries",
}


async def test_bytes_come_back_as_the_same_bytes(cache: ICache) -> None:
    body = b'data: {"choices": []}\n\n\x00\xff'
    assert await cache.set("response:a", body)
    assert await cache.get("response:a") == body


async def test_json_values_come_back_equal(cache: ICache) -> None:
    value = {"models": ["gpt-4o", "claude"], "count": 2, "nested": {"ok": True, "none": None}}
    assert await cache.set("stats", value)
    assert await cache.get("stats") == value


async def test_a_missing_key_is_none(cache: ICache) -> None:
    assert await cache.get("never-set") is None


async def test_a_set_replaces_the_older_value(cache: ICache) -> None:
    await cache.set("k", b"old")
    await cache.set("k", b"new")
    assert await cache.get("k") == b"new"


async def test_a_deleted_key_is_gone_and_a_second_delete_finds_nothing(cache: ICache) -> None:
    await cache.set("k", b"v")
    assert await cache.delete("k")
    assert await cache.get("k") is None
    assert not await cache.delete("k")


async def test_an_entry_is_gone_once_its_ttl_has_passed(cache: ICache) -> None:
    await cache.set("short", b"v", ttl=SHORT_TTL)
    await cache.set("long", b"v", ttl=60)
    assert await cache.get("short") == b"v"
    await asyncio.sleep(PAST_SHORT_TTL)
    assert await cache.get("short") is None
    assert await cache.get("long") == b"v"
    assert await cache.ttl("short") == -2


async def test_ttl_reports_whole_seconds_left_and_minus_two_for_a_missing_key(
    cache: ICache,
) -> None:
    await cache.set("k", b"v", ttl=100)
    assert 99 <= await cache.ttl("k") <= 100
    assert await cache.ttl("missing") == -2


async def test_expire_sets_a_new_ttl_on_an_existing_key_only(cache: ICache) -> None:
    await cache.set("k", b"v", ttl=100)
    assert await cache.expire("k", 10)
    assert 9 <= await cache.ttl("k") <= 10
    assert not await cache.expire("missing", 10)


async def test_expire_can_shorten_an_entry_until_it_is_gone(cache: ICache) -> None:
    await cache.set("k", b"v", ttl=100)
    await cache.expire("k", SHORT_TTL)
    await asyncio.sleep(PAST_SHORT_TTL)
    assert await cache.get("k") is None


async def test_a_category_ttl_applies_when_no_ttl_is_given(cache: ICache) -> None:
    await cache.set("models:openai", ["gpt-4o"], category="models")
    assert MODELS_TTL - 2 <= await cache.ttl("models:openai") <= MODELS_TTL


async def test_a_ttl_given_wins_over_the_categorys(cache: ICache) -> None:
    await cache.set("models:openai", ["gpt-4o"], ttl=50, category="models")
    assert 49 <= await cache.ttl("models:openai") <= 50


async def test_clearing_a_category_leaves_the_others(cache: ICache) -> None:
    await cache.set("models:a", ["m"], category="models")
    await cache.set("models:b", ["m"], category="models")
    await cache.set("response:a", b"r", category="responses")
    assert await cache.clear("models") == 2
    assert await cache.get("models:a") is None
    assert await cache.get("response:a") == b"r"
    assert await cache.clear_category("responses") == 1
    assert await cache.get("response:a") is None


async def test_clear_removes_everything_and_says_how_much(cache: ICache) -> None:
    await cache.set_many({"a": b"1", "b": b"2"})
    await cache.set("c", b"3", category="summaries")
    assert await cache.clear() == 3
    assert await cache.get_many(["a", "b", "c"]) == {}


async def test_get_categories_lists_those_with_entries(cache: ICache) -> None:
    await cache.set("models:a", ["m"], category="models")
    await cache.set("summary:a", "text", category="summaries")
    assert sorted(await cache.get_categories()) == ["models", "summaries"]
    await cache.clear_category("models")
    assert await cache.get_categories() == ["summaries"]


async def test_delete_matching_takes_only_the_keys_the_glob_matches(cache: ICache) -> None:
    await cache.set_many({"summary:1": "a", "summary:2": "b", "summaryx": "c", "response:1": "d"})
    assert await cache.delete_matching("summary:*") == 2
    assert await cache.get_many(["summary:1", "summary:2", "summaryx", "response:1"]) == {
        "summaryx": "c",
        "response:1": "d",
    }


async def test_many_at_once_sets_gets_and_deletes_each_key(cache: ICache) -> None:
    assert await cache.set_many({"a": b"1", "b": [2], "c": {"three": 3}}) == 3
    assert await cache.get_many(["a", "b", "c", "missing"]) == {
        "a": b"1",
        "b": [2],
        "c": {"three": 3},
    }
    assert await cache.delete_many(["a", "c", "missing"]) == 2
    assert await cache.get_many(["a", "b", "c"]) == {"b": [2]}


async def test_a_large_value_is_stored_compressed_and_read_back_equal(cache: ICache) -> None:
    large = b"the same sentence, again and again. " * 600  # about 21 KB
    assert await cache.set("large", large)
    assert await cache.get("large") == large
    assert (await cache.get_stats())["compression_ratio"] < 1


async def test_hits_and_misses_are_counted(cache: ICache) -> None:
    await cache.set("k", b"v")
    await cache.get("k")
    await cache.get("k")
    await cache.get("missing")
    stats = await cache.get_stats()
    assert (stats["hits"], stats["misses"], stats["total_requests"]) == (2, 1, 3)
    assert stats["hit_rate"] == round(2 / 3, 4)
    assert stats["sets"] == 1


async def test_get_stats_reports_seed_000s_fields(cache: ICache) -> None:
    await cache.set("k", b"v", category="responses")
    stats = await cache.get_stats()
    assert SEED_STATS <= stats.keys()
    assert stats["entries"] == 1
    assert stats["categories"] == {"responses": 1}
    assert cache.get_sync_stats().keys() == stats.keys()


async def test_a_started_cache_runs_until_stopped(cache: ICache) -> None:
    await cache.start()
    assert cache.is_running()
    await cache.stop()
    assert not cache.is_running()


async def test_cleanup_and_optimize_can_run_at_any_time(cache: ICache) -> None:
    await cache.set("short", b"v", ttl=SHORT_TTL)
    await asyncio.sleep(PAST_SHORT_TTL)
    assert await cache.cleanup_expired() >= 0
    assert isinstance(await cache.optimize(), dict)
    assert await cache.get("short") is None
