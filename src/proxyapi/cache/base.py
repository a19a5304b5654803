"""The cache contract every backend keeps: seed 000's ``ICache`` protocol.

Backends: memory (L1, cache/memory.py), disk and Redis (L2, cache/disk.py,
cache/redis.py); cache/unified.py layers L1 over one L2. Values are what the
gateway caches: ``bytes`` (response bodies, replayed as they are) or anything
orjson can encode (model lists, stats); cache/codec.py turns either into one
framed, checksummed, optionally compressed byte string, which is what every
backend stores and what sizes are counted in.

Categories name families of keys with their own default TTL (seed defaults:
models 3600 s, responses 1800 s, metadata 7200 s, summaries 3600 s); ``ttl``
given to ``set`` wins over the category's. Priority 1 (low) to 5 (high):
eviction takes the lowest priority first, then the least recently used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

DEFAULT_CATEGORY: Final = "default"
MIN_PRIORITY: Final = 1
MAX_PRIORITY: Final = 5
DEFAULT_CATEGORY_TTLS: Final[Mapping[str, int]] = {
    "models": 3600,
    "responses": 1800,
    "metadata": 7200,
    "summaries": 3600,
}


def clamp_priority(priority: int) -> int:
    """A priority within 1..5: out-of-range ones count as the nearest level."""
    return min(MAX_PRIORITY, max(MIN_PRIORITY, priority))


def lifetime(
    ttl: float | None, category: str, category_ttls: Mapping[str, int], default_ttl: float
) -> float:
    """Seconds to keep an entry: a positive ``ttl``, else its category's, else the default."""
    if ttl is not None and ttl > 0:
        return ttl
    return float(category_ttls.get(category, default_ttl))


@dataclass(slots=True)
class CacheStats:
    """Counters every backend keeps; ``get_stats`` reports them with seed 000's names."""

    hits: int = 0
    misses: int = 0
    sets: int = 0
    deletes: int = 0
    evictions: int = 0
    expirations: int = 0
    errors: int = 0  # backend failures (Redis unreachable, disk I/O), each a bypass
    corrupted: int = 0  # entries dropped because their checksum or frame was wrong
    consistency_checks: int = 0
    inconsistencies_found: int = 0
    memory_pressure_events: int = 0
    warmup_operations: int = 0
    ttl_extensions: int = 0
    bytes_before_compression: int = 0  # of values stored compressed
    bytes_after_compression: int = 0
    peak_memory_usage: int = 0
    access_time_total: float = 0.0  # seconds spent in get(), for average_access_time
    categories: dict[str, int] = field(default_factory=dict)  # entries per category

    @property
    def lookups(self) -> int:
        return self.hits + self.misses

    def as_dict(self) -> dict[str, Any]:
        lookups = self.lookups
        ratio = (
            self.bytes_after_compression / self.bytes_before_compression
            if self.bytes_before_compression
            else 1.0
        )
        return {
            "hits": self.hits,
            "misses": self.misses,
            "total_requests": lookups,
            "hit_rate": round(self.hits / lookups, 4) if lookups else 0.0,
            "sets": self.sets,
            "deletes": self.deletes,
            "evictions": self.evictions,
            "expirations": self.expirations,
            "errors": self.errors,
            "corrupted_entries": self.corrupted,
            "consistency_checks": self.consistency_checks,
            "inconsistencies_found": self.inconsistencies_found,
            "memory_pressure_events": self.memory_pressure_events,
            "warmup_operations": self.warmup_operations,
            "ttl_extensions": self.ttl_extensions,
            "compression_ratio": round(ratio, 4),
            "peak_memory_usage": self.peak_memory_usage,
            "average_access_time": round(self.access_time_total / lookups * 1000, 4)
            if lookups
            else 0.0,
            "categories": dict(self.categories),
        }


class ICache(Protocol):
    """Seed 000's cache interface. Every method is safe to call concurrently.

    ``get`` returns None for a missing, expired or unreadable (corrupted) entry;
    backends that can fail (disk, Redis) count the failure and behave as a miss
    rather than raise, so a cache problem never fails a request.
    """

    name: str

    async def get(self, key: str, category: str = DEFAULT_CATEGORY) -> Any | None: ...

    async def set(
        self,
        key: str,
        value: Any,
        ttl: float | None = None,
        category: str = DEFAULT_CATEGORY,
        priority: int = MIN_PRIORITY,
    ) -> bool: ...

    async def delete(self, key: str) -> bool: ...

    async def clear(self, category: str | None = None) -> int: ...

    async def get_many(
        self, keys: Sequence[str], category: str = DEFAULT_CATEGORY
    ) -> dict[str, Any]: ...

    async def set_many(
        self,
        items: Mapping[str, Any],
        ttl: float | None = None,
        category: str = DEFAULT_CATEGORY,
    ) -> int: ...

    async def delete_many(self, keys: Sequence[str]) -> int: ...

    async def delete_matching(self, pattern: str) -> int:
        """Delete every key matching a glob (``summary:*``, ``response:openai:*``)."""
        ...

    async def expire(self, key: str, ttl: float) -> bool: ...

    async def ttl(self, key: str) -> int:
        """Whole seconds left (rounded up); -2 when the key does not exist, as Redis says."""
        ...

    async def get_stats(self) -> dict[str, Any]: ...

    def get_sync_stats(self) -> dict[str, Any]: ...

    async def get_categories(self) -> list[str]: ...

    async def clear_category(self, category: str) -> int: ...

    async def cleanup_expired(self) -> int: ...

    async def optimize(self) -> dict[str, Any]: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def is_running(self) -> bool: ...
