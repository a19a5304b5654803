"""The unified cache: memory (L1) in front of disk or Redis (L2), behind one ICache.

Reads try L1, then L2 (a hit there is copied into L1); writes go to both. With
Redis as L2 every process shares entries, so an entry lives in a process's L1
for at most ``shared_l1_ttl`` seconds: an invalidation made through another
process is seen here within that time. A consistency check compares a sample of
L1 entries with L2 every ``cleanup_interval`` and drops any L1 copy that
disagrees or that L2 no longer has, counted in ``consistency_checks`` / ``inconsistencies_found``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final

from proxyapi.cache.base import DEFAULT_CATEGORY, MIN_PRIORITY, CacheStats, ICache
from proxyapi.cache.memory import MemoryCache

logger = logging.getLogger("proxyapi.cache")

CONSISTENCY_SAMPLE: Final = 64


class UnifiedCache:
    """L1 memory over an optional L2; seed 000's ``UnifiedCache``."""

    name = "unified"

    def __init__(
        self,
        memory: MemoryCache,
        l2: ICache | None = None,
        *,
        l1_ttl_cap: float | None = None,
        consistency_checks: bool = True,
        check_interval: float = 300.0,
    ) -> None:
        self.memory = memory
        self.l2 = l2
        self.l1_ttl_cap = l1_ttl_cap
        self.consistency_checks = consistency_checks and l2 is not None
        self.check_interval = check_interval
        self.stats = CacheStats()
        self._checker: asyncio.Task[None] | None = None

    def _l1_ttl(self, ttl: float | None, category: str) -> float | None:
        if self.l1_ttl_cap is None:
            return ttl
        wanted = ttl if ttl is not None else self.memory.ttl_for(category)
        return min(wanted, self.l1_ttl_cap)

    async def get(self, key: str, category: str = DEFAULT_CATEGORY) -> Any | None:
        started = time.perf_counter()
        value = self.memory.get_now(key, category)
        if value is None and self.l2 is not None:
            value = await self.l2.get(key, category)
            if value is not None:
                await self._promote(key, value, category)
        self.stats.access_time_total += time.perf_counter() - started
        if value is None:
            self.stats.misses += 1
        else:
            self.stats.hits += 1
        return value

    async def _promote(self, key: str, value: Any, category: str) -> None:
        """Copy an L2 hit into L1, for no longer than the L2 entry has left."""
        left = await self.l2.ttl(key) if self.l2 is not None else -1
        ttl = self._l1_ttl(None, category)
        if left == -2:
            return  # gone meanwhile
        if left > 0:
            ttl = min(ttl, float(left)) if ttl is not None else float(left)
        self.memory.set_now(key, value, ttl, category)

    async def set(
        self,
        key: str,
        value: Any,
        ttl: float | None = None,
        category: str = DEFAULT_CATEGORY,
        priority: int = MIN_PRIORITY,
    ) -> bool:
        self.stats.sets += 1
        stored = self.memory.set_now(key, value, self._l1_ttl(ttl, category), category, priority)
        if self.l2 is not None:
            stored = await self.l2.set(key, value, ttl, category, priority) or stored
        return stored

    async def delete(self, key: str) -> bool:
        self.stats.deletes += 1
        found = await self.memory.delete(key)
        if self.l2 is not None:
            found = await self.l2.delete(key) or found
        return found

    async def clear(self, category: str | None = None) -> int:
        removed = await self.memory.clear(category)
        if self.l2 is not None:
            removed = max(removed, await self.l2.clear(category))
        return removed

    async def get_many(
        self, keys: Sequence[str], category: str = DEFAULT_CATEGORY
    ) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for key in keys:
            value = await self.get(key, category)
            if value is not None:
                found[key] = value
        return found

    async def set_many(
        self, items: Mapping[str, Any], ttl: float | None = None, category: str = DEFAULT_CATEGORY
    ) -> int:
        return sum([await self.set(key, value, ttl, category) for key, value in items.items()])

    async def delete_many(self, keys: Sequence[str]) -> int:
        return sum([await self.delete(key) for key in keys])

    async def delete_matching(self, pattern: str) -> int:
        removed = await self.memory.delete_matching(pattern)
        if self.l2 is not None:
            removed = max(removed, await self.l2.delete_matching(pattern))
        return removed

    async def expire(self, key: str, ttl: float) -> bool:
        found = await self.memory.expire(key, self._l1_ttl(ttl, DEFAULT_CATEGORY) or ttl)
        if self.l2 is not None:
            found = await self.l2.expire(key, ttl) or found
        return found

    async def ttl(self, key: str) -> int:
        if self.l2 is not None:
            return await self.l2.ttl(key)
        return await self.memory.ttl(key)

    async def get_stats(self) -> dict[str, Any]:
        report = self.get_sync_stats()
        if self.l2 is not None:
            report["l2"] = await self.l2.get_stats()
        return report

    def get_sync_stats(self) -> dict[str, Any]:
        memory = self.memory.get_sync_stats()
        report: dict[str, Any] = {
            **memory,
            **self.stats.as_dict(),
            "backend": "unified",
            "layers": ["memory", *([self.l2.name] if self.l2 is not None else [])],
            "memory": memory,
        }
        for name in (
            "evictions",
            "expirations",
            "memory_pressure_events",
            "ttl_extensions",
            "peak_memory_usage",
            "errors",
            "corrupted_entries",
        ):
            report[name] = memory.get(name, 0)
        report["compression_ratio"] = memory.get("compression_ratio", 1.0)
        report["categories"] = memory.get("categories", {})
        if self.l2 is not None:
            report["l2"] = self.l2.get_sync_stats()
        return report

    async def get_categories(self) -> list[str]:
        found = set(await self.memory.get_categories())
        if self.l2 is not None:
            found |= set(await self.l2.get_categories())
        return sorted(found)

    async def clear_category(self, category: str) -> int:
        return await self.clear(category)

    async def cleanup_expired(self) -> int:
        removed = await self.memory.cleanup_expired()
        if self.l2 is not None:
            removed += await self.l2.cleanup_expired()
        return removed

    async def optimize(self) -> dict[str, Any]:
        report = {"memory": await self.memory.optimize()}
        if self.l2 is not None:
            report[self.l2.name] = await self.l2.optimize()
        return report

    async def check_consistency(self) -> int:
        """Compare a sample of L1 entries with L2; drop the L1 copies that disagree."""
        if self.l2 is None:
            return 0
        self.stats.consistency_checks += 1
        found = 0
        for key, category in self.memory.sample(CONSISTENCY_SAMPLE):
            mine = self.memory.get_now(key, category, count=False)
            theirs = await self.l2.get(key, category)
            # Different, or gone from L2 (deleted by another process, expired): L2 is
            # the shared truth, the memory copy must go.
            if mine is not None and mine != theirs:
                found += 1
                await self.memory.delete(key)
                logger.warning("cache inconsistency for key %s: the memory copy was dropped", key)
        self.stats.inconsistencies_found += found
        return found

    async def _check_forever(self) -> None:
        while True:
            await asyncio.sleep(self.check_interval)
            try:
                await self.check_consistency()
            except Exception:
                logger.exception("cache consistency check failed")

    async def start(self) -> None:
        await self.memory.start()
        if self.l2 is not None:
            try:
                await self.l2.start()
            except OSError as error:
                # An unusable disk_cache_dir (read-only, missing parent) must not stop
                # the gateway: it runs on the memory layer alone, and says so.
                logger.error(
                    "the %s cache layer cannot start (%s); caching in memory only",
                    self.l2.name,
                    error,
                )
                self.l2 = None
                self.consistency_checks = False
        if self.consistency_checks and self._checker is None:
            self._checker = asyncio.create_task(self._check_forever())

    async def stop(self) -> None:
        if self._checker is not None:
            self._checker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checker
            self._checker = None
        await self.memory.stop()
        if self.l2 is not None:
            await self.l2.stop()

    def is_running(self) -> bool:
        return self.memory.is_running()
