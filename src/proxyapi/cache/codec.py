"""How cached values become bytes: encoding, compression, and the checksummed frame.

Two levels. ``Codec.encode_value`` / ``decode_value`` turn a value into a
payload (``bytes`` as they are, anything else as orjson), zstd-compressed when
it is at least ``threshold`` bytes and compression pays; the memory layer keeps
payloads. ``pack`` / ``unpack`` wrap a payload with its metadata in a frame
with a CRC32, which is what the disk and Redis layers store: a truncated or
damaged frame is detected and dropped, never served.

Frame: ``MAGIC | header | key | category | payload | crc32`` where the header
is ``flags, priority, created_at, expires_at, len(key), len(category), the
value's size before compression``; the payload runs to the CRC, which covers
everything before it. Keys are cache keys (short, hashed): at most 64 KiB.
"""

from __future__ import annotations

import logging
import struct
import zlib
from dataclasses import dataclass
from typing import Any, Final

import orjson
import zstandard

from proxyapi.cache.base import CacheStats

logger = logging.getLogger("proxyapi.cache")

MAGIC: Final = b"PXC\x01"
_HEADER: Final = struct.Struct(">BBddHHI")
_CRC: Final = struct.Struct(">I")
FLAG_BYTES: Final = 0x01  # the value was bytes (else orjson)
FLAG_ZSTD: Final = 0x02  # the payload is zstd-compressed
_KNOWN_FLAGS: Final = FLAG_BYTES | FLAG_ZSTD


class CorruptEntry(ValueError):
    """A stored frame that cannot be trusted: wrong magic, length or checksum."""


@dataclass(frozen=True, slots=True)
class Payload:
    """An encoded value: its flags, its bytes, and its size before compression."""

    flags: int
    data: bytes
    raw_size: int

    @property
    def compressed(self) -> bool:
        return bool(self.flags & FLAG_ZSTD)


@dataclass(frozen=True, slots=True)
class Frame:
    """A payload with what an L2 layer must remember about it (times are epoch seconds)."""

    key: str
    category: str
    priority: int
    created_at: float
    expires_at: float  # 0: never
    payload: Payload


class Codec:
    """Encodes values; compresses those at least ``threshold`` bytes long when it helps."""

    def __init__(self, *, compress: bool = True, level: int = 3, threshold: int = 1024) -> None:
        self.compress = compress
        self.threshold = threshold
        self._compressor = zstandard.ZstdCompressor(level=level)
        self._decompressor = zstandard.ZstdDecompressor()

    def encode_value(self, value: Any) -> Payload:
        if isinstance(value, bytes | bytearray | memoryview):
            flags, raw = FLAG_BYTES, bytes(value)
        else:
            flags, raw = 0, orjson.dumps(value)
        if self.compress and len(raw) >= self.threshold:
            # python-zstandard returns a bytes object that keeps its worst-case
            # allocation (measured: 10 KiB held for a 2.7 KiB result); a copy of the
            # right size is what a cache holding thousands of them can afford.
            packed = bytes(memoryview(self._compressor.compress(raw)))
            if len(packed) < len(raw):
                return Payload(flags | FLAG_ZSTD, packed, len(raw))
        return Payload(flags, raw, len(raw))

    def decode_value(self, payload: Payload) -> Any:
        raw = payload.data
        if payload.flags & FLAG_ZSTD:
            try:
                raw = self._decompressor.decompress(raw, max_output_size=payload.raw_size)
            except zstandard.ZstdError as error:
                raise CorruptEntry(f"compressed payload is damaged: {error}") from None
        if payload.flags & FLAG_BYTES:
            return raw
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise CorruptEntry(f"payload is not valid JSON: {error}") from None


def encode_or_refuse(codec: Codec, key: str, value: Any, stats: CacheStats) -> Payload | None:
    """``value`` encoded, or None (counted in ``stats.errors``, logged) if orjson cannot.

    A value that cannot be encoded is a caller's bug, not a failed request: every
    backend refuses the write the same way instead of raising.
    """
    try:
        return codec.encode_value(value)
    except TypeError as error:
        logger.warning("cannot cache %r: %s", key, error)
        stats.errors += 1
        return None


def pack(frame: Frame) -> bytes:
    """The frame as stored by an L2 layer."""
    key = frame.key.encode()
    category = frame.category.encode()
    payload = frame.payload
    header = _HEADER.pack(
        payload.flags,
        frame.priority,
        frame.created_at,
        frame.expires_at,
        len(key),
        len(category),
        payload.raw_size,
    )
    body = b"".join((MAGIC, header, key, category, payload.data))
    return body + _CRC.pack(zlib.crc32(body))


def unpack(blob: bytes) -> Frame:
    """A stored frame back; raises CorruptEntry if anything about it is off."""
    fixed = len(MAGIC) + _HEADER.size
    if len(blob) < fixed + _CRC.size or not blob.startswith(MAGIC):
        raise CorruptEntry("not a cache frame (too short or wrong magic)")
    body, (crc,) = blob[: -_CRC.size], _CRC.unpack(blob[-_CRC.size :])
    if zlib.crc32(body) != crc:
        raise CorruptEntry("checksum mismatch")
    flags, priority, created_at, expires_at, key_len, category_len, raw_size = _HEADER.unpack_from(
        body, len(MAGIC)
    )
    if flags & ~_KNOWN_FLAGS:
        raise CorruptEntry(f"unknown flags {flags:#x}")
    start = fixed + key_len + category_len
    if start > len(body):
        raise CorruptEntry("lengths run past the end of the frame")
    key = body[fixed : fixed + key_len].decode(errors="replace")
    category = body[fixed + key_len : start].decode(errors="replace")
    payload = Payload(flags, body[start:], raw_size)
    return Frame(key, category, priority, created_at, expires_at, payload)
