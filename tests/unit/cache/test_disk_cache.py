"""The disk layer beyond the contract: restarts, damaged files, the size bound, the event loop.

Real files in a temporary directory; a FakeClock as the wall clock where expiry
must be exact (the frames store epoch seconds).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from clocks import FakeClock

from proxyapi.cache import disk
from proxyapi.cache.codec import Codec, Frame, pack
from proxyapi.cache.disk import DiskCache, path_for

MB = 1024 * 1024
VALUE = b"x" * 100  # below the codec's threshold: every frame of a 1-char key has one size


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@asynccontextmanager
async def opened(directory: Path, **options: Any) -> AsyncIterator[DiskCache]:
    """A started DiskCache, stopped afterwards."""
    options.setdefault("max_bytes", 16 * MB)
    cache = DiskCache(directory, codec=Codec(), **options)
    await cache.start()
    try:
        yield cache
    finally:
        await cache.stop()


def frame_size(key: str, value: bytes = VALUE, category: str = "default") -> int:
    payload = Codec().encode_value(value)
    return len(pack(Frame(key, category, 1, 0.0, 0.0, payload)))


def files_in(directory: Path) -> list[Path]:
    return sorted(directory.glob("*/*"))


async def test_an_entry_survives_a_restart(directory: Path) -> None:
    async with opened(directory) as cache:
        assert await cache.set("models:openai", ["gpt-4o"], category="models", priority=4)
        assert await cache.set("response:a", b"body", ttl=100)
    async with opened(directory) as cache:
        assert await cache.get("models:openai") == ["gpt-4o"]
        assert await cache.get("response:a") == b"body"
        assert 99 <= await cache.ttl("response:a") <= 100
        assert await cache.get_categories() == ["default", "models"]
        stats = await cache.get_stats()
    assert (stats["entries"], stats["corrupted_entries"], stats["expirations"]) == (2, 0, 0)


async def test_the_file_is_named_by_the_hash_of_the_key(directory: Path) -> None:
    async with opened(directory) as cache:
        await cache.set("k", b"v")
    path = path_for(directory, "k")
    assert files_in(directory) == [path]
    assert path.parent.name == path.name[:2] and path.suffix == ".pxc"


async def test_a_deleted_entry_stays_deleted_after_a_restart(directory: Path) -> None:
    async with opened(directory) as cache:
        await cache.set("k", b"v")
        assert await cache.delete("k")
        assert files_in(directory) == []
    async with opened(directory) as cache:
        assert await cache.get("k") is None


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda blob: blob[: len(blob) // 2], id="truncated"),
        pytest.param(lambda blob: blob[:40] + bytes([blob[40] ^ 0x01]) + blob[41:], id="flipped"),
    ],
)
async def test_a_damaged_file_is_dropped_and_counted_not_served(
    directory: Path, damage: Callable[[bytes], bytes]
) -> None:
    async with opened(directory) as cache:
        await cache.set("k", b"a body long enough to damage")
        path = path_for(directory, "k")
        path.write_bytes(damage(path.read_bytes()))
        assert await cache.get("k") is None
        assert not path.exists()
        stats = await cache.get_stats()
    assert (stats["corrupted_entries"], stats["misses"], stats["entries"]) == (1, 1, 0)


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda blob: blob[:-3], id="truncated"),
        pytest.param(lambda blob: blob[:40] + bytes([blob[40] ^ 0x80]) + blob[41:], id="flipped"),
    ],
)
async def test_a_file_damaged_while_stopped_is_dropped_at_start(
    directory: Path, damage: Callable[[bytes], bytes]
) -> None:
    async with opened(directory) as cache:
        await cache.set("bad", b"a body long enough to damage")
        await cache.set("good", b"fine")
    path = path_for(directory, "bad")
    path.write_bytes(damage(path.read_bytes()))
    async with opened(directory) as cache:
        assert await cache.get("bad") is None
        assert await cache.get("good") == b"fine"
        stats = await cache.get_stats()
    assert not path.exists()
    assert (stats["corrupted_entries"], stats["entries"]) == (1, 1)


async def test_a_frame_for_another_key_is_not_served(directory: Path) -> None:
    async with opened(directory) as cache:
        await cache.set("mine", b"mine")
        other = pack(Frame("theirs", "default", 1, time.time(), 0.0, Codec().encode_value(b"x")))
        path_for(directory, "mine").write_bytes(other)  # a collision, or a file copied by hand
        assert await cache.get("mine") is None
        assert cache.stats.corrupted == 1
        assert not path_for(directory, "mine").exists()


async def test_a_frame_in_the_wrong_file_is_dropped_at_start(directory: Path) -> None:
    async with opened(directory) as cache:
        await cache.set("a", b"a")
    moved = path_for(directory, "b")
    moved.parent.mkdir(parents=True, exist_ok=True)
    path_for(directory, "a").rename(moved)
    async with opened(directory) as cache:
        assert await cache.get("a") is None
        assert cache.stats.corrupted == 1
    assert files_in(directory) == []


async def test_expired_entries_are_dropped_at_start(directory: Path, clock: FakeClock) -> None:
    async with opened(directory, wall_clock=clock) as cache:
        await cache.set("short", b"v", ttl=10)
        await cache.set("long", b"v", ttl=100)
    clock.advance(11)
    async with opened(directory, wall_clock=clock) as cache:
        assert await cache.ttl("short") == -2
        assert await cache.ttl("long") == 89
        assert cache.stats.expirations == 1
    assert files_in(directory) == [path_for(directory, "long")]


async def test_expire_is_written_into_the_frame_and_survives_a_restart(
    directory: Path, clock: FakeClock
) -> None:
    async with opened(directory, wall_clock=clock) as cache:
        await cache.set("k", b"v", ttl=10)
        assert await cache.expire("k", 500)
    clock.advance(20)
    async with opened(directory, wall_clock=clock) as cache:
        assert await cache.ttl("k") == 480
        assert await cache.get("k") == b"v"


async def test_an_entry_expires_on_the_wall_clock(directory: Path, clock: FakeClock) -> None:
    async with opened(directory, wall_clock=clock) as cache:
        await cache.set("k", b"v", ttl=5)
        clock.advance(5)
        assert await cache.get("k") is None
        await cache.stop()  # the removal is queued, not awaited, on that path: done by now
        assert cache.stats.expirations == 1
    assert files_in(directory) == []


async def present(cache: DiskCache, keys: str) -> str:
    """Which of the one-letter ``keys`` are stored, asked without touching their recency."""
    return "".join([key for key in keys if await cache.ttl(key) != -2])


async def test_the_size_bound_evicts_lowest_priority_then_least_recently_used(
    directory: Path,
) -> None:
    size = frame_size("a")
    async with opened(directory, max_bytes=3 * size) as cache:
        await cache.set("a", VALUE, priority=1)
        await cache.set("b", VALUE, priority=2)
        await cache.set("c", VALUE, priority=1)
        assert await cache.get("a") == VALUE  # now c is the least recently used at priority 1
        await cache.set("d", VALUE, priority=1)
        assert await present(cache, "abcd") == "abd"
        await cache.set("e", VALUE, priority=3)  # a, then d, are all that is left at priority 1
        assert await present(cache, "abcde") == "bde"
        await cache.set("f", VALUE, priority=1)
        await cache.set("g", VALUE, priority=1)  # b, the oldest entry, outranks d and f
        assert await present(cache, "bdefg") == "beg"
        stats = await cache.get_stats()
    assert stats["evictions"] == 4
    assert stats["disk_usage_bytes"] == 3 * size <= stats["max_bytes"]
    assert sorted(files_in(directory)) == sorted(path_for(directory, k) for k in "beg")


async def test_a_value_larger_than_the_bound_is_refused_and_drops_the_older_one(
    directory: Path,
) -> None:
    async with opened(directory, max_bytes=1000) as cache:
        assert await cache.set("k", b"small")
        assert not await cache.set("k", os.urandom(2000))  # random: does not compress
        assert await cache.get("k") is None
        assert files_in(directory) == []


async def test_a_smaller_bound_after_a_restart_evicts_at_start(directory: Path) -> None:
    size = frame_size("a")
    async with opened(directory) as cache:
        for key in "abcd":
            await cache.set(key, VALUE)
    async with opened(directory, max_bytes=2 * size) as cache:
        stats = await cache.get_stats()
        assert (stats["entries"], stats["evictions"]) == (2, 2)
    assert len(files_in(directory)) == 2


async def test_a_get_reads_the_file_off_the_event_loop(
    directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_frame = disk._read_frame

    def slow_disk(path: Path, key: str) -> Frame:
        time.sleep(0.04)
        return read_frame(path, key)

    async with opened(directory) as cache:
        await cache.set_many({f"k{i}": f"v{i}".encode() for i in range(8)})
        monkeypatch.setattr(disk, "_read_frame", slow_disk)
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.005)
                ticks += 1

        ticking = asyncio.create_task(ticker())
        found = await cache.get_many([f"k{i}" for i in range(8)])  # 8 x 40 ms on 2 threads
        ticking.cancel()
    assert found == {f"k{i}": f"v{i}".encode() for i in range(8)}
    assert ticks >= 10  # about 30 when the loop is free; 0 if the reads blocked it


async def test_a_missing_key_costs_no_io(directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_io(path: Path, key: str) -> Frame:
        raise AssertionError("read a file for a key the index does not have")

    async with opened(directory) as cache:
        monkeypatch.setattr(disk, "_read_frame", no_io)
        assert await cache.get("missing") is None
        assert await cache.ttl("missing") == -2


async def test_a_get_racing_a_set_of_its_key_sees_the_new_value(directory: Path) -> None:
    async with opened(directory) as cache:
        await cache.set("k", b"old")
        stored, value = await asyncio.gather(cache.set("k", b"new"), cache.get("k"))
        assert (stored, value) == (True, b"new")


async def test_a_cancelled_set_leaves_the_index_and_the_disk_agreeing(directory: Path) -> None:
    async with opened(directory) as cache:
        setting = asyncio.create_task(cache.set("k", b"v"))
        await asyncio.sleep(0)  # the write is queued
        setting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await setting
        assert await cache.get("k") == b"v"
    async with opened(directory) as cache:
        assert await cache.get("k") == b"v"


async def test_a_failed_write_is_a_counted_false_not_an_exception(
    directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(path: Path, blob: bytes, doomed: object) -> int:
        raise OSError(28, "No space left on device")

    async with opened(directory) as cache:
        monkeypatch.setattr(disk, "_store", disk_full)
        assert not await cache.set("k", b"v")
        assert await cache.get("k") is None
        stats = await cache.get_stats()
    assert (stats["errors"], stats["entries"], stats["disk_usage_bytes"]) == (1, 0, 0)


async def test_a_file_removed_by_hand_is_a_miss(directory: Path) -> None:
    async with opened(directory) as cache:
        await cache.set("k", b"v")
        path_for(directory, "k").unlink()
        assert await cache.get("k") is None
        assert (await cache.get_stats())["entries"] == 0


async def test_clear_removes_every_file_and_start_removes_leftover_temporaries(
    directory: Path,
) -> None:
    async with opened(directory) as cache:
        await cache.set_many({"a": b"1", "b": b"2"})
        leftover = path_for(directory, "a").with_suffix(".123.tmp")
        leftover.write_bytes(b"half a write")
        assert await cache.clear() == 2
        assert files_in(directory) == []
        await cache.set("c", b"3")
    leftover.write_bytes(b"half a write")  # as a crash mid-write leaves it
    async with opened(directory) as cache:
        assert await cache.get("c") == b"3"
    assert files_in(directory) == [path_for(directory, "c")]


async def test_optimize_removes_expired_entries_and_orphan_files(
    directory: Path, clock: FakeClock
) -> None:
    async with opened(directory, wall_clock=clock) as cache:
        await cache.set("short", b"v", ttl=1)
        await cache.set("long", b"v", ttl=100)
        orphan = path_for(directory, "nobody-knows")
        orphan.parent.mkdir(parents=True, exist_ok=True)
        orphan.write_bytes(b"junk")
        clock.advance(2)
        report = await cache.optimize()
    assert report["expired_removed"] == 1
    assert report["orphans_removed"] == 1
    assert report["entries"] == 1
    assert files_in(directory) == [path_for(directory, "long")]


async def test_stats_report_the_disk_fields_and_compression(directory: Path) -> None:
    large = b"the same sentence, again and again. " * 100
    async with opened(directory, max_bytes=MB) as cache:
        await cache.set("large", large, category="responses")
        stats = cache.get_sync_stats()
    assert stats["backend"] == "disk"
    assert stats["max_bytes"] == MB
    assert stats["entries"] == 1
    assert stats["categories"] == {"responses": 1}
    assert stats["disk_usage_bytes"] == path_for(directory, "large").stat().st_size
    assert stats["disk_usage_bytes"] < len(large)
    assert 0 < stats["compression_ratio"] < 0.2


async def test_an_unencodable_value_is_refused_not_raised(directory: Path) -> None:
    async with opened(directory) as cache:
        await cache.set("k", b"old")
        assert not await cache.set("k", object())
        assert await cache.get("k") is None
        assert cache.stats.errors == 1
