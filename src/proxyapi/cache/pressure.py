"""Memory pressure: when the process nears its limit, the cache gives memory back.

Every ``memory.monitoring_interval`` seconds the process's RSS is compared with
its limit: ``memory.threshold_mb`` (``MEMORY_THRESHOLD_MB``) when set, else the
container's cgroup limit, else the machine's RAM. At ``max_usage_percent`` of
it the cache's memory layer evicts down to half its size; at
``emergency_threshold_percent`` it empties. Each time counts a
``memory_pressure_events`` in the cache's stats.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Final

import psutil

from proxyapi.cache.memory import MemoryCache
from proxyapi.config.observability import MemoryConfig

logger = logging.getLogger("proxyapi.cache")

MB: Final = 1024 * 1024
_CGROUP_LIMIT: Final = Path("/sys/fs/cgroup/memory.max")


def memory_limit(config: MemoryConfig) -> int:
    """The bytes this process may use: configured, else the cgroup's, else the machine's."""
    if config.threshold_mb is not None:
        return config.threshold_mb * MB
    with contextlib.suppress(OSError):  # no cgroup v2 limit file: not in a container
        text = _CGROUP_LIMIT.read_text().strip()
        if text.isdigit():
            return int(text)
    return int(psutil.virtual_memory().total)


def process_rss() -> int:
    return int(psutil.Process().memory_info().rss)


class PressureWatcher:
    """Shrinks the memory layer when the process's RSS nears its limit."""

    def __init__(
        self,
        memory: MemoryCache,
        config: MemoryConfig,
        *,
        limit: int | None = None,
        rss: Callable[[], int] = process_rss,
    ) -> None:
        self.memory = memory
        self.config = config
        self.limit = limit if limit is not None else memory_limit(config)
        self.rss = rss
        self.events = 0
        self._task: asyncio.Task[None] | None = None

    def check_once(self) -> int:
        """Evict if the process is over its threshold; returns how many entries went."""
        used = self.rss()
        share = used / self.limit * 100
        if share < self.config.max_usage_percent:
            return 0
        emergency = share >= self.config.emergency_threshold_percent
        target = 0 if emergency else self.memory.memory_usage_bytes // 2
        evicted = self.memory.evict_to(target)
        self.events += 1
        logger.warning(
            "memory pressure: process at %.0f%% of %d MB; the cache gave back %d entries%s",
            share,
            self.limit // MB,
            evicted,
            " (emergency: emptied)" if emergency else "",
        )
        return evicted

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.monitoring_interval)
            self.check_once()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
