"""What every backend guarantees, checked on both: memory, and a real redis-server.

The Redis cases need redis-server on 127.0.0.1:6379 (``scripts/ensure-redis.sh``);
without it they fail rather than skip.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import uuid4

import pytest
from redis.asyncio import Redis

from proxyapi.config.caching import RedisConfig
from proxyapi.ratelimit.base import Backend, Bucket
from proxyapi.ratelimit.bucket import Limit
from proxyapi.ratelimit.limiter import RateLimiter
from proxyapi.ratelimit.memory import MemoryBackend
from proxyapi.ratelimit.redis import RedisBackend
from proxyapi.transport.redis import RedisPipe

REDIS_URL = "redis://127.0.0.1:6379/0"
SLOW = 0.001  # tokens/s: no refill worth counting during a test
CONCURRENT = 200


@pytest.fixture
def prefix() -> str:
    return f"test-{uuid4().hex}"


@asynccontextmanager
async def redis_client(prefix: str) -> AsyncIterator[Redis]:
    """redis-py, to look at what the backend wrote and to clean up after it."""
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
        yield client
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest, prefix: str) -> AsyncIterator[Backend]:
    if request.param == "memory":
        yield MemoryBackend()
        return
    async with redis_client(prefix), gateway_pipe() as pipe:
        yield RedisBackend(pipe, prefix)


@asynccontextmanager
async def gateway_pipe() -> AsyncIterator[RedisPipe]:
    """The connection the gateway itself uses."""
    pipe = RedisPipe(RedisConfig(url=REDIS_URL))
    try:
        yield pipe
    finally:
        await pipe.close()


@pytest.fixture
async def redis(prefix: str) -> AsyncIterator[Redis]:
    async with redis_client(prefix) as client:
        yield client


@pytest.fixture
async def pipe() -> AsyncIterator[RedisPipe]:
    async with gateway_pipe() as made:
        yield made


def bucket(key: str, capacity: float, rate: float = SLOW, scope: str = "ip") -> Bucket:
    return Bucket(key, Limit(capacity=capacity, rate=rate), scope)


async def admitted(backend: Backend, buckets: list[Bucket], attempts: int) -> int:
    return sum([(await backend.take(buckets)).allowed for _ in range(attempts)])


async def level(backend: Backend, one: Bucket) -> float:
    """The bucket's level, read by a request that is certain to be refused."""
    verdict = await backend.take([one], cost=one.limit.capacity + 1)
    assert not verdict.allowed
    return verdict.tokens[0]


async def test_a_fresh_bucket_admits_exactly_its_capacity_then_refuses(backend: Backend) -> None:
    assert await admitted(backend, [bucket("k", 5)], 12) == 5


async def test_buckets_with_different_keys_are_independent(backend: Backend) -> None:
    assert await admitted(backend, [bucket("a", 2)], 5) == 2
    assert await admitted(backend, [bucket("b", 3)], 5) == 3


async def test_the_verdict_reports_each_buckets_level_after_the_take(backend: Backend) -> None:
    verdict = await backend.take([bucket("a", 5), bucket("b", 10)])
    assert verdict.allowed
    assert verdict.tokens == pytest.approx((4.0, 9.0), abs=0.01)


async def test_a_take_costs_its_cost_from_every_bucket(backend: Backend) -> None:
    verdict = await backend.take([bucket("a", 5), bucket("b", 10)], cost=3.0)
    assert verdict.tokens == pytest.approx((2.0, 7.0), abs=0.01)


async def test_a_refused_verdict_reports_the_levels_left_untouched(backend: Backend) -> None:
    small, big = bucket("small", 1), bucket("big", 5)
    await backend.take([small])
    verdict = await backend.take([big, small])
    assert not verdict.allowed
    assert verdict.tokens == pytest.approx((5.0, 0.0), abs=0.01)


async def test_a_request_refused_by_one_bucket_takes_nothing_from_the_others(
    backend: Backend,
) -> None:
    small, big, other = bucket("small", 1), bucket("big", 5), bucket("other", 3)
    await backend.take([small])
    await backend.take([other])
    for _ in range(4):
        assert not (await backend.take([big, small, other])).allowed
    assert await level(backend, big) == pytest.approx(5.0, abs=0.01)
    assert await level(backend, other) == pytest.approx(2.0, abs=0.01)
    assert await admitted(backend, [big], 10) == 5


async def test_a_spent_bucket_refills_over_real_time(backend: Backend) -> None:
    fast = bucket("fast", 2, rate=10.0)
    assert await admitted(backend, [fast], 2) == 2
    assert not (await backend.take([fast])).allowed
    await asyncio.sleep(0.15)
    assert (await backend.take([fast])).allowed


