"""The unified cache: memory (L1) over disk (L2), on one fake clock for both layers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from clocks import FakeClock

from proxyapi.cache.codec import Codec
from proxyapi.cache.disk import DiskCache
from proxyapi.cache.memory import MemoryCache
from proxyapi.cache.unified import UnifiedCache

MB = 1024 * 1024
VALUE = b"answer"

SEED_FIELDS = {
    "hits",
    "misses",
    "hit_rate",
    "total_requests",
    "sets",
    "deletes",
    "evictions",
    "expirations",
    "consistency_checks",
    "inconsistencies_found",
    "memory_pressure_events",
    "warmup_operations",
    "ttl_extensions",
    "compression_ratio",
    "peak_memory_usage",
    "average_access_time",
    "categories",
}


@pytest.fixture
def memory(clock: FakeClock) -> MemoryCache:
    return MemoryCache(codec=Codec(), clock=clock)


@pytest.fixture
async def disk(tmp_path: Path, clock: FakeClock) -> AsyncIterator[DiskCache]:
    cache = DiskCache(tmp_path / "l2", max_bytes=16 * MB, codec=Codec(), wall_clock=clock)
    await cache.start()
    try:
        yield cache
    finally:
        await cache.stop()


@pytest.fixture
def unified(memory: MemoryCache, disk: DiskCache) -> UnifiedCache:
    return UnifiedCache(memory, disk)


async def test_set_writes_both_layers(unified: UnifiedCache, disk: DiskCache) -> None:
    assert await unified.set("k", VALUE, ttl=60, category="responses")
    assert unified.memory.get_now("k", count=False) == VALUE
    assert await disk.get("k", "responses") == VALUE


async def test_an_entry_only_in_l2_is_a_hit_and_is_copied_into_l1(
    unified: UnifiedCache, disk: DiskCache
) -> None:
    await disk.set("k", VALUE, ttl=60)
    assert "k" not in unified.memory
    assert await unified.get("k") == VALUE
    assert "k" in unified.memory
    assert unified.memory.get_now("k", count=False) == VALUE
    assert unified.get_sync_stats()["hits"] == 1


async def test_a_key_in_neither_layer_is_a_miss(unified: UnifiedCache) -> None:
    assert await unified.get("absent") is None
    stats = unified.get_sync_stats()
    assert (stats["hits"], stats["misses"]) == (0, 1)


async def test_delete_removes_the_key_from_both_layers(
    unified: UnifiedCache, disk: DiskCache
) -> None:
    await unified.set("k", VALUE)
    assert await unified.delete("k")
    assert "k" not in unified.memory
    assert await disk.get("k") is None
    assert not await unified.delete("k")


async def test_delete_finds_a_key_that_only_l2_holds(
    unified: UnifiedCache, disk: DiskCache
) -> None:
    await disk.set("k", VALUE)
    assert await unified.delete("k")
    assert await unified.get("k") is None


async def test_clear_empties_both_layers(unified: UnifiedCache, disk: DiskCache) -> None:
    for i in range(3):
        await unified.set(f"k{i}", VALUE)
    await disk.set("only-l2", VALUE)
    assert await unified.clear() == 4
    assert len(unified.memory) == 0
    assert disk.get_sync_stats()["entries"] == 0


async def test_delete_matching_removes_matching_keys_from_both_layers_only(
    unified: UnifiedCache, disk: DiskCache
) -> None:
    await unified.set("response:openai:chat:1", VALUE)
    await unified.set("response:openai:chat:2", VALUE)
    await unified.set("summary:abc:256:m", VALUE)
    assert await unified.delete_matching("response:openai:*") == 2
    for key in ("response:openai:chat:1", "response:openai:chat:2"):
        assert key not in unified.memory
        assert await disk.get(key) is None
    assert "summary:abc:256:m" in unified.memory
    assert await disk.get("summary:abc:256:m") == VALUE


async def test_l1_ttl_cap_limits_the_memory_copy_while_l2_keeps_the_full_ttl(
    memory: MemoryCache, disk: DiskCache
) -> None:
    unified = UnifiedCache(memory, disk, l1_ttl_cap=10)
    await unified.set("given", VALUE, ttl=600)
    await unified.set("by-category", VALUE, category="responses")
    for key in ("given", "by-category"):
        assert 0 < await unified.memory.ttl(key) <= 10
    assert await disk.ttl("given") == 600
    assert await disk.ttl("by-category") == 1800
    assert await unified.ttl("given") == 600


async def test_l1_ttl_cap_also_limits_the_copy_of_an_l2_hit(
    memory: MemoryCache, disk: DiskCache
) -> None:
    unified = UnifiedCache(memory, disk, l1_ttl_cap=10)
    await disk.set("k", VALUE, ttl=600)
    assert await unified.get("k") == VALUE
    assert 0 < await unified.memory.ttl("k") <= 10
    assert await disk.ttl("k") == 600


async def test_without_a_cap_the_memory_copy_gets_the_full_ttl(unified: UnifiedCache) -> None:
    await unified.set("k", VALUE, ttl=600)
    assert await unified.memory.ttl("k") == 600


async def test_an_l1_copy_expires_with_the_l1_cap_and_is_refilled_from_l2(
    memory: MemoryCache, disk: DiskCache, clock: FakeClock
) -> None:
    unified = UnifiedCache(memory, disk, l1_ttl_cap=10)
    await unified.set("k", VALUE, ttl=600)
    clock.advance(11)
    assert "k" not in unified.memory
    assert await unified.get("k") == VALUE
    assert "k" in unified.memory


async def test_the_l1_copy_of_an_l2_hit_does_not_outlive_the_l2_entry(
    unified: UnifiedCache, disk: DiskCache, clock: FakeClock
) -> None:
    await disk.set("k", VALUE, ttl=5)
    assert await unified.get("k") == VALUE
    clock.advance(10)
    assert await disk.get("k") is None
    assert await unified.get("k") is None


async def test_check_consistency_drops_an_l1_copy_that_differs_from_l2(
    unified: UnifiedCache, disk: DiskCache
) -> None:
    unified.memory.set_now("k", b"stale")
    await disk.set("k", b"fresh")
    assert await unified.check_consistency() == 1
    assert "k" not in unified.memory
    assert await disk.get("k") == b"fresh"
    stats = unified.get_sync_stats()
    assert (stats["consistency_checks"], stats["inconsistencies_found"]) == (1, 1)
    assert await unified.get("k") == b"fresh"


async def test_check_consistency_finds_nothing_when_the_layers_agree(
    unified: UnifiedCache,
) -> None:
    for i in range(5):
        await unified.set(f"k{i}", {"n": i})
    assert await unified.check_consistency() == 0
    assert len(unified.memory) == 5
    stats = unified.get_sync_stats()
    assert (stats["consistency_checks"], stats["inconsistencies_found"]) == (1, 0)


async def test_check_consistency_does_not_count_as_reads_of_l1(unified: UnifiedCache) -> None:
    await unified.set("k", VALUE)
    await unified.check_consistency()
    memory = unified.memory.get_sync_stats()
    assert (memory["hits"], memory["misses"]) == (0, 0)


async def test_get_stats_reports_both_layers_with_the_seed_fields(
    unified: UnifiedCache,
) -> None:
    await unified.set("k", VALUE, category="responses")
    await unified.get("k", "responses")
    await unified.get("absent")
    stats = await unified.get_stats()
    assert stats["layers"] == ["memory", "disk"]
    assert stats["backend"] == "unified"
    assert SEED_FIELDS <= stats.keys()
    assert (stats["hits"], stats["misses"], stats["sets"]) == (1, 1, 1)
    assert stats["hit_rate"] == 0.5
    assert stats["categories"] == {"responses": 1}
    assert stats["memory"]["backend"] == "memory"
    assert stats["l2"]["backend"] == "disk"
    assert stats["l2"]["entries"] == 1


async def test_get_stats_reports_the_memory_layers_peak_usage(unified: UnifiedCache) -> None:
    await unified.set("k", b"x" * 500)
    stats = await unified.get_stats()
    assert stats["peak_memory_usage"] == unified.memory.get_sync_stats()["peak_memory_usage"] > 0


async def test_the_consistency_loop_runs_checks_until_stopped(
    memory: MemoryCache, disk: DiskCache
) -> None:
    unified = UnifiedCache(memory, disk, check_interval=0.01)
    memory.set_now("k", b"stale")
    await disk.set("k", b"fresh")
    await unified.start()
    assert unified.is_running()
    try:
        for _ in range(100):
            if unified.get_sync_stats()["consistency_checks"]:
                break
            await asyncio.sleep(0.01)
    finally:
        await unified.stop()
    stats = unified.get_sync_stats()
    assert stats["consistency_checks"] >= 1
    assert stats["inconsistencies_found"] == 1
    assert not unified.is_running()
    checks = stats["consistency_checks"]
    await asyncio.sleep(0.03)
    assert unified.get_sync_stats()["consistency_checks"] == checks


async def test_consistency_checks_turned_off_start_no_loop(
    memory: MemoryCache, disk: DiskCache
) -> None:
    unified = UnifiedCache(memory, disk, consistency_checks=False, check_interval=0.01)
    await unified.start()
    await asyncio.sleep(0.03)
    await unified.stop()
    assert unified.get_sync_stats()["consistency_checks"] == 0


async def test_without_l2_the_memory_layer_alone_serves(memory: MemoryCache) -> None:
    unified = UnifiedCache(memory)
    assert await unified.set("k", VALUE, ttl=60)
    assert await unified.get("k") == VALUE
    assert await unified.ttl("k") == 60
    assert await unified.check_consistency() == 0
    assert await unified.delete_matching("k*") == 1
    assert await unified.get("k") is None
    stats = await unified.get_stats()
    assert stats["layers"] == ["memory"]
    assert "l2" not in stats
    assert stats["consistency_checks"] == 0
    assert SEED_FIELDS <= stats.keys()


async def test_an_unusable_disk_directory_leaves_the_memory_layer_working(
    caplog: pytest.LogCaptureFixture,
) -> None:
    disk = DiskCache(Path("/proc/no-such-dir/cache"), max_bytes=10**6, codec=Codec())
    unified = UnifiedCache(MemoryCache(), disk)
    logger = logging.getLogger("proxyapi.cache")
    logger.addHandler(caplog.handler)
    try:
        await unified.start()
        assert await unified.set("k", b"v")
        assert await unified.get("k") == b"v"
        assert unified.get_sync_stats()["layers"] == ["memory"]
    finally:
        logger.removeHandler(caplog.handler)
        await unified.stop()
    assert "cannot start" in caplog.text
