"""The Redis layer beyond the contract: key layout, expiry, sharing, damaged values, outages.

Against the real redis-server on 127.0.0.1:6379 under a unique prefix, cleaned
up afterwards (without it these tests fail rather than skip), plus a private
redis-server for the restart case and a free port with nothing listening for
the outage cases.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import uuid4

import pytest
from clocks import FakeClock
from redis.asyncio import Redis

from proxyapi.cache.codec import Codec, Frame, pack, unpack
from proxyapi.cache.redis import LOG_INTERVAL, RedisCache
from proxyapi.config.caching import RedisConfig
from proxyapi.transport.redis import RedisPipe

REDIS_URL = "redis://127.0.0.1:6379/0"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def gateway_pipe(url: str = REDIS_URL) -> AsyncIterator[RedisPipe]:
    pipe = RedisPipe(RedisConfig(url=url, socket_timeout=0.5))
    try:
        yield pipe
    finally:
        await pipe.close()


@pytest.fixture
def prefix() -> str:
    return f"test-{uuid4().hex}"


@pytest.fixture
async def redis(prefix: str) -> AsyncIterator[Redis]:
    """redis-py, to look at what the cache wrote and to clean up after it."""
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
        yield client
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture
async def pipe() -> AsyncIterator[RedisPipe]:
    async with gateway_pipe() as made:
        yield made


@pytest.fixture
def cache(pipe: RedisPipe, prefix: str, redis: Redis) -> RedisCache:
    return RedisCache(pipe, prefix, codec=Codec())


@pytest.fixture
def log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    # Attached to the logger itself: another test may have stopped "proxyapi" propagating.
    logger = logging.getLogger("proxyapi.cache")
    propagate, level = logger.propagate, logger.level
    logger.addHandler(caplog.handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    yield caplog
    logger.removeHandler(caplog.handler)
    logger.propagate, logger.level = propagate, level


@pytest.fixture
def private_redis() -> Iterator[Callable[..., str]]:
    """Start redis-server processes on free ports; all are stopped afterwards."""
    started: list[subprocess.Popen[bytes]] = []

    def start(port: int | None = None) -> str:
        port = port or free_port()
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no"]
        started.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return f"redis://127.0.0.1:{port}"
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=10)


def error_lines(log: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in log.records if r.levelno >= logging.ERROR]


async def test_entries_live_under_the_prefix_cache_namespace(
    cache: RedisCache, redis: Redis, prefix: str
) -> None:
    await cache.set("response:openai:abc", b"body")
    keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
    assert keys == [f"{prefix}:cache:response:openai:abc".encode()]


async def test_the_value_is_a_frame_and_redis_alone_keeps_the_expiry(
    cache: RedisCache, redis: Redis, prefix: str
) -> None:
    await cache.set("k", {"a": 1}, category="metadata", priority=9)
    stored = await redis.get(f"{prefix}:cache:k")
    assert isinstance(stored, bytes)
    frame = unpack(stored)
    assert (frame.key, frame.category, frame.priority, frame.expires_at) == (
        "k",
        "metadata",
        5,  # clamped to MAX_PRIORITY
        0.0,
    )
    assert Codec().decode_value(frame.payload) == {"a": 1}


@pytest.mark.parametrize(
    ("category", "ttl", "expected"),
    [
        ("models", None, 3600),
        ("responses", None, 1800),
        ("metadata", None, 7200),
        ("not-configured", None, 1800),
        ("models", 42.5, 42.5),
    ],
)
async def test_the_redis_expiry_comes_from_the_ttl_or_the_category(
    cache: RedisCache,
    redis: Redis,
    prefix: str,
    category: str,
    ttl: float | None,
    expected: float,
) -> None:
    await cache.set("k", b"v", ttl=ttl, category=category)
    pttl = await redis.pttl(f"{prefix}:cache:k")
    assert expected * 1000 - 1000 < pttl <= expected * 1000


async def test_expire_moves_the_redis_expiry(cache: RedisCache, redis: Redis, prefix: str) -> None:
    await cache.set("k", b"v", ttl=100)
    assert await cache.expire("k", 2.5)
    assert 1500 < await redis.pttl(f"{prefix}:cache:k") <= 2500
    assert await cache.ttl("k") == 3
    assert cache.stats.ttl_extensions == 1


async def test_two_caches_on_one_prefix_share_their_entries(cache: RedisCache, prefix: str) -> None:
    async with gateway_pipe() as other_pipe:
        other = RedisCache(other_pipe, prefix, codec=Codec())
        assert await cache.set("shared", {"n": 1})
        assert await other.get("shared") == {"n": 1}
        assert await other.delete("shared")
        assert await cache.get("shared") is None
    assert (other.stats.hits, cache.stats.misses) == (1, 1)


async def test_caches_on_different_prefixes_do_not_share(cache: RedisCache, prefix: str) -> None:
    async with gateway_pipe() as other_pipe:
        other = RedisCache(other_pipe, f"{prefix}:other", codec=Codec())
        await cache.set("k", b"mine")
        assert await other.get("k") is None
        assert await other.clear() == 0
        assert await cache.get("k") == b"mine"


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda blob: b"not a frame at all", id="garbage"),
        pytest.param(lambda blob: blob[: len(blob) // 2], id="truncated"),
        pytest.param(lambda blob: blob[:40] + bytes([blob[40] ^ 0x01]) + blob[41:], id="flipped"),
    ],
)
async def test_a_damaged_value_is_dropped_and_counted_not_served(
    cache: RedisCache, redis: Redis, prefix: str, damage: Callable[[bytes], bytes]
) -> None:
    await cache.set("k", b"a body long enough to damage")
    key = f"{prefix}:cache:k"
    stored = await redis.get(key)
    assert isinstance(stored, bytes)
    await redis.set(key, damage(stored))
    assert await cache.get("k") is None
    assert await redis.exists(key) == 0
    stats = cache.get_sync_stats()
    assert (stats["corrupted_entries"], stats["misses"]) == (1, 1)


async def test_a_frame_for_another_key_is_not_served(
    cache: RedisCache, redis: Redis, prefix: str
) -> None:
    frame = Frame("theirs", "default", 1, time.time(), 0.0, Codec().encode_value(b"x"))
    await redis.set(f"{prefix}:cache:mine", pack(frame))
    assert await cache.get_many(["mine"]) == {}
    assert cache.stats.corrupted == 1
    assert await redis.exists(f"{prefix}:cache:mine") == 0


async def test_a_damaged_value_replaced_meanwhile_is_not_deleted(
    cache: RedisCache, redis: Redis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = f"{prefix}:cache:k"
    await redis.set(key, b"garbage")
    execute = cache.pipe.execute

    async def replaced_after_the_get(*args: Any) -> Any:
        reply = await execute(*args)
        if args[0] == "GET":  # another process stores a good value before we drop ours
            await redis.set(key, pack(Frame("k", "default", 1, 0.0, 0.0, Codec().encode_value(1))))
        return reply

    monkeypatch.setattr(cache.pipe, "execute", replaced_after_the_get)
    assert await cache.get("k") is None
    monkeypatch.undo()
    assert await cache.get("k") == 1


async def test_categories_are_read_from_the_frames_heads(
    cache: RedisCache, redis: Redis, prefix: str
) -> None:
    long_category = "c" * 300  # longer than the first read of a head
    await cache.set("a", b"1", category=long_category)
    await cache.set("b", b"2", category="models")
    await redis.set(f"{prefix}:cache:junk", b"written by someone else")
    assert await cache.get_categories() == sorted([long_category, "models"])
    stats = await cache.get_stats()
    assert stats["entries"] == 3
    assert stats["categories"] == {long_category: 1, "models": 1}
    assert await cache.clear(long_category) == 1
    assert await cache.get("a") is None
    assert await cache.get("b") == b"2"


async def test_sync_stats_need_no_redis_call(cache: RedisCache) -> None:
    await cache.set("k", b"v", category="responses")
    before = cache.get_sync_stats()
    assert (before["backend"], before["available"], before["entries"]) == ("redis", True, None)
    await cache.get_stats()
    assert cache.get_sync_stats()["entries"] == 1


async def test_a_command_redis_refuses_is_a_counted_miss_not_an_outage(
    cache: RedisCache, redis: Redis, prefix: str
) -> None:
    await redis.rpush(f"{prefix}:cache:list", "x")  # GET on a list: WRONGTYPE
    assert await cache.get("list") is None
    assert cache.stats.errors == 1
    assert cache.available
    assert await cache.set("k", b"v")  # no back-off


async def test_unreachable_redis_is_a_miss_false_and_zero_never_an_exception(
    clock: FakeClock, log: pytest.LogCaptureFixture
) -> None:
    async with gateway_pipe(f"redis://127.0.0.1:{free_port()}/0") as pipe:
        cache = RedisCache(pipe, "nowhere", codec=Codec(), clock=clock)
        await cache.start()
        assert not cache.available
        assert await cache.get("k") is None
        assert not await cache.set("k", b"v")
        assert await cache.get_many(["a", "b"]) == {}
        assert await cache.set_many({"a": 1, "b": 2}) == 0
        assert await cache.delete_many(["a"]) == 0
        assert not await cache.delete("a")
        assert not await cache.expire("a", 10)
        assert await cache.ttl("a") == -2
        assert await cache.clear() == 0
        assert await cache.delete_matching("*") == 0
        assert await cache.get_categories() == []
        stats = await cache.get_stats()
    assert stats["available"] is False and stats["entries"] is None
    assert stats["errors"] == 13  # one per operation (set_many: one per item), skipped or failed
    assert stats["misses"] == 3
    assert len(error_lines(log)) == 1
    assert "cache backend redis at redis://127.0.0.1:" in error_lines(log)[0]


async def test_an_outage_costs_one_call_per_retry_interval_and_one_log_line_per_interval(
    clock: FakeClock, log: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with gateway_pipe(f"redis://127.0.0.1:{free_port()}/0") as pipe:
        calls = 0
        execute = pipe.execute

        async def counted(*args: Any) -> Any:
            nonlocal calls
            calls += 1
            return await execute(*args)

        monkeypatch.setattr(pipe, "execute", counted)
        cache = RedisCache(pipe, "nowhere", codec=Codec(), retry_interval=2.0, clock=clock)
        for _ in range(100):
            assert await cache.get("k") is None
        assert calls == 1
        for _ in range(int(LOG_INTERVAL) - 2):  # a retry every 2 s, all failing
            clock.advance(1.0)
            await cache.get("k")
        assert calls == int(LOG_INTERVAL) // 2
        assert len(error_lines(log)) == 1
        clock.advance(2.0)
        await cache.get("k")
        assert len(error_lines(log)) == 2
    assert cache.stats.errors == 100 + int(LOG_INTERVAL) - 2 + 1


async def test_a_restarted_redis_is_used_again_after_the_retry_interval(
    private_redis: Callable[..., str], log: pytest.LogCaptureFixture
) -> None:
    url = private_redis()
    async with gateway_pipe(url + "/0") as pipe:
        cache = RedisCache(pipe, "restart", codec=Codec(), retry_interval=0.2)
        assert await cache.set("k", b"before")
        async with Redis.from_url(url) as admin:
            await admin.shutdown(nosave=True)
        await asyncio.sleep(0.05)
        assert await cache.get("k") is None
        assert not cache.available
        private_redis(port=int(url.rsplit(":", 1)[1]))
        assert not await cache.set("k", b"skipped")  # still inside the retry interval
        await asyncio.sleep(0.25)
        assert await cache.set("k", b"after")
        assert await cache.get("k") == b"after"
        assert cache.get_sync_stats()["available"]
    assert cache.stats.errors == 2
    assert log.records[-1].getMessage().endswith("is reachable again")
    assert len(error_lines(log)) == 1
