"""The disk L2 layer: one checksummed frame per file, an in-memory index over them.

Why this shape:

* One file per entry, named by the SHA-256 of its key (``ab/ab12….pxc``), so any
  key maps to a safe file name without a directory of millions of files. The
  file is a ``codec.pack`` frame: its CRC catches truncation and bit rot, its
  key catches a hash collision or a file moved by hand, and its ``expires_at``
  is in epoch seconds so entries survive a restart. Such a frame is dropped and
  counted, never served.
* The event loop never touches the filesystem. Reads go to a small pool of
  reader threads; every mutation (write, rewrite, unlink) goes to one writer
  thread, whose FIFO queue makes the files change in the order the loop asked
  for them. The index is updated on the loop *when* a mutation is queued, so it
  always describes the disk as it will be once the queue drains; a read of a key
  with a mutation still queued goes through the writer queue too, and so sees it.
* The index (key -> path, size, expiry, category, priority, last access) answers
  an absent key, ``ttl``, stats and eviction without I/O or a directory walk.
  Eviction takes the lowest priority first and, within it, the least recently
  used: one ``OrderedDict`` per priority, so both are O(1). ``start`` rebuilds
  the index from the files (recency from their mtimes).
* Encoding and decoding stay on the loop: the codec's zstd contexts must not be
  used by two threads at once, and the memory layer shares the codec.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import math
import os
import sys
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Final, TypeVar

from proxyapi.cache.base import (
    DEFAULT_CATEGORY,
    DEFAULT_CATEGORY_TTLS,
    MAX_PRIORITY,
    MIN_PRIORITY,
    CacheStats,
    clamp_priority,
    lifetime,
)
from proxyapi.cache.codec import Codec, CorruptEntry, Frame, encode_or_refuse, pack, unpack

logger = logging.getLogger("proxyapi.cache")

T = TypeVar("T")

SUFFIX: Final = ".pxc"
TEMP_SUFFIX: Final = ".tmp"
READER_THREADS: Final = 2
_MISS: Final = object()


def path_for(directory: Path, key: str) -> Path:
    """Where ``key``'s frame lives: ``directory/<2 hex>/<sha256 hex>.pxc``."""
    digest = hashlib.sha256(key.encode()).hexdigest()
    return directory / digest[:2] / f"{digest}{SUFFIX}"


@dataclass(slots=True)
class _Entry:
    """What the index knows about one file, so most operations need no I/O.

    No file name is kept: it follows from the key (``path_for``), and the key is
    the index's own string, so an entry costs one pointer for it. A ``Path`` per
    entry cost the index ~1 KB of RSS per entry in bench/cache_soak.py --disk.
    """

    key: str
    size: int
    expires_at: float  # epoch seconds; 0: never
    category: str
    priority: int
    last_access: float

    def expired(self, now: float) -> bool:
        return 0 < self.expires_at <= now


@dataclass(slots=True)
class _Scan:
    """What ``start`` found on disk: live entries (oldest access first) and what it dropped."""

    entries: list[tuple[str, _Entry]] = field(default_factory=list)
    corrupted: int = 0
    expired: int = 0
    errors: int = 0


# --- Filesystem work: these run in the worker threads only. -------------------------------


