"""The Redis L2 layer: one cache shared by every gateway process and host.

Each entry is one Redis string ``{prefix}:cache:{key}`` holding a ``codec.pack``
frame (checksummed, compressed over the codec's threshold), written with
``SET … PX`` so Redis itself expires it. Nothing process-local decides a hit:
two gateways on one prefix see the same entries; only the counters are local.

Expiry belongs to Redis alone: frames are written with ``expires_at = 0``, and
``ttl``/``expire`` are ``PTTL``/``PEXPIRE``, so hosts whose clocks disagree
still agree on what has expired, and ``expire`` needs no rewrite of the value.
Priority is kept in the frame but Redis evicts by its own ``maxmemory-policy``.

Categories are read from the frames, not kept in side sets: the category
operations (``clear(category)``, ``get_categories``, the per-category stats) are
admin-only, so they SCAN ``{prefix}:cache:*`` and read the head of each value
with ``GETRANGE`` (magic, header, key, category: a few dozen bytes, never the
payload). A per-category SET would cost an extra write on every ``set``, go
stale as Redis expires entries, and need a read before every ``delete`` to
know which set to leave.

Redis can vanish mid-traffic. Then every operation behaves as a miss / False /
0 and never raises, the bypass is counted in ``errors``, Redis is left alone for
``retry_interval`` after a failure (an outage costs one failed call per
interval, not one per request), and the outage is logged once per
``LOG_INTERVAL``, the same way the rate limiter does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Final

from redis.exceptions import (
    ConnectionError as RedisConnectionError,
    RedisError,
    TimeoutError as RedisTimeoutError,
)

from proxyapi.cache.base import (
    DEFAULT_CATEGORY,
    DEFAULT_CATEGORY_TTLS,
    MIN_PRIORITY,
    CacheStats,
    clamp_priority,
    lifetime,
)
from proxyapi.cache.codec import (
    _HEADER,
    MAGIC,
    Codec,
    CorruptEntry,
    Frame,
    encode_or_refuse,
    pack,
    unpack,
)
from proxyapi.transport.redis import Arg, RedisPipe, Script

logger = logging.getLogger("proxyapi.cache")

LOG_INTERVAL: Final = 30.0
SCAN_COUNT: Final = 500
# Errors that mean Redis is unreachable (back off); any other RedisError (a
# ResponseError: OOM, WRONGTYPE) is a failed operation on a working server.
OUTAGE_ERRORS: Final = (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError)
_FIXED: Final = len(MAGIC) + _HEADER.size  # bytes before the key in a frame
_CATEGORY_GUESS: Final = 64  # category bytes read with the head; longer ones cost a second read
_MISS: Final = object()

# Delete a corrupted value only if it is still the one we read: another process
# may have replaced it with a good one meanwhile.
DELETE_IF_SAME: Final = Script(
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
)


class _Bypassed(Exception):
    """Redis was skipped (backing off) or failed: the operation behaves as a miss."""


def glob_escape(text: str) -> str:
    """``text`` as a literal inside a Redis glob pattern."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def milliseconds(seconds: float) -> int:
    """A positive lifetime in whole milliseconds, never rounded down to 0 (that deletes)."""
    return max(1, math.ceil(seconds * 1000))


def category_in(head: bytes, key_size: int) -> str | int | None:
    """The category in a frame's head: the name, the head size needed to read it, or None.

    None when the head is not a frame's (then ``get`` will find it corrupted).
    """
    if len(head) < _FIXED or not head.startswith(MAGIC):
        return None
    category_size: int = _HEADER.unpack_from(head, len(MAGIC))[5]
    end = _FIXED + key_size + category_size
    if len(head) < end:
        return end
    return head[_FIXED + key_size : end].decode(errors="replace")


