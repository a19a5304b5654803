"""An in-process cache with per-entry TTL and least-recently-used eviction.

Bounded by entry count; expired entries are dropped lazily when read and
on ``cleanup_expired``. All operations are O(1) (an ``OrderedDict`` keeps
recency), which keeps it off the profile of the request path.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class _Entry:
    value: Any
    expires_at: float


class MemoryCache:
    """Key-value cache; values are stored as given (no copy, no serialisation)."""

    def __init__(self, max_size: int = 10_000, default_ttl: float = 1800.0) -> None:
        self.max_size = max_size
        self.default_ttl = default_ttl
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def get(self, key: str) -> Any | None:
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        if entry.expires_at <= time.monotonic():
            del self._entries[key]
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry.value

    def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        expires_at = time.monotonic() + (self.default_ttl if ttl is None else ttl)
        self._entries[key] = _Entry(value, expires_at)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_size:
            self._entries.popitem(last=False)
            self.evictions += 1

    def delete(self, key: str) -> bool:
        return self._entries.pop(key, None) is not None

    def clear(self) -> None:
        self._entries.clear()

    def cleanup_expired(self) -> int:
        now = time.monotonic()
        expired = [k for k, e in self._entries.items() if e.expires_at <= now]
        for key in expired:
            del self._entries[key]
        return len(expired)

    def __len__(self) -> int:
        return len(self._entries)

    def stats(self) -> dict[str, float | int]:
        lookups = self.hits + self.misses
        return {
            "entries": len(self._entries),
            "hits": self.hits,
            "misses": self.misses,
            "evictions": self.evictions,
            "hit_rate": round(self.hits / lookups, 4) if lookups else 0.0,
        }
