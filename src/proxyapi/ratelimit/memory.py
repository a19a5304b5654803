"""The in-process backend: exact within one process, nothing shared between processes.

State is ``key -> [tokens, stamp, full_at]``. A bucket that has refilled to the
brim is the same as no bucket, so a sweep drops those; memory stays bounded by
the clients active in the last window, not by every client ever seen.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Final

from proxyapi.ratelimit.base import Bucket, Verdict
from proxyapi.ratelimit.bucket import refill, seconds_until

SWEEP_INTERVAL: Final = 60.0
MAX_BUCKETS: Final = 200_000


class MemoryBackend:
    """Token buckets in a dict, on the monotonic clock."""

    name = "memory"

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_buckets: int = MAX_BUCKETS,
        sweep_interval: float = SWEEP_INTERVAL,
    ) -> None:
        self._clock = clock
        self._state: dict[str, list[float]] = {}
        self._max_buckets = max_buckets
        self._sweep_interval = sweep_interval
        self._next_sweep = clock() + sweep_interval

    def __len__(self) -> int:
        return len(self._state)

    async def take(self, buckets: Sequence[Bucket], cost: float = 1.0) -> Verdict:
        return self.take_now(buckets, cost)

    def take_now(self, buckets: Sequence[Bucket], cost: float = 1.0) -> Verdict:
        """``take`` without the coroutine: the whole check is synchronous and atomic here."""
        now = self._clock()
        if now >= self._next_sweep:
            self.sweep(now)
        state = self._state
        levels: list[float] = []
        stamps: list[float] = []
        allowed = True
        for bucket in buckets:
            entry = state.get(bucket.storage_key)
            if entry is None:
                tokens, stamp = bucket.limit.capacity, now
            else:
                stamp = max(entry[1], now)  # a clock that went back does not rewind a bucket
                tokens = min(refill(entry[0], entry[1], bucket.limit, now), bucket.limit.capacity)
            levels.append(tokens)
            stamps.append(stamp)
            if tokens < cost:
                allowed = False
        if allowed:
            for i, bucket in enumerate(buckets):
                levels[i] -= cost
                full_at = stamps[i] + seconds_until(levels[i], bucket.limit.capacity, bucket.limit)
                # Re-inserted, so the dict's order is least recently used first.
                state.pop(bucket.storage_key, None)
                state[bucket.storage_key] = [levels[i], stamps[i], full_at]
            if len(state) > self._max_buckets:
                self.sweep(now)
        return Verdict(allowed, tuple(levels))

    def sweep(self, now: float) -> None:
        """Forget full buckets; past ``max_buckets``, the least recently used as well."""
        self._state = {key: entry for key, entry in self._state.items() if entry[2] > now}
        excess = len(self._state) - self._max_buckets
        if excess > 0:
            # Forgetting a bucket refills it: the least harmful way to stay bounded.
            for key in list(self._state)[:excess]:
                del self._state[key]
        self._next_sweep = now + self._sweep_interval

    async def close(self) -> None:
        self._state.clear()
