"""The gateway's Redis connection pool (``redis:`` / ``REDIS_URL``), shared by its backends."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from proxyapi.config.caching import RedisConfig


def connect_redis(config: RedisConfig) -> Redis:
    """A client for ``config``; it connects lazily, on its first command.

    No retries inside the client: a check that fails falls back at once (fail
    open or closed) instead of holding the request through a backoff, and the
    backend tries Redis again after ``retry_interval``.
    """
    return Redis.from_url(
        config.connection_url(),
        socket_timeout=config.socket_timeout,
        socket_connect_timeout=config.socket_timeout,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )
