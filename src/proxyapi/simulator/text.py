"""Deterministic fake text: the same request always gets the same reply.

The lorem pool is built once at import (an immutable string), so a reply is a
hash, a slice and a few string operations: cheap enough for benchmarks.
"""

from __future__ import annotations

import hashlib
import random
import re

_WORDS = (
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "
    "incididunt ut labore et dolore magna aliqua enim ad minim veniam quis nostrud "
    "exercitation ullamco laboris nisi aliquip ex ea commodo consequat duis aute irure "
    "in reprehenderit voluptate velit esse cillum fugiat nulla pariatur excepteur sint "
    "occaecat cupidatat non proident sunt culpa qui officia deserunt mollit anim id est"
).split()


def _build_pool(n_words: int) -> str:
    rng = random.Random(1234)
    return " ".join(rng.choice(_WORDS) for _ in range(n_words))


_POOL = _build_pool(40_000)
_PIECE = re.compile(r"\s*\S+|\s+$")
_ARGUMENT_PIECE = re.compile(r"[A-Za-z0-9_]+|[^A-Za-z0-9_]+")


def estimate_tokens(text: str) -> int:
    """Roughly four characters per token, rounded up (OpenAI's rule of thumb)."""
    return -(-len(text) // 4)


def digest(data: bytes) -> bytes:
    """A short stable hash used to pick text, chunk sizes and logprobs."""
    return hashlib.blake2b(data, digest_size=16).digest()


def lorem(seed: bytes, n_chars: int) -> str:
    """About ``n_chars`` characters of lorem words, chosen by ``seed``."""
    if n_chars <= 0:
        return ""
    n_chars = min(n_chars, len(_POOL) // 2)
    start = int.from_bytes(seed[:8], "little") % (len(_POOL) - n_chars - 16)
    start = _POOL.index(" ", start) + 1
    end = _POOL.rfind(" ", start, start + n_chars + 1)
    return _POOL[start:end] if end > start else _POOL[start : start + n_chars]


def snippet(text: str, limit: int) -> str:
    """The first ``limit`` characters of ``text`` on one line."""
    return " ".join(text.split())[:limit]


def compose_reply(lead: str, seed: bytes, n_tokens: int) -> str:
    """``lead`` followed by a lorem tail, about ``n_tokens`` tokens in all."""
    tail = lorem(seed, n_tokens * 4 - len(lead) - 1)
    return f"{lead}{tail.capitalize()}." if tail else lead.rstrip()


def cut_at_stop(text: str, stops: tuple[str, ...]) -> tuple[str, bool]:
    """Cut ``text`` before the earliest stop sequence; say whether one matched."""
    found = [index for stop in stops if (index := text.find(stop)) >= 0]
    return (text[: min(found)], True) if found else (text, False)


def cut_to_tokens(text: str, max_tokens: int) -> tuple[str, bool]:
    """Cut ``text`` at a word boundary to fit ``max_tokens``; say whether it was cut."""
    if estimate_tokens(text) <= max_tokens:
        return text, False
    limit = max_tokens * 4
    boundary = text.rfind(" ", 0, limit + 1)
    return (text[:boundary] if boundary > 0 else text[:limit]), True


def split_words(text: str) -> list[str]:
    """Split into word pieces that concatenate back to ``text`` exactly."""
    return _PIECE.findall(text)


def split_arguments(arguments: str) -> list[str]:
    """Split tool-call JSON the way OpenAI streams it: names and punctuation apart."""
    return _ARGUMENT_PIECE.findall(arguments)


def group_pieces(pieces: list[str], seed: bytes) -> list[list[str]]:
    """Group pieces one to three at a time, a deterministic but uneven rhythm."""
    groups: list[list[str]] = []
    position = 0
    while position < len(pieces):
        size = seed[len(groups) % len(seed)] % 3 + 1
        groups.append(pieces[position : position + size])
        position += size
    return groups
