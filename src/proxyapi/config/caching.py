"""Cache blocks: ``caching:`` (seed 004/002), ``cache.unified`` (seed 000) and ``redis:``."""

from __future__ import annotations

from pydantic import Field, field_validator

from proxyapi.config._fields import Count, Port, Positive, Probability, Section


class CacheStore(Section):
    """One in-memory cache (responses, summaries, model lists, parsed config)."""

    max_size_mb: Positive = 100
    ttl: Count = 1800
    compression: bool = True
    compression_level: int = Field(6, ge=0, le=9)


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

    @field_validator("password", "url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # "${REDIS_PASSWORD}" with the variable unset substitutes to "".
        return None if value == "" else value
