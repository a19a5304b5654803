"""Token-bucket arithmetic: pure functions, no clock and no storage of their own.

A bucket holds at most ``capacity`` tokens (the burst) and gains ``rate`` tokens
a second. A request takes ``cost`` tokens, or is refused when fewer are left.
Both backends (memory, Redis) apply exactly these rules, so these are also the
numbers the rate-limit headers report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limit:
    """The shape of one bucket: how many tokens it holds and how fast it refills."""

    capacity: float
    rate: float  # tokens per second

    def __post_init__(self) -> None:
        if self.capacity <= 0 or self.rate <= 0:
            raise ValueError(f"a limit needs a positive capacity and rate, not {self}")

    @classmethod
    def per_window(cls, count: int, seconds: float, burst: int | None = None) -> Limit:
        """``count`` requests per ``seconds``; the bucket holds ``burst`` (default: ``count``)."""
        return cls(capacity=float(burst if burst is not None else count), rate=count / seconds)


def refill(tokens: float, stamp: float, limit: Limit, now: float) -> float:
    """Tokens in a bucket at ``now`` that held ``tokens`` at ``stamp``.

    A clock that went backwards (``now < stamp``) adds nothing rather than
    removing tokens: time that did not pass cannot be spent twice.
    """
    elapsed = now - stamp
    if elapsed <= 0:
        return tokens
    return min(limit.capacity, tokens + elapsed * limit.rate)


def remaining(tokens: float) -> int:
    """Whole requests the bucket can still take (the ``X-RateLimit-Remaining`` value)."""
    return max(0, math.floor(tokens + 1e-9))


def seconds_until(tokens: float, wanted: float, limit: Limit) -> float:
    """Seconds until the bucket holds ``wanted`` tokens (0 when it already does)."""
    missing = min(wanted, limit.capacity) - tokens
    return max(0.0, missing / limit.rate)