def _write_atomically(path: Path, blob: bytes) -> None:
    """Write a temporary file beside ``path`` and rename it over: readers see old or new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f"{path.stem}.{os.getpid()}.{threading.get_ident()}{TEMP_SUFFIX}")
    try:
        temp.write_bytes(blob)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _store(path: Path, blob: bytes, doomed: Sequence[Path]) -> int:
    """Write one entry and remove those it evicted; returns how many removals failed."""
    _write_atomically(path, blob)
    return _remove(doomed)


def _remove(paths: Iterable[Path]) -> int:
    """Unlink files, going on past failures; returns how many could not be removed."""
    failed = 0
    for path in paths:
        try:
            path.unlink(missing_ok=True)
        except OSError:
            failed += 1
    return failed


def _read_frame(path: Path, key: str) -> Frame:
    """The frame stored for ``key``; CorruptEntry if it is damaged or belongs to another key."""
    frame = unpack(path.read_bytes())
    if frame.key != key:
        raise CorruptEntry("the frame belongs to another key (hash collision or tampering)")
    return frame


def _rewrite_expiry(path: Path, key: str, expires_at: float) -> None:
    """Give a stored frame a new expiry, atomically, so a restart sees the new one."""
    frame = _read_frame(path, key)
    _write_atomically(path, pack(dataclasses.replace(frame, expires_at=expires_at)))


def _cache_files(directory: Path) -> Iterable[Path]:
    """Every file in the two-hex-digit buckets: frames and leftover temporaries."""
    for bucket in directory.iterdir():
        if len(bucket.name) == 2 and bucket.is_dir():
            yield from bucket.iterdir()


def _scan(directory: Path, now: float) -> _Scan:
    """Read every frame: keep the sound, unexpired ones; delete the rest and leftovers."""
    directory.mkdir(parents=True, exist_ok=True)
    found = _Scan()
    for path in _cache_files(directory):
        if path.name.endswith(TEMP_SUFFIX):  # a write cut short by a crash
            found.errors += _remove([path])
        elif path.name.endswith(SUFFIX):
            _scan_one(directory, path, now, found)
    found.entries.sort(key=lambda item: item[1].last_access)
    return found


def _scan_one(directory: Path, path: Path, now: float, found: _Scan) -> None:
    try:
        blob = path.read_bytes()
        mtime = path.stat().st_mtime
    except OSError:
        found.errors += 1
        return
    try:
        frame = unpack(blob)
        if path_for(directory, frame.key) != path:
            raise CorruptEntry("the frame is not in its key's file")
    except CorruptEntry:
        found.corrupted += 1
        found.errors += _remove([path])
        return
    if 0 < frame.expires_at <= now:
        found.expired += 1
        found.errors += _remove([path])
        return
    category = sys.intern(frame.category)  # a handful of names, shared by every entry
    entry = _Entry(frame.key, len(blob), frame.expires_at, category, frame.priority, mtime)
    found.entries.append((frame.key, entry))


def _sweep(directory: Path, keep: frozenset[Path] = frozenset()) -> int:
    """Remove every cache file not in ``keep``; returns how many were removed."""
    if not directory.is_dir():
        return 0
    doomed = [path for path in _cache_files(directory) if path not in keep]
    return len(doomed) - _remove(doomed)


# --- The cache. ---------------------------------------------------------------------------


class DiskCache:
    """An ICache on local disk, bounded by ``max_bytes`` of frames."""

    name = "disk"

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int,
        codec: Codec,
        default_ttl: float = 1800.0,
        category_ttls: Mapping[str, int] = DEFAULT_CATEGORY_TTLS,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.codec = codec
        self.default_ttl = default_ttl
        self.category_ttls = dict(category_ttls)
        self.stats = CacheStats()
        self._clock = wall_clock
        self._index: dict[str, _Entry] = {}
        self._recency = {p: OrderedDict[str, None]() for p in range(MIN_PRIORITY, MAX_PRIORITY + 1)}
        self._per_category: Counter[str] = Counter()
        self._bytes = 0
        self._queued: Counter[str] = Counter()  # mutations per key not yet done by the writer
        self._writer: ThreadPoolExecutor | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._running = False

    # --- lifecycle ---

    async def start(self) -> None:
        """(Re)build the index from the files, dropping corrupted and expired ones."""
        found = await self._mutate((), _scan, self.directory, self._clock())
        self._reset_index()
        for key, entry in found.entries:
            self._add(key, entry)
        self.stats.corrupted += found.corrupted
        self.stats.expirations += found.expired
        self.stats.errors += found.errors
        if found.corrupted:
            logger.warning(
                "disk cache %s: dropped %d corrupted entries", self.directory, found.corrupted
            )
        await self._unlink(self._evict(keep=None))  # max_bytes may have shrunk since
        self._running = True

    async def stop(self) -> None:
        """Let queued writes finish, then let the threads go."""
        self._running = False
        writer, readers = self._writer, self._readers
        self._writer = self._readers = None
        for pool in (writer, readers):
            if pool is not None:
                await asyncio.to_thread(pool.shutdown, wait=True)

    def is_running(self) -> bool:
        return self._running

    # --- reads ---

    async def get(self, key: str, category: str = DEFAULT_CATEGORY) -> Any | None:
        started = time.perf_counter()
        value = await self._lookup(key)
        self.stats.access_time_total += time.perf_counter() - started
        if value is _MISS:
            self.stats.misses += 1
            return None
        self.stats.hits += 1
        return value

    async def get_many(
        self, keys: Sequence[str], category: str = DEFAULT_CATEGORY
    ) -> dict[str, Any]:
        unique = list(dict.fromkeys(keys))
        values = await asyncio.gather(*(self.get(key, category) for key in unique))
        return {key: value for key, value in zip(unique, values, strict=True) if value is not None}

    async def _lookup(self, key: str) -> Any:
        """The value for ``key``, or _MISS; reads the file only when the index has the key."""
        entry = self._live(key)
        if entry is None:
            return _MISS
        try:
            frame = await self._read(key, self._path(entry))
            if 0 < frame.expires_at <= self._clock():
                raise _Expired
            value = self.codec.decode_value(frame.payload)
        except _Expired:
            if self._index.get(key) is entry:
                await self._drop([key], expired=True)
            return _MISS
        except CorruptEntry as error:
            await self._drop_corrupted(key, entry, error)
            return _MISS
        except FileNotFoundError:  # removed under us (by hand): the index follows the disk
            self.stats.errors += 1
            if self._index.get(key) is entry:
                self._forget(key)
            return _MISS
        except OSError as error:  # perhaps passing (EIO, EMFILE): keep the entry, serve a miss
            logger.warning("cannot read disk cache entry %s: %s", self._path(entry), error)
            self.stats.errors += 1
            return _MISS
        self._touch(key, entry)
        return value

    async def _read(self, key: str, path: Path) -> Frame:
        """Read in a reader thread, or behind the key's queued mutations if it has any."""
        if self._queued[key]:
            return await self._mutate((key,), _read_frame, path, key)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader_pool(), _read_frame, path, key)

    async def _drop_corrupted(self, key: str, entry: _Entry, error: CorruptEntry) -> None:
        logger.warning("dropping corrupted disk cache entry %s: %s", self._path(entry), error)
        self.stats.corrupted += 1
        if self._index.get(key) is entry:  # not replaced by a set while we read
            await self._drop([key])

    def _path(self, entry: _Entry) -> Path:
        return path_for(self.directory, entry.key)

    def _live(self, key: str) -> _Entry | None:
        """The index entry for ``key`` unless it is missing or expired (then dropped, later)."""
        entry = self._index.get(key)
        if entry is not None and entry.expired(self._clock()):
            self.stats.expirations += 1
            self._forget(key)
            self._unlink_soon([self._path(entry)])
            return None
        return entry

    async def ttl(self, key: str) -> int:
        entry = self._live(key)
        if entry is None:
            return -2
        if not entry.expires_at:
            return -1
        return max(0, math.ceil(entry.expires_at - self._clock()))

    async def get_categories(self) -> list[str]:
        return sorted(self._per_category)

    # --- writes ---

    async def set(
        self,
        key: str,
        value: Any,
        ttl: float | None = None,
        category: str = DEFAULT_CATEGORY,
        priority: int = MIN_PRIORITY,
    ) -> bool:
        """Store ``value``; False when it cannot be kept, and then no older value stays either."""
        payload = encode_or_refuse(self.codec, key, value, self.stats)
        if payload is None:
            await self._drop([key])
            return False
        now = self._clock()
        lifetime = self._lifetime(ttl, category)
        expires_at = now + lifetime if lifetime > 0 else 0.0
        priority = clamp_priority(priority)
        blob = pack(Frame(key, category, priority, now, expires_at, payload))
        if len(blob) > self.max_bytes:
            logger.debug("not caching %r: %d bytes is over the disk cache's budget", key, len(blob))
            await self._drop([key])
            return False
        entry = _Entry(key, len(blob), expires_at, sys.intern(category), priority, now)
        self._add(key, entry)
        doomed = [self._path(victim) for victim in self._evict(keep=key)]
        try:
            self.stats.errors += await self._mutate((key,), _store, self._path(entry), blob, doomed)
        except OSError:
            self.stats.errors += 1
            if self._index.get(key) is entry:
                await self._drop([key])
            return False
        self._count_set(payload.raw_size, len(payload.data), payload.compressed)
        return True

    async def set_many(
        self,
        items: Mapping[str, Any],
        ttl: float | None = None,
        category: str = DEFAULT_CATEGORY,
    ) -> int:
        stored = await asyncio.gather(*(self.set(k, v, ttl, category) for k, v in items.items()))
        return sum(stored)

    async def expire(self, key: str, ttl: float) -> bool:
        """A new lifetime from now, written into the frame; ``ttl <= 0`` deletes (as Redis)."""
        entry = self._live(key)
        if entry is None:
            return False
        if ttl <= 0:
            return await self.delete(key)
        entry.expires_at = self._clock() + ttl
        try:
            await self._mutate((key,), _rewrite_expiry, self._path(entry), key, entry.expires_at)
        except CorruptEntry as error:
            await self._drop_corrupted(key, entry, error)
            return False
        except OSError:
            self.stats.errors += 1
            if self._index.get(key) is entry:
                await self._drop([key])
            return False
        self.stats.ttl_extensions += 1
        return True

    async def delete(self, key: str) -> bool:
        return await self.delete_many([key]) == 1

    async def delete_many(self, keys: Sequence[str]) -> int:
        present = [key for key in dict.fromkeys(keys) if self._live(key) is not None]
        await self._drop(present)
        self.stats.deletes += len(present)
        return len(present)

    async def delete_matching(self, pattern: str) -> int:
        """Delete every key matching a glob (``fnmatch`` rules, case-sensitive)."""
        return await self.delete_many([key for key in self._index if fnmatchcase(key, pattern)])

    async def clear(self, category: str | None = None) -> int:
        """Remove every entry (all files under the directory), or one category's."""
        if category is not None:
            doomed = [key for key, entry in self._index.items() if entry.category == category]
            await self._drop(doomed)
            return len(doomed)
        cleared = len(self._index)
        self._reset_index()
        await self._mutate((), _sweep, self.directory)
        return cleared

    async def clear_category(self, category: str) -> int:
        return await self.clear(category)

    async def cleanup_expired(self) -> int:
        now = self._clock()
        expired = [key for key, entry in self._index.items() if entry.expired(now)]
        await self._drop(expired, expired=True)
        return len(expired)

    async def optimize(self) -> dict[str, Any]:
        """Drop expired entries and files the index does not know (orphans of failed writes)."""
        expired = await self.cleanup_expired()
        known = frozenset(self._path(entry) for entry in self._index.values())
        orphans = await self._mutate((), _sweep, self.directory, known)
        return {
            "backend": self.name,
            "expired_removed": expired,
            "orphans_removed": orphans,
            "entries": len(self._index),
            "disk_usage_bytes": self._bytes,
            "max_bytes": self.max_bytes,
        }

    # --- stats ---

    async def get_stats(self) -> dict[str, Any]:
        return self.get_sync_stats()

    def get_sync_stats(self) -> dict[str, Any]:
        self.stats.categories = dict(self._per_category)
        return {
            **self.stats.as_dict(),
            "entries": len(self._index),
            "disk_usage_bytes": self._bytes,
            "max_bytes": self.max_bytes,
            "backend": self.name,
        }

    def _count_set(self, raw_size: int, stored_size: int, compressed: bool) -> None:
        self.stats.sets += 1
        if compressed:
            self.stats.bytes_before_compression += raw_size
            self.stats.bytes_after_compression += stored_size
        self.stats.peak_memory_usage = max(self.stats.peak_memory_usage, self._bytes)

    def _lifetime(self, ttl: float | None, category: str) -> float:
        """Seconds to keep an entry; a non-positive result means no expiry."""
        return lifetime(ttl, category, self.category_ttls, self.default_ttl)

    # --- the index (loop thread only) ---

    def _add(self, key: str, entry: _Entry) -> None:
        self._forget(key)
        self._index[key] = entry
        self._recency[entry.priority][key] = None
        self._per_category[entry.category] += 1
        self._bytes += entry.size

    def _forget(self, key: str) -> _Entry | None:
        entry = self._index.pop(key, None)
        if entry is not None:
            del self._recency[entry.priority][key]
            self._per_category[entry.category] -= 1
            if not self._per_category[entry.category]:
                del self._per_category[entry.category]
            self._bytes -= entry.size
        return entry

    def _touch(self, key: str, entry: _Entry) -> None:
        if self._index.get(key) is entry:
            entry.last_access = self._clock()
            self._recency[entry.priority].move_to_end(key)

    def _reset_index(self) -> None:
        self._index.clear()
        for order in self._recency.values():
            order.clear()
        self._per_category.clear()
        self._bytes = 0

    def _evict(self, keep: str | None) -> list[_Entry]:
        """Forget entries until the frames fit: lowest priority first, then least recent."""
        victims: list[_Entry] = []
        while self._bytes > self.max_bytes:
            key = self._victim(keep)
            if key is None:
                break
            entry = self._forget(key)
            assert entry is not None
            victims.append(entry)
        self.stats.evictions += len(victims)
        return victims

    def _victim(self, keep: str | None) -> str | None:
        for priority in range(MIN_PRIORITY, MAX_PRIORITY + 1):
            for key in self._recency[priority]:  # ``keep`` was just set: last of its priority
                if key != keep:
                    return key
        return None

    async def _drop(self, keys: Iterable[str], *, expired: bool = False) -> None:
        """Forget ``keys`` and remove their files (waiting, so a restart cannot revive them)."""
        entries = [entry for entry in map(self._forget, keys) if entry is not None]
        if expired:
            self.stats.expirations += len(entries)
        await self._unlink(entries)

    async def _unlink(self, entries: Sequence[_Entry]) -> None:
        if entries:
            self.stats.errors += await self._mutate((), _remove, [self._path(e) for e in entries])

    def _unlink_soon(self, paths: list[Path]) -> None:
        """Queue removals without waiting (from a synchronous path); failures are counted."""
        future = self._submit((), _remove, paths)
        future.add_done_callback(self._count_failed_removals)

    def _count_failed_removals(self, future: asyncio.Future[int]) -> None:
        if not future.cancelled() and future.exception() is None:
            self.stats.errors += future.result()

    # --- threads ---

    async def _mutate(self, keys: Sequence[str], fn: Callable[..., T], *args: Any) -> T:
        """Run a filesystem mutation on the writer thread; a cancelled caller does not undo it."""
        return await asyncio.shield(self._submit(keys, fn, *args))

    def _submit(self, keys: Sequence[str], fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._writer_pool(), fn, *args)
        for key in keys:
            self._queued[key] += 1
        future.add_done_callback(lambda _: self._settle(keys))
        return future

    def _settle(self, keys: Sequence[str]) -> None:
        for key in keys:
            self._queued[key] -= 1
            if not self._queued[key]:
                del self._queued[key]

    def _writer_pool(self) -> ThreadPoolExecutor:
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="proxyapi-disk-cache-write")
        return self._writer

    def _reader_pool(self) -> ThreadPoolExecutor:
        if self._readers is None:
            self._readers = ThreadPoolExecutor(
                READER_THREADS, thread_name_prefix="proxyapi-disk-cache-read"
            )
        return self._readers


class _Expired(Exception):
    """The frame read says the entry has expired (its index entry may have been older)."""
