"""A fresh cache of each backend for the contract tests: memory, disk, and a real redis-server.

Disk and Redis are imported inside their branch, so the memory cases run on
their own (``-k memory``) whatever state the other backends are in. The Redis
cases need redis-server on 127.0.0.1:6379 (``scripts/ensure-redis.sh``);
without it they fail rather than skip.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from uuid import uuid4

import pytest
from redis.asyncio import Redis

from proxyapi.cache.base import ICache
from proxyapi.cache.codec import Codec
from proxyapi.cache.memory import MemoryCache
from proxyapi.config.caching import RedisConfig
from proxyapi.transport.redis import RedisPipe

REDIS_URL = "redis://127.0.0.1:6379/0"
THRESHOLD = 256  # compress values from 256 bytes, so the tests' large values are compressed
MAX_BYTES = 64 * 1024 * 1024


@pytest.fixture(name="cache", params=["memory", "disk", "redis"])
async def backend_factory(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ICache]:
    if request.param == "memory":
        yield MemoryCache(max_memory_bytes=MAX_BYTES, codec=Codec(threshold=THRESHOLD))
    elif request.param == "disk":
        async with disk_cache(tmp_path / "cache") as disk:
            yield disk
    else:
        async with redis_cache(f"test-{uuid4().hex}") as redis:
            yield redis


@asynccontextmanager
async def disk_cache(directory: Path) -> AsyncIterator[ICache]:
    from proxyapi.cache.disk import DiskCache

    cache = DiskCache(directory, max_bytes=MAX_BYTES, codec=Codec(threshold=THRESHOLD))
    await cache.start()
    try:
        yield cache
    finally:
        await cache.stop()


@asynccontextmanager
async def redis_cache(prefix: str) -> AsyncIterator[ICache]:
    from proxyapi.cache.redis import RedisCache

    pipe = RedisPipe(RedisConfig(url=REDIS_URL))
    cache = RedisCache(pipe, prefix, codec=Codec(threshold=THRESHOLD))
    await cache.start()
    try:
        yield cache
    finally:
        await cache.stop()
        await pipe.close()
        await forget_keys(prefix)


async def forget_keys(prefix: str) -> None:
    """Delete what the test left under its prefix, with redis-py rather than the code under test."""
    client = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
