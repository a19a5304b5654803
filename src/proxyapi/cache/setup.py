"""The unified cache a configuration describes (``caching``, ``cache.unified``, ``redis``)."""

from __future__ import annotations

from pathlib import Path

from proxyapi.cache.base import ICache
from proxyapi.cache.codec import Codec
from proxyapi.cache.disk import DiskCache
from proxyapi.cache.memory import MemoryCache
from proxyapi.cache.redis import RedisCache
from proxyapi.cache.unified import UnifiedCache
from proxyapi.config.models import Config
from proxyapi.transport.redis import RedisPipe

MB = 1024 * 1024


def build_cache(config: Config, redis: RedisPipe | None) -> UnifiedCache:
    """Memory (L1) over Redis when the gateway has one, else over disk when enabled.

    With ``caching.enabled: false`` there is no L2 (nothing written to disk or
    Redis): the memory layer still holds model discovery.
    """
    unified = config.cache.unified
    responses = config.caching.response_cache
    codec = Codec(
        compress=responses.compression,
        level=max(1, responses.compression_level),
        threshold=unified.compression_threshold_bytes,
    )
    categories = {**unified.categories, "responses": responses.ttl}
    memory = MemoryCache(
        max_size=unified.max_size,
        max_memory_bytes=unified.max_memory_mb * MB,
        default_ttl=float(unified.default_ttl),
        category_ttls=categories,
        codec=codec,
        cleanup_interval=float(unified.cleanup_interval),
        smart_ttl=unified.enable_smart_ttl,
    )
    l2 = _second_layer(config, redis, codec, categories) if config.caching.enabled else None
    return UnifiedCache(
        memory,
        l2,
        l1_ttl_cap=float(unified.shared_l1_ttl) if redis is not None else None,
        consistency_checks=unified.enable_consistency_monitoring,
        check_interval=float(unified.cleanup_interval),
    )


def _second_layer(
    config: Config, redis: RedisPipe | None, codec: Codec, categories: dict[str, int]
) -> ICache | None:
    unified = config.cache.unified
    if redis is not None:
        return RedisCache(
            redis,
            config.redis.key_prefix,
            codec=codec,
            default_ttl=float(unified.default_ttl),
            category_ttls=categories,
            retry_interval=config.redis.retry_interval,
        )
    if unified.enable_disk_cache:
        return DiskCache(
            Path(unified.disk_cache_dir),
            max_bytes=unified.max_disk_mb * MB,
            codec=codec,
            default_ttl=float(unified.default_ttl),
            category_ttls=categories,
        )
    return None