class RedisCache:
    """An ICache in Redis under ``{prefix}:cache:``, shared by every process on the prefix."""

    name = "redis"

    def __init__(
        self,
        pipe: RedisPipe,
        prefix: str,
        *,
        codec: Codec,
        default_ttl: float = 1800.0,
        category_ttls: Mapping[str, int] = DEFAULT_CATEGORY_TTLS,
        retry_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pipe = pipe
        self.prefix = prefix
        self.codec = codec
        self.default_ttl = default_ttl
        self.category_ttls = dict(category_ttls)
        self.retry_interval = retry_interval
        self.stats = CacheStats()
        self.available = True
        self._namespace = f"{prefix}:cache:"
        self._namespace_size = len(self._namespace.encode())
        self._clock = clock
        self._down_until = 0.0
        self._last_logged = -LOG_INTERVAL
        self._last_reply_logged = -LOG_INTERVAL
        self._running = False
        self._entries_seen: int | None = None  # from the last get_stats SCAN

    def _key(self, key: str) -> str:
        return self._namespace + key

    # --- lifecycle: the pipe is the gateway's, shared; it is not closed here ---

    async def start(self) -> None:
        """Mark running and learn whether Redis is there (a failure is logged, not raised)."""
        self._running = True
        with contextlib.suppress(_Bypassed):  # _call has logged and counted it
            await self._call("PING")

    async def stop(self) -> None:
        self._running = False

    def is_running(self) -> bool:
        return self._running

    # --- reads ---

    async def get(self, key: str, category: str = DEFAULT_CATEGORY) -> Any | None:
        started = time.perf_counter()
        try:
            blob = await self._call("GET", self._key(key))
            value = _MISS if blob is None else await self._decode(key, blob)
        except _Bypassed:
            self.stats.errors += 1
            value = _MISS
        self._count_lookups([value], started)
        return None if value is _MISS else value

    async def get_many(
        self, keys: Sequence[str], category: str = DEFAULT_CATEGORY
    ) -> dict[str, Any]:
        """One MGET for all keys."""
        unique = list(dict.fromkeys(keys))
        if not unique:
            return {}
        started = time.perf_counter()
        try:
            blobs = await self._call("MGET", *map(self._key, unique))
            values = [
                _MISS if blob is None else await self._decode(key, blob)
                for key, blob in zip(unique, blobs, strict=True)
            ]
        except _Bypassed:
            self.stats.errors += 1
            values = [_MISS] * len(unique)
        self._count_lookups(values, started)
        return {k: v for k, v in zip(unique, values, strict=True) if v is not _MISS}

    async def _decode(self, key: str, blob: bytes) -> Any:
        """The value in ``blob``, or _MISS after dropping it if it cannot be trusted."""
        try:
            frame = unpack(blob)
            if frame.key != key:
                raise CorruptEntry("the frame belongs to another key")
            return self.codec.decode_value(frame.payload)
        except CorruptEntry as error:
            logger.warning("dropping corrupted redis cache entry %r: %s", key, error)
            self.stats.corrupted += 1
            await self._drop_if_same(key, blob)
            return _MISS

    async def _drop_if_same(self, key: str, blob: bytes) -> None:
        try:
            await self._guarded(
                lambda: self.pipe.run_script(DELETE_IF_SAME, [self._key(key)], [blob])
            )
        except _Bypassed:
            self.stats.errors += 1  # left in place; the next reader finds it corrupted too

    def _count_lookups(self, values: Sequence[Any], started: float) -> None:
        hits = sum(value is not _MISS for value in values)
        self.stats.hits += hits
        self.stats.misses += len(values) - hits
        self.stats.access_time_total += time.perf_counter() - started

    async def ttl(self, key: str) -> int:
        """PTTL rounded up to whole seconds; -2 missing (or Redis unreachable), -1 no expiry."""
        try:
            left: int = await self._call("PTTL", self._key(key))
        except _Bypassed:
            self.stats.errors += 1
            return -2
        return left if left < 0 else math.ceil(left / 1000)

    async def get_categories(self) -> list[str]:
        try:
            return sorted((await self._census())[1])
        except _Bypassed:
            self.stats.errors += 1
            return []

    # --- writes ---

    async def set(
        self,
        key: str,
        value: Any,
        ttl: float | None = None,
        category: str = DEFAULT_CATEGORY,
        priority: int = MIN_PRIORITY,
    ) -> bool:
        """SET … PX lifetime; False when not stored (Redis unreachable, value not encodable)."""
        payload = encode_or_refuse(self.codec, key, value, self.stats)
        if payload is None:
            await self.delete_many([key])  # a refused write must not leave the older value
            return False
        priority = clamp_priority(priority)
        blob = pack(Frame(key, category, priority, time.time(), 0.0, payload))
        lifetime = self._lifetime(ttl, category)
        expiry = ("PX", milliseconds(lifetime)) if lifetime > 0 else ()
        try:
            stored: bool = await self._call("SET", self._key(key), blob, *expiry) == b"OK"
        except _Bypassed:
            self.stats.errors += 1
            return False
        self.stats.sets += stored
        if stored and payload.compressed:
            self.stats.bytes_before_compression += payload.raw_size
            self.stats.bytes_after_compression += len(payload.data)
        return stored

    async def set_many(
        self,
        items: Mapping[str, Any],
        ttl: float | None = None,
        category: str = DEFAULT_CATEGORY,
    ) -> int:
        """Every SET at once: the pipe sends them back to back and reads the replies in order."""
        stored = await asyncio.gather(*(self.set(k, v, ttl, category) for k, v in items.items()))
        return sum(stored)

    def _lifetime(self, ttl: float | None, category: str) -> float:
        """Seconds to keep an entry; a non-positive result means no expiry (no PX)."""
        return lifetime(ttl, category, self.category_ttls, self.default_ttl)

    async def expire(self, key: str, ttl: float) -> bool:
        """PEXPIRE; ``ttl <= 0`` deletes the entry, as Redis does."""
        ms = milliseconds(ttl) if ttl > 0 else 0
        try:
            done: bool = await self._call("PEXPIRE", self._key(key), ms) == 1
        except _Bypassed:
            self.stats.errors += 1
            return False
        self.stats.ttl_extensions += done and ttl > 0
        return done

    async def delete(self, key: str) -> bool:
        return await self.delete_many([key]) == 1

    async def delete_many(self, keys: Sequence[str]) -> int:
        """One DEL for all keys."""
        unique = list(dict.fromkeys(keys))
        if not unique:
            return 0
        try:
            deleted: int = await self._call("DEL", *map(self._key, unique))
        except _Bypassed:
            self.stats.errors += 1
            return 0
        self.stats.deletes += deleted
        return deleted

    async def delete_matching(self, pattern: str) -> int:
        """Delete every key matching a glob, in Redis's glob syntax (SCAN MATCH)."""
        deleted = 0
        try:
            async for names in self._scan(pattern):
                deleted += await self._call("DEL", *names)
        except _Bypassed:
            self.stats.errors += 1
        self.stats.deletes += deleted
        return deleted

    async def clear(self, category: str | None = None) -> int:
        """Delete every entry under the prefix, or one category's: SCAN, read heads, DEL."""
        deleted = 0
        try:
            async for names in self._scan("*"):
                if category is not None:
                    categories = await self._categories_of(names)
                    names = [n for n, c in zip(names, categories, strict=True) if c == category]
                if names:
                    deleted += await self._call("DEL", *names)
        except _Bypassed:
            self.stats.errors += 1
        return deleted

    async def clear_category(self, category: str) -> int:
        return await self.clear(category)

    async def cleanup_expired(self) -> int:
        """Nothing to do: Redis expires entries itself."""
        return 0

    async def optimize(self) -> dict[str, Any]:
        entries = await self._entries()
        return {"backend": self.name, "expired_removed": 0, "entries": entries}

    # --- stats ---

    async def get_stats(self) -> dict[str, Any]:
        """The counters, plus ``entries`` and entries per category from a SCAN (admin-only)."""
        try:
            self._entries_seen, counts = await self._census()
        except _Bypassed:
            self.stats.errors += 1
            self._entries_seen = None
        else:
            self.stats.categories = dict(counts)
        return self.get_sync_stats()

    def get_sync_stats(self) -> dict[str, Any]:
        """No I/O: the counters, with ``entries`` and categories as the last ``get_stats`` saw
        them (``entries`` None until then, or when Redis was unreachable)."""
        return {
            **self.stats.as_dict(),
            "entries": self._entries_seen,
            "backend": self.name,
            "available": self.available,
        }

    async def _entries(self) -> int | None:
        try:
            return len({name async for names in self._scan("*") for name in names})
        except _Bypassed:
            self.stats.errors += 1
            return None

    async def _census(self) -> tuple[int, Counter[str]]:
        """Entries under the prefix, and entries per category (unreadable heads in no category)."""
        seen: set[bytes] = set()
        counts: Counter[str] = Counter()
        async for names in self._scan("*"):
            fresh = [name for name in names if name not in seen]  # SCAN may repeat a key
            seen.update(fresh)
            counts.update(c for c in await self._categories_of(fresh) if c is not None)
        return len(seen), counts

    async def _categories_of(self, names: Sequence[bytes]) -> list[str | None]:
        """The category of each entry, from the head of its value; None if gone or not a frame."""
        return list(await asyncio.gather(*map(self._category_of, names)))

    async def _category_of(self, name: bytes) -> str | None:
        key_size = len(name) - self._namespace_size
        head = await self._call("GETRANGE", name, 0, _FIXED + key_size + _CATEGORY_GUESS - 1)
        found = category_in(head, key_size)
        if isinstance(found, int):  # a long category name: read exactly as far as it goes
            found = category_in(await self._call("GETRANGE", name, 0, found - 1), key_size)
        return found if isinstance(found, str) else None

    async def _scan(self, pattern: str) -> AsyncIterator[list[bytes]]:
        """Batches of Redis key names under the prefix matching ``pattern`` (a glob)."""
        match = glob_escape(self._namespace) + pattern
        cursor: bytes = b"0"
        while True:
            cursor, names = await self._call("SCAN", cursor, "MATCH", match, "COUNT", SCAN_COUNT)
            if names:
                yield names
            if cursor == b"0":
                return

    # --- Redis calls and outages ---

    async def _call(self, *args: Arg) -> Any:
        """One command, unless Redis is being left alone; _Bypassed if skipped or failed."""
        return await self._guarded(lambda: self.pipe.execute(*args))

    async def _guarded(self, call: Callable[[], Awaitable[Any]]) -> Any:
        if self._down_until and self._clock() < self._down_until:
            raise _Bypassed
        try:
            reply = await call()
        except OUTAGE_ERRORS as error:
            self._failed(error)
            raise _Bypassed from None
        except RedisError as error:  # the server answered, with an error
            self._refused(error)
            raise _Bypassed from None
        self._recovered()
        return reply

    def _failed(self, error: BaseException) -> None:
        now = self._clock()
        self.available = False
        self._down_until = now + self.retry_interval
        if now - self._last_logged >= LOG_INTERVAL:
            self._last_logged = now
            logger.error(
                "cache backend redis at %s unreachable (%s: %s); serving misses until it is back",
                self.pipe.where,
                type(error).__name__,
                error,
            )

    def _refused(self, error: RedisError) -> None:
        now = self._clock()
        if now - self._last_reply_logged >= LOG_INTERVAL:
            self._last_reply_logged = now
            logger.warning("cache backend redis refused a command: %s", error)

    def _recovered(self) -> None:
        if not self.available:
            self.available = True
            self._down_until = 0.0
            logger.warning("cache backend redis at %s is reachable again", self.pipe.where)
