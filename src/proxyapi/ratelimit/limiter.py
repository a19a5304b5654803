"""The rate limiter the request path calls: a backend, plus what to do when it is down.

Redis can vanish mid-traffic. Then each check fails fast (the client has no
retries, a short socket timeout), the request is admitted (``fail_open``, the
default) or refused with 503, and Redis is left alone for ``retry_interval``
before being tried again, so an outage costs one failed call per interval, not
one per request. The outage is logged once per ``LOG_INTERVAL`` and counted.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from redis.exceptions import RedisError

from proxyapi.ratelimit.base import Backend, Bucket, Verdict
from proxyapi.ratelimit.bucket import remaining, seconds_until

logger = logging.getLogger("proxyapi.ratelimit")

LOG_INTERVAL: Final = 30.0
BACKEND_ERRORS: Final = (RedisError, OSError, TimeoutError)


@dataclass(frozen=True, slots=True)
class Outcome:
    """A decision with the numbers the headers report: the tightest bucket's."""

    allowed: bool
    limit: int
    remaining: int
    reset_after: float  # seconds until that bucket is full again
    retry_after: float  # seconds until the request could pass (0 when allowed)
    scope: str


class BackendUnavailable(Exception):
    """The backend failed and ``fail_open`` is off: the request cannot be judged."""


class RateLimiter:
    """Checks requests against buckets; survives its backend going away."""

    def __init__(
        self,
        backend: Backend,
        *,
        fail_open: bool = True,
        retry_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backend = backend
        self.fail_open = fail_open
        self.retry_interval = retry_interval
        self._clock = clock
        self._down_until = 0.0
        self._last_logged = -LOG_INTERVAL
        self.available = True
        self.checks = 0
        self.rejected: Counter[str] = Counter()
        self.backend_errors = 0
        self.unjudged = 0  # requests decided without the backend (admitted or refused)

    async def check(self, buckets: Sequence[Bucket], cost: float = 1.0) -> Outcome | None:
        """The decision for ``buckets``; None when admitted without a backend to ask.

        Raises BackendUnavailable instead of None when ``fail_open`` is off.
        """
        self.checks += 1
        verdict = await self._take(buckets, cost)
        if verdict is None:
            self.unjudged += 1
            if self.fail_open:
                return None
            raise BackendUnavailable(self.backend.name)
        outcome = judge(buckets, verdict, cost)
        if not outcome.allowed:
            self.rejected[outcome.scope] += 1
        return outcome

    async def _take(self, buckets: Sequence[Bucket], cost: float) -> Verdict | None:
        if self._down_until and self._clock() < self._down_until:
            return None
        try:
            verdict = await self.backend.take(buckets, cost)
        except BACKEND_ERRORS as error:
            self._failed(error)
            return None
        if not self.available:
            self.available = True
            self._down_until = 0.0
            logger.warning("rate-limit backend %s is reachable again", self.backend.name)
        return verdict

    def _failed(self, error: BaseException) -> None:
        now = self._clock()
        self.backend_errors += 1
        self.available = False
        self._down_until = now + self.retry_interval
        if now - self._last_logged >= LOG_INTERVAL:
            self._last_logged = now
            action = "admitting requests unchecked" if self.fail_open else "refusing requests"
            logger.error(
                "rate-limit backend %s unreachable (%s: %s); %s until it is back",
                self.backend.name,
                type(error).__name__,
                error,
                action,
            )

    def snapshot(self) -> dict[str, Any]:
        return {
            "backend": self.backend.name,
            "available": self.available,
            "fail_open": self.fail_open,
            "checks": self.checks,
            "rejected": dict(self.rejected),
            "backend_errors": self.backend_errors,
            "unjudged": self.unjudged,
        }

    async def close(self) -> None:
        await self.backend.close()


def judge(buckets: Sequence[Bucket], verdict: Verdict, cost: float = 1.0) -> Outcome:
    """The outcome a verdict gives, reported from its tightest bucket.

    Refused: the bucket that makes the client wait longest. Admitted: the one
    with the fewest requests left (ties: the one slowest to refill).
    """
    tightest = 0
    if verdict.allowed:
        best: tuple[int, float] | None = None
        for i, (bucket, tokens) in enumerate(zip(buckets, verdict.tokens, strict=True)):
            rank = (remaining(tokens), -seconds_until(tokens, bucket.limit.capacity, bucket.limit))
            if best is None or rank < best:
                best, tightest = rank, i
        retry_after = 0.0
    else:
        retry_after = -1.0
        for i, (bucket, tokens) in enumerate(zip(buckets, verdict.tokens, strict=True)):
            wait = seconds_until(tokens, cost, bucket.limit)
            if wait > retry_after and tokens < cost:
                retry_after, tightest = wait, i
    bucket, tokens = buckets[tightest], verdict.tokens[tightest]
    return Outcome(
        allowed=verdict.allowed,
        limit=int(bucket.limit.capacity),
        remaining=remaining(tokens),
        reset_after=seconds_until(tokens, bucket.limit.capacity, bucket.limit),
        retry_after=retry_after,
        scope=bucket.scope,
    )