async def test_concurrent_takes_admit_exactly_the_capacity(backend: Backend) -> None:
    one = bucket("busy", 50)
    verdicts = await asyncio.gather(*(backend.take([one]) for _ in range(CONCURRENT)))
    assert sum(v.allowed for v in verdicts) == 50


async def test_concurrent_takes_on_several_buckets_stay_all_or_nothing(backend: Backend) -> None:
    shared, own = bucket("shared", 30, scope="global"), bucket("own", 1000)
    verdicts = await asyncio.gather(*(backend.take([own, shared]) for _ in range(CONCURRENT)))
    assert sum(v.allowed for v in verdicts) == 30
    assert await level(backend, own) == pytest.approx(970.0, abs=0.01)


async def test_a_lowered_capacity_clips_the_stored_level(backend: Backend) -> None:
    await backend.take([bucket("k", 10)])
    verdict = await backend.take([bucket("k", 3)])
    assert verdict.allowed
    assert verdict.tokens == pytest.approx((2.0,), abs=0.01)
    assert await admitted(backend, [bucket("k", 3)], 5) == 2


async def test_a_raised_capacity_lets_the_bucket_refill_further(backend: Backend) -> None:
    await backend.take([bucket("k", 2, rate=1000.0)])
    await asyncio.sleep(0.01)
    assert await level(backend, bucket("k", 5, rate=1000.0)) == pytest.approx(5.0)


async def test_redis_keys_live_under_the_prefix_ratelimit_namespace(
    redis: Redis, pipe: RedisPipe, prefix: str
) -> None:
    await RedisBackend(pipe, prefix).take([bucket("ip:1.2.3.4", 5)])
    keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
    assert keys == [f"{prefix}:ratelimit:ip:1.2.3.4@5/0.001".encode()]  # key @ shape


async def test_redis_keys_expire_once_their_bucket_would_be_full(
    redis: Redis, pipe: RedisPipe, prefix: str
) -> None:
    backend = RedisBackend(pipe, prefix)
    fast_bucket, hourly_bucket = bucket("fast", 5, rate=1.0), bucket("hourly", 1, rate=1 / 3600)
    await backend.take([fast_bucket, hourly_bucket])
    fast = await redis.pttl(f"{prefix}:ratelimit:{fast_bucket.storage_key}")
    hourly = await redis.pttl(f"{prefix}:ratelimit:{hourly_bucket.storage_key}")
    assert 900 < fast <= 1000  # full again one second after one take, at 1 token/s
    assert 3_599_000 < hourly <= 3_600_000


async def test_a_changed_limit_starts_its_bucket_afresh_an_unchanged_one_keeps_its_level(
    pipe: RedisPipe, prefix: str
) -> None:
    for backend in (MemoryBackend(), RedisBackend(pipe, prefix)):
        await backend.take([bucket("k", 5)])
        assert await level(backend, bucket("k", 5)) == pytest.approx(4.0, abs=0.01)
        assert await level(backend, bucket("k", 10)) == pytest.approx(10.0, abs=0.01)


async def test_a_refused_redis_request_writes_no_key(
    redis: Redis, pipe: RedisPipe, prefix: str
) -> None:
    verdict = await RedisBackend(pipe, prefix).take([bucket("k", 1)], cost=2.0)
    assert not verdict.allowed
    assert await redis.exists(f"{prefix}:ratelimit:k") == 0


async def test_two_redis_backends_on_one_prefix_share_their_buckets(
    redis: Redis, pipe: RedisPipe, prefix: str
) -> None:
    async with gateway_pipe() as other:
        first, second = RedisBackend(pipe, prefix), RedisBackend(other, prefix)
        one = bucket("shared", 4)
        assert await admitted(first, [one], 3) == 3
        assert await admitted(second, [one], 3) == 1


async def test_redis_backends_with_different_prefixes_do_not_share(
    redis: Redis, pipe: RedisPipe, prefix: str
) -> None:
    one = bucket("k", 1)
    assert (await RedisBackend(pipe, prefix).take([one])).allowed
    assert (await RedisBackend(pipe, f"{prefix}:other").take([one])).allowed


async def test_a_burst_of_concurrent_requests_is_judged_not_taken_for_an_outage(
    redis: Redis, pipe: RedisPipe, prefix: str
) -> None:
    limiter = RateLimiter(RedisBackend(pipe, prefix))
    outcomes = await asyncio.gather(
        *(limiter.check([bucket("burst", 50)]) for _ in range(CONCURRENT * 5))
    )
    assert limiter.backend_errors == 0
    assert sum(o is not None and o.allowed for o in outcomes) == 50
