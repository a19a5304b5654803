"""The in-process cache (L1): encoded values, bounded by entry count and by bytes.

Values are kept as codec payloads, not as the objects given, so a caller can
never mutate what another caller reads, and large values cost what their
compressed form costs. Sizes are ``len(payload) + len(key) + ENTRY_OVERHEAD``.

Eviction takes the lowest priority first, then the least recently used: one
``OrderedDict`` per priority level keeps recency, so an eviction looks at five
levels at most and never sorts. Expired entries are dropped when read, by
``cleanup_expired`` and by the background sweep that ``start`` runs.

Smart TTL (seed 000): an entry read at least ``min_accesses`` times with a hit
rate of at least ``hit_rate_threshold`` is renewed on a hit once less than half
its TTL is left, up to four TTLs after it was stored. Its hit rate counts the
misses its key had before it was stored, so a key that keeps expiring or being
dropped has to earn its renewal.

The synchronous ``get_now`` / ``set_now`` are the request path's entry points;
the async ``ICache`` methods call them.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import math
import random
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from proxyapi.cache.base import (
    DEFAULT_CATEGORY,
    DEFAULT_CATEGORY_TTLS,
    MAX_PRIORITY,
    MIN_PRIORITY,
    CacheStats,
    clamp_priority,
)
from proxyapi.cache.codec import Codec, CorruptEntry, Payload, encode_or_refuse

logger = logging.getLogger("proxyapi.cache")

ENTRY_OVERHEAD: Final = 256
"""Bytes an entry costs beyond its payload and key: the entry object, the two
dict slots that index it, the key's and the payload's object headers."""

MAX_LIFETIME_TTLS: Final = 4
MB: Final = 1024 * 1024


@dataclass(slots=True)
class _Entry:
    payload: Payload
    category: str
    priority: int
    size: int
    ttl: float
    expires_at: float
    renew_limit: float  # smart TTL never moves expires_at past this
    misses: int  # the key's misses before it was stored, for its hit rate
    hits: int = 0


class MemoryCache:
    """``ICache`` in this process; the size bounds hold after every ``set``."""

    name = "memory"

    def __init__(
        self,
        *,
        max_size: int = 10_000,
        max_memory_bytes: int = 512 * MB,
        default_ttl: float = 1800.0,
        category_ttls: Mapping[str, int] = DEFAULT_CATEGORY_TTLS,
        codec: Codec | None = None,
        cleanup_interval: float = 300.0,
        smart_ttl: bool = True,
        min_accesses: int = 5,
        hit_rate_threshold: float = 0.7,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_size < 1 or max_memory_bytes < 1:
            raise ValueError("max_size and max_memory_bytes must be at least 1")
        if default_ttl <= 0 or cleanup_interval <= 0:
            raise ValueError("default_ttl and cleanup_interval must be positive")
        self.max_size = max_size
        self.max_memory_bytes = max_memory_bytes
        self.default_ttl = default_ttl
        self.category_ttls = dict(category_ttls)
        self.codec = codec if codec is not None else Codec()
        self.cleanup_interval = cleanup_interval
        self.smart_ttl = smart_ttl
        self.min_accesses = min_accesses
        self.hit_rate_threshold = hit_rate_threshold
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._levels: dict[int, OrderedDict[str, None]] = {
            level: OrderedDict() for level in range(MIN_PRIORITY, MAX_PRIORITY + 1)
        }
        self._missed: OrderedDict[str, int] = OrderedDict()
        self._memory = 0
        self._stats = CacheStats()
        self._sweeper: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` holds a live entry; unlike a read, it changes no recency or stats."""
        entry = self._entries.get(key) if isinstance(key, str) else None
        return entry is not None and entry.expires_at > self._clock()

    @property
    def memory_usage_bytes(self) -> int:
        return self._memory

    # The request path: synchronous, no coroutine per lookup.

    def get_now(
        self, key: str, category: str = DEFAULT_CATEGORY, *, count: bool = True
    ) -> Any | None:
        """The value, or None; ``category`` is accepted for the contract, keys are global.

        ``count=False`` only looks: no stats, recency or smart TTL change, so a
        consistency check does not make the entries it samples look popular.
        """
        if not count:
            return self._peek(key)
        started = time.perf_counter()
        try:
            return self._lookup(key)
        finally:
            self._stats.access_time_total += time.perf_counter() - started

    def set_now(
        self,
        key: str,
        value: Any,
        ttl: float | None = None,
        category: str = DEFAULT_CATEGORY,
        priority: int = MIN_PRIORITY,
    ) -> bool:
        """Store ``value``; False when it cannot be kept, and then no older value stays either.

        A refused write still drops the key's older value: serving it would undo the write.
        """
        self._remove(key)
        payload = encode_or_refuse(self.codec, key, value, self._stats)
        if payload is None:
            return False
        size = len(payload.data) + len(key) + ENTRY_OVERHEAD
        if size > self.max_memory_bytes:
            logger.debug("not caching %r: %d bytes is over the cache's whole budget", key, size)
            return False
        self._make_room(size)
        self._insert(key, self._entry(key, payload, size, ttl, category, priority))
        return True

    def ttl_for(self, category: str) -> float:
        """The TTL an entry of ``category`` gets when ``set`` is given none."""
        return float(self.category_ttls.get(category, self.default_ttl))

    def sample(self, size: int) -> list[tuple[str, str]]:
        """Up to ``size`` random ``(key, category)`` pairs of stored entries, for spot checks."""
        keys = random.sample(tuple(self._entries), min(size, len(self._entries)))
        return [(key, self._entries[key].category) for key in keys]

    def evict_to(self, max_bytes: int) -> int:
        """Evict in eviction order until at most ``max_bytes`` are used: memory pressure.

        Each call is one memory-pressure event, even one that finds nothing to evict.
        """
        evicted = 0
        while self._memory > max_bytes and self._entries:
            self._evict_one()
            evicted += 1
        self._stats.memory_pressure_events += 1
        return evicted

    def cleanup_expired_now(self) -> int:
        now = self._clock()
        expired = [key for key, entry in self._entries.items() if entry.expires_at <= now]
        for key in expired:
            self._expire(key)
        return len(expired)

    def get_sync_stats(self) -> dict[str, Any]:
        stats = self._stats.as_dict()
        stats.update(
            entries=len(self._entries),
            max_size=self.max_size,
            memory_usage_bytes=self._memory,
            memory_usage_mb=round(self._memory / MB, 3),
            max_memory_mb=round(self.max_memory_bytes / MB, 3),
            backend=self.name,
        )
        return stats

    # ICache.

    async def get(self, key: str, category: str = DEFAULT_CATEGORY) -> Any | None:
        return self.get_now(key, category)

    async def set(
        self,
        key: str,
        value: Any,
        ttl: float | None = None,
        category: str = DEFAULT_CATEGORY,
        priority: int = MIN_PRIORITY,
    ) -> bool:
        return self.set_now(key, value, ttl, category, priority)

    async def delete(self, key: str) -> bool:
        return self._delete(key)

    async def clear(self, category: str | None = None) -> int:
        if category is None:
            return self._delete_all(list(self._entries))
        return await self.clear_category(category)

    async def get_many(
        self, keys: Sequence[str], category: str = DEFAULT_CATEGORY
    ) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for key in keys:
            value = self.get_now(key, category)
            if value is not None:
                found[key] = value
        return found

    async def set_many(
        self,
        items: Mapping[str, Any],
        ttl: float | None = None,
        category: str = DEFAULT_CATEGORY,
    ) -> int:
        return sum(self.set_now(key, value, ttl, category) for key, value in items.items())

    async def delete_many(self, keys: Sequence[str]) -> int:
        return self._delete_all(keys)

    async def delete_matching(self, pattern: str) -> int:
        matches = re.compile(fnmatch.translate(pattern)).fullmatch
        return self._delete_all([key for key in self._entries if matches(key)])

    async def expire(self, key: str, ttl: float) -> bool:
        """A new TTL from now, which also restarts the smart-TTL lifetime; ttl <= 0 deletes."""
        entry = self._live(key)
        if entry is None:
            return False
        if ttl <= 0:
            return self._delete(key)
        now = self._clock()
        entry.ttl = ttl
        entry.expires_at = now + ttl
        entry.renew_limit = now + MAX_LIFETIME_TTLS * ttl
        return True

    async def ttl(self, key: str) -> int:
        entry = self._live(key)
        if entry is None:
            return -2
        return math.ceil(entry.expires_at - self._clock())

    async def get_stats(self) -> dict[str, Any]:
        return self.get_sync_stats()

    async def get_categories(self) -> list[str]:
        return sorted(self._stats.categories)

    async def clear_category(self, category: str) -> int:
        keys = [key for key, entry in self._entries.items() if entry.category == category]
        return self._delete_all(keys)

    async def cleanup_expired(self) -> int:
        return self.cleanup_expired_now()

    async def optimize(self) -> dict[str, Any]:
        """Drop what has expired now rather than at the next sweep, and say what that freed."""
        before = self._memory
        expired = self.cleanup_expired_now()
        return {
            "expired_removed": expired,
            "memory_freed_bytes": before - self._memory,
            "entries": len(self._entries),
            "memory_usage_bytes": self._memory,
        }

    async def start(self) -> None:
        if not self.is_running():
            self._sweeper = asyncio.create_task(self._sweep(), name="memory-cache-sweep")

    async def stop(self) -> None:
        sweeper, self._sweeper = self._sweeper, None
        if sweeper is not None:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper

    def is_running(self) -> bool:
        return self._sweeper is not None and not self._sweeper.done()

    # Internals.

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.cleanup_interval)
            removed = self.cleanup_expired_now()
            if removed:
                logger.debug("cache sweep removed %d expired entries", removed)

    def _lookup(self, key: str) -> Any | None:
        entry = self._entries.get(key)
        now = self._clock()
        if entry is not None and entry.expires_at <= now:
            self._expire(key)
            entry = None
        if entry is None:
            self._miss(key)
            return None
        try:
            value = self.codec.decode_value(entry.payload)
        except CorruptEntry as error:
            logger.warning("dropping corrupted cache entry: %s", error)
            self._stats.corrupted += 1
            self._remove(key)
            self._miss(key)
            return None
        self._hit(key, entry, now)
        return value

    def _peek(self, key: str) -> Any | None:
        entry = self._entries.get(key)
        if entry is None or entry.expires_at <= self._clock():
            return None
        try:
            return self.codec.decode_value(entry.payload)
        except CorruptEntry:
            return None

    def _hit(self, key: str, entry: _Entry, now: float) -> None:
        self._stats.hits += 1
        entry.hits += 1
        self._levels[entry.priority].move_to_end(key)
        if self.smart_ttl:
            self._maybe_renew(entry, now)

    def _maybe_renew(self, entry: _Entry, now: float) -> None:
        """Seed 000's rule: renew an entry that is read often and reliably."""
        if entry.hits < self.min_accesses:
            return
        if entry.hits < self.hit_rate_threshold * (entry.hits + entry.misses):
            return
        if entry.expires_at - now >= entry.ttl / 2:
            return
        renewed = min(now + entry.ttl, entry.renew_limit)
        if renewed > entry.expires_at:
            entry.expires_at = renewed
            self._stats.ttl_extensions += 1

    def _miss(self, key: str) -> None:
        self._stats.misses += 1
        if not self.smart_ttl:
            return
        missed = self._missed
        missed[key] = missed.pop(key, 0) + 1
        if len(missed) > self.max_size:
            missed.popitem(last=False)

    def _entry(
        self,
        key: str,
        payload: Payload,
        size: int,
        ttl: float | None,
        category: str,
        priority: int,
    ) -> _Entry:
        lifetime = ttl if ttl is not None and ttl > 0 else self.ttl_for(category)
        now = self._clock()
        return _Entry(
            payload=payload,
            category=category,
            priority=clamp_priority(priority),
            size=size,
            ttl=lifetime,
            expires_at=now + lifetime,
            renew_limit=now + MAX_LIFETIME_TTLS * lifetime,
            misses=self._missed.pop(key, 0),
        )

    def _make_room(self, size: int) -> None:
        limit = self.max_memory_bytes - size
        while self._entries and (len(self._entries) >= self.max_size or self._memory > limit):
            self._evict_one()

    def _evict_one(self) -> None:
        for level in self._levels.values():
            if level:
                key, _ = level.popitem(last=False)
                self._forget(self._entries.pop(key))
                self._stats.evictions += 1
                return

    def _insert(self, key: str, entry: _Entry) -> None:
        self._entries[key] = entry
        self._levels[entry.priority][key] = None
        self._memory += entry.size
        stats = self._stats
        stats.sets += 1
        stats.categories[entry.category] = stats.categories.get(entry.category, 0) + 1
        stats.peak_memory_usage = max(stats.peak_memory_usage, self._memory)
        if entry.payload.compressed:
            stats.bytes_before_compression += entry.payload.raw_size
            stats.bytes_after_compression += len(entry.payload.data)

    def _live(self, key: str) -> _Entry | None:
        """The entry if it has not expired; an expired one is dropped on the way."""
        entry = self._entries.get(key)
        if entry is not None and entry.expires_at <= self._clock():
            self._expire(key)
            return None
        return entry

    def _expire(self, key: str) -> None:
        if self._remove(key):
            self._stats.expirations += 1

    def _delete(self, key: str) -> bool:
        """An explicit removal, counted in ``deletes``; an expired entry does not count."""
        if self._live(key) is None:
            return False
        self._remove(key)
        self._stats.deletes += 1
        return True

    def _delete_all(self, keys: Iterable[str]) -> int:
        return sum(self._delete(key) for key in keys)

    def _remove(self, key: str) -> bool:
        entry = self._entries.pop(key, None)
        if entry is None:
            return False
        del self._levels[entry.priority][key]
        self._forget(entry)
        return True

    def _forget(self, entry: _Entry) -> None:
        """Account for an entry that has left ``_entries`` and its level."""
        self._memory -= entry.size
        categories = self._stats.categories
        left = categories[entry.category] - 1
        if left:
            categories[entry.category] = left
        else:
            del categories[entry.category]
