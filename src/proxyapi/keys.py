"""Client and admin API keys as the gateway keeps them: SHA-256 digests, never plaintext.

A key is hashed the moment the configuration is validated; from then on only
its digest exists in the process, so a heap dump, a config dump or a debug
endpoint cannot reveal it. ``KeyDigest.id`` (a short prefix of the digest) names
a key in logs, metrics and rate-limit buckets without being usable as one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

KEY_PREFIX: Final = "pxy-"
_ID_LENGTH: Final = 12


@dataclass(frozen=True, slots=True, repr=False)
class KeyDigest:
    """The SHA-256 digest of one API key."""

    digest: bytes

    @classmethod
    def of(cls, key: str) -> KeyDigest:
        return cls(hashlib.sha256(key.encode()).digest())

    @classmethod
    def from_hex(cls, text: str) -> KeyDigest:
        """From a 64-character hex digest (``authentication.api_keys.hashed_keys``)."""
        raw = bytes.fromhex(text)
        if len(raw) != hashlib.sha256().digest_size:
            raise ValueError(f"{text!r} is not a sha256 hex digest")
        return cls(raw)

    @property
    def hex(self) -> str:
        return self.digest.hex()

    @property
    def id(self) -> str:
        """A short, non-secret name for the key (the digest's first 12 hex digits)."""
        return self.digest.hex()[:_ID_LENGTH]

    def __repr__(self) -> str:
        return f"KeyDigest(id={self.id})"


def hash_key(key: str) -> str:
    """The hex SHA-256 of ``key``: what ``hashed_keys`` lists and ``proxyapi keys hash`` prints."""
    return KeyDigest.of(key).hex


def generate_key() -> str:
    """A new random key: ``pxy-`` and 43 URL-safe characters (256 bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def find_key(presented: bytes, digests: Iterable[KeyDigest]) -> KeyDigest | None:
    """The digest that ``presented`` (raw header bytes) hashes to, if it is one of ``digests``.

    Compared in constant time (``hmac.compare_digest``), every digest even after a
    match, so the time taken does not say which key matched: seed 000's
    timing-attack rule.
    """
    candidate = hashlib.sha256(presented).digest()
    found: KeyDigest | None = None
    for digest in digests:
        if hmac.compare_digest(candidate, digest.digest):
            found = digest
    return found
