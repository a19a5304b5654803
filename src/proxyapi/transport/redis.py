"""The gateway's Redis connection pool (``redis:`` / ``REDIS_URL``), shared by its backends."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from proxyapi.config.caching import RedisConfig


def connect_redis(config: RedisConfig) -> Redis:
    """A client for ``config``; it connects lazily, on its first command.

    No retries inside the client: a check that fails falls back at once (fail
    open or closed) instead of holding the request through a backoff, and the
    backend tries Redis again after ``retry_interval``.
    """
    # A blocking pool: a burst beyond max_connections waits (up to socket_timeout)
    # for a free connection instead of failing, which would read as "Redis down".
    pool = BlockingConnectionPool.from_url(
        config.connection_url(),
        max_connections=config.max_connections,
        timeout=config.socket_timeout,
        socket_timeout=config.socket_timeout,
        socket_connect_timeout=config.socket_timeout,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )
    return Redis.from_pool(pool)
