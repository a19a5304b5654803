"""Cache blocks: ``caching:`` (seed 004/002), ``cache.unified`` (seed 000) and ``redis:``."""

from __future__ import annotations

from typing import Literal
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from proxyapi.config._fields import Count, Port, Positive, Probability, Seconds, Section


class CacheStore(Section):
    """One in-memory cache (responses, summaries, model lists, parsed config)."""

    max_size_mb: Positive = 100
    ttl: Count = 1800
    compression: bool = True
    # zstd's own default. Measured on a 10 KB answer: 43 µs at 3, 148 µs at 6, for
    # 2% smaller output; the seed's 6 was a zlib level.
    compression_level: int = Field(
        3, ge=0, le=9, description="zstd level: 1 fastest … 9 smallest; 0 means 1"
    )


class CacheWarming(Section):
    enabled: bool = True
    interval: Positive = 300
    max_concurrent_warms: Positive = 5
    warm_batch_size: Positive = 50
    preload_popular: bool = True
    preload_threshold: Positive = 10
    enable_pattern_analysis: bool = True
    enable_predictive_warming: bool = True


class CacheMonitoring(Section):
    enabled: bool = True
    metrics_interval: Positive = 60
    enable_detailed_stats: bool = True
    alert_on_low_hit_rate: bool = True
    hit_rate_threshold: Probability = 0.7


class CachingConfig(Section):
    """The response and summary caches (``caching:``)."""

    enabled: bool = True
    scope: Literal["per_key", "global"] = Field(
        "per_key",
        description="per_key: a cached answer is served only to the API key that caused it",
    )
    response_cache: CacheStore = Field(default_factory=CacheStore)
    summary_cache: CacheStore = Field(default_factory=lambda: CacheStore(max_size_mb=50, ttl=3600))
    model_cache: CacheStore = Field(default_factory=lambda: CacheStore(max_size_mb=25, ttl=300))
    config_cache: CacheStore = Field(
        default_factory=lambda: CacheStore(max_size_mb=10, ttl=600, compression=False)
    )
    warming: CacheWarming = Field(default_factory=CacheWarming)
    monitoring: CacheMonitoring = Field(default_factory=CacheMonitoring)


def _default_categories() -> dict[str, int]:
    return {"models": 3600, "responses": 1800, "metadata": 7200, "summaries": 3600}


class UnifiedCacheConfig(Section):
    """The unified cache of seed 000 (``cache.unified``); TTLs in seconds."""

    enabled: bool = True
    max_size: Positive = 10000
    default_ttl: Count = 1800
    max_memory_mb: Positive = 512
    enable_disk_cache: bool = True
    disk_cache_dir: str = ".cache/unified"
    cleanup_interval: Positive = 300
    enable_smart_ttl: bool = True
    enable_predictive_warming: bool = True
    enable_consistency_monitoring: bool = True
    max_disk_mb: Positive = Field(1024, description="bound of the disk layer")
    compression_threshold_bytes: Count = Field(
        1024, description="values at least this long are zstd-compressed"
    )
    shared_l1_ttl: Positive = Field(
        10,
        description="with Redis as L2: seconds an entry stays in a process's memory, "
        "so another process's invalidation is seen within that time",
    )
    categories: dict[str, Count] = Field(
        default_factory=_default_categories, description="category -> TTL in seconds"
    )


class CacheConfig(Section):
    """``cache:`` as seed 000 writes it."""

    unified: UnifiedCacheConfig = Field(default_factory=UnifiedCacheConfig)


class RedisConfig(Section):
    """Shared state across workers and instances; replaces the memory backends when enabled."""

    enabled: bool = False
    host: str = "localhost"
    port: Port = 6379
    db: Count = 0
    password: str | None = None
    url: str | None = Field(None, description="redis://... ; wins over host/port/db when set")
    key_prefix: str = Field(
        "proxyapi", min_length=1, description="namespace of every key the gateway writes"
    )
    socket_timeout: Seconds = Field(
        0.5, description="seconds before a Redis call counts as failed (then fail open/closed)"
    )
    retry_interval: Seconds = Field(
        1.0, description="after a failure, seconds before Redis is tried again"
    )

    @field_validator("password", "url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # "${REDIS_PASSWORD}" with the variable unset substitutes to "".
        return None if value == "" else value

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise PydanticCustomError(
                "redis_url",
                "{u} is not a Redis URL (redis://host:port/db, rediss://… or unix://…)",
                {"u": repr(redact_url(value))},
            )
        return value

    def connection_url(self) -> str:
        """``url`` when set, else one built from host, port, db and password."""
        if self.url:
            return self.url
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/{self.db}"


def redact_url(url: str) -> str:
    """A Redis URL safe to print: any password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
