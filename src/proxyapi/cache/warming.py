"""Cache warming (seed 002): refresh popular entries before they expire.

Every answer stored remembers how to fetch it again (a fetcher); every HIT
counts towards its key's popularity. Every ``interval`` seconds the loop takes
the popular keys (``preload_threshold`` hits or more) that would expire before
the next round, at most ``warm_batch_size`` of them, and fetches them again,
``max_concurrent_warms`` at a time, so a popular answer never turns into a slow
MISS. ``warmup(keys, fetcher)`` fills keys on demand (``POST /api/cache/warm``).

Memory stays bounded: at most ``MAX_TRACKED`` keys are remembered, least
recently used dropped first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from proxyapi.cache.base import ICache
from proxyapi.config.caching import CacheWarming

logger = logging.getLogger("proxyapi.cache")

MAX_TRACKED: Final = 4096
Fetcher = Callable[[], Awaitable[Any]]


@dataclass(slots=True)
class Tracked:
    fetch: Fetcher
    ttl: float | None
    category: str
    hits: int = 0
    warmed: bool = False


class Warmer:
    """Popular keys, how to fetch them, and the loop that keeps them fresh."""

    def __init__(self, cache: ICache, config: CacheWarming) -> None:
        self.cache = cache
        self.config = config
        self._tracked: OrderedDict[str, Tracked] = OrderedDict()
        self._task: asyncio.Task[None] | None = None
        self.rounds = 0
        self.warmup_operations = 0
        self.warm_failures = 0
        self.hits_on_tracked = 0
        self.warm_hits = 0  # HITs served by an entry the warmer fetched

    def track(self, key: str, fetch: Fetcher, ttl: float | None, category: str) -> None:
        """Remember how to fetch ``key`` again (called when an answer is stored)."""
        known = self._tracked.pop(key, None)
        entry = Tracked(fetch, ttl, category, hits=known.hits if known else 0)
        self._tracked[key] = entry
        while len(self._tracked) > MAX_TRACKED:
            self._tracked.popitem(last=False)

    def hit(self, key: str) -> None:
        """A HIT on ``key``: one step more popular."""
        entry = self._tracked.get(key)
        if entry is None:
            return
        self._tracked.move_to_end(key)
        entry.hits += 1
        self.hits_on_tracked += 1
        if entry.warmed:
            self.warm_hits += 1

    def popular(self) -> list[str]:
        threshold = self.config.preload_threshold
        return [key for key, entry in self._tracked.items() if entry.hits >= threshold]

    async def warmup(
        self,
        keys: Sequence[str],
        fetcher: Callable[[str], Awaitable[Any]],
        ttl: float | None = None,
        category: str = "default",
    ) -> int:
        """Fetch and store each key (seed 002's ``warmup(keys, fetcher)``); returns how many."""
        gate = asyncio.Semaphore(self.config.max_concurrent_warms)

        async def one(key: str) -> bool:
            async with gate:
                return await self._store(key, lambda: fetcher(key), ttl, category)

        return sum(await asyncio.gather(*(one(key) for key in keys)))

    async def run_once(self) -> dict[str, int]:
        """One warming round: refresh the popular keys that would expire before the next."""
        self.rounds += 1
        horizon = self.config.interval * 1.5
        due: list[str] = []
        for key in reversed(self.popular()):  # most recently used first
            if len(due) >= self.config.warm_batch_size:
                break
            left = await self.cache.ttl(key)
            if left < horizon:  # -2 (gone) included: fetch it back
                due.append(key)
        gate = asyncio.Semaphore(self.config.max_concurrent_warms)

        async def one(key: str) -> bool:
            entry = self._tracked.get(key)
            if entry is None:
                return False
            async with gate:
                done = await self._store(key, entry.fetch, entry.ttl, entry.category)
            entry.warmed = entry.warmed or done
            return done

        warmed = sum(await asyncio.gather(*(one(key) for key in due)))
        return {"due": len(due), "warmed": warmed}

    async def _store(self, key: str, fetch: Fetcher, ttl: float | None, category: str) -> bool:
        try:
            value = await fetch()
        except Exception as error:  # a failed refresh leaves the old entry to expire
            self.warm_failures += 1
            logger.info("warming %s failed: %s", key, type(error).__name__)
            return False
        self.warmup_operations += 1
        return await self.cache.set(key, value, ttl, category)

    def stats(self) -> dict[str, Any]:
        popular = self.popular()
        warmed = sum(1 for key in popular if self._tracked[key].warmed)
        return {
            "enabled": self.config.enabled,
            "running": self._task is not None,
            "interval": self.config.interval,
            "rounds": self.rounds,
            "tracked_keys": len(self._tracked),
            "popular_keys": len(popular),
            "warmup_operations": self.warmup_operations,
            "warm_failures": self.warm_failures,
            "warm_hits": self.warm_hits,
            "warm_hit_rate": round(self.warm_hits / self.hits_on_tracked, 4)
            if self.hits_on_tracked
            else 0.0,
            "warm_coverage": round(warmed / len(popular), 4) if popular else 0.0,
        }

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.interval)
            try:
                await self.run_once()
            except Exception:
                logger.exception("cache warming round failed")

    async def start(self) -> None:
        if self.config.enabled and self.config.preload_popular and self._task is None:
            self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
