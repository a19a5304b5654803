"""The limiter around a backend that can vanish, and how it reports the tightest bucket."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

import pytest
from clocks import FakeClock
from redis.exceptions import ConnectionError as RedisConnectionError

from proxyapi.ratelimit.base import Bucket, Verdict
from proxyapi.ratelimit.bucket import Limit
from proxyapi.ratelimit.limiter import (
    LOG_INTERVAL,
    BackendUnavailable,
    Outcome,
    RateLimiter,
    judge,
)
from proxyapi.ratelimit.memory import MemoryBackend


class FlakyBackend:
    """A memory backend whose ``take`` raises a Redis connection error while ``down``."""

    name = "flaky"

    def __init__(self, clock: FakeClock) -> None:
        self.inner = MemoryBackend(clock)
        self.down = False
        self.calls = 0
        self.closed = False

    async def take(self, buckets: Sequence[Bucket], cost: float = 1.0) -> Verdict:
        self.calls += 1
        if self.down:
            raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379")
        return await self.inner.take(buckets, cost)

    async def close(self) -> None:
        self.closed = True


BUCKETS = [Bucket("ip:1.2.3.4", Limit(capacity=5, rate=0.5), "ip")]


@pytest.fixture
def backend(clock: FakeClock) -> FlakyBackend:
    return FlakyBackend(clock)


@pytest.fixture
def log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    # Attached to the logger itself: another test may have stopped "proxyapi" propagating.
    logger = logging.getLogger("proxyapi.ratelimit")
    propagate, level = logger.propagate, logger.level
    logger.addHandler(caplog.handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    yield caplog
    logger.removeHandler(caplog.handler)
    logger.propagate, logger.level = propagate, level


def limiter(
    backend: FlakyBackend, clock: FakeClock, *, fail_open: bool = True, retry_interval: float = 1.0
) -> RateLimiter:
    return RateLimiter(backend, fail_open=fail_open, retry_interval=retry_interval, clock=clock)


async def test_an_available_backend_judges_every_request(
    backend: FlakyBackend, clock: FakeClock
) -> None:
    gate = limiter(backend, clock)
    outcome = await gate.check(BUCKETS)
    assert outcome == Outcome(
        allowed=True, limit=5, remaining=4, reset_after=2.0, retry_after=0.0, scope="ip"
    )
    assert (gate.checks, gate.unjudged, gate.backend_errors) == (1, 0, 0)


async def test_failing_open_admits_unjudged_and_counts_the_error(
    backend: FlakyBackend, clock: FakeClock
) -> None:
    gate = limiter(backend, clock, fail_open=True)
    backend.down = True
    assert await gate.check(BUCKETS) is None
    assert (gate.unjudged, gate.backend_errors, gate.available) == (1, 1, False)


async def test_failing_closed_raises_backend_unavailable(
    backend: FlakyBackend, clock: FakeClock
) -> None:
    gate = limiter(backend, clock, fail_open=False)
    backend.down = True
    with pytest.raises(BackendUnavailable, match="flaky"):
        await gate.check(BUCKETS)
    assert (gate.unjudged, gate.backend_errors) == (1, 1)


@pytest.mark.parametrize(
    "error", [OSError("network is unreachable"), TimeoutError("timed out")], ids=repr
)
async def test_os_and_timeout_errors_count_as_the_backend_being_down(
    clock: FakeClock, error: Exception
) -> None:
    class Broken(FlakyBackend):
        async def take(self, buckets: Sequence[Bucket], cost: float = 1.0) -> Verdict:
            raise error

    gate = limiter(Broken(clock), clock)
    assert await gate.check(BUCKETS) is None
    assert gate.backend_errors == 1


async def test_other_errors_are_not_taken_for_an_outage(clock: FakeClock) -> None:
    class Buggy(FlakyBackend):
        async def take(self, buckets: Sequence[Bucket], cost: float = 1.0) -> Verdict:
            raise KeyError("bug")

    with pytest.raises(KeyError):
        await limiter(Buggy(clock), clock).check(BUCKETS)


async def test_after_a_failure_the_backend_is_left_alone_for_the_retry_interval(
    backend: FlakyBackend, clock: FakeClock
) -> None:
    gate = limiter(backend, clock, retry_interval=2.0)
    backend.down = True
    await gate.check(BUCKETS)
    for _ in range(10):
        clock.advance(0.19)
        assert await gate.check(BUCKETS) is None
    assert backend.calls == 1
    assert (gate.checks, gate.unjudged, gate.backend_errors) == (11, 11, 1)


async def test_once_the_retry_interval_has_passed_the_backend_is_asked_again(
    backend: FlakyBackend, clock: FakeClock
) -> None:
    gate = limiter(backend, clock, retry_interval=2.0)
    backend.down = True
    await gate.check(BUCKETS)
    backend.down = False
    clock.advance(2.0)
    outcome = await gate.check(BUCKETS)
    assert outcome is not None and outcome.allowed
    assert backend.calls == 2
    assert gate.available
    clock.advance(0.1)
    await gate.check(BUCKETS)
    assert backend.calls == 3


async def test_a_backend_still_down_after_the_interval_is_left_alone_again(
    backend: FlakyBackend, clock: FakeClock
) -> None:
    gate = limiter(backend, clock, retry_interval=2.0)
    backend.down = True
    await gate.check(BUCKETS)
    clock.advance(2.0)
    await gate.check(BUCKETS)
    clock.advance(1.0)
    await gate.check(BUCKETS)
    assert (backend.calls, gate.backend_errors, gate.available) == (2, 2, False)


async def test_an_outage_is_logged_once_per_log_interval_not_per_request(
    backend: FlakyBackend, clock: FakeClock, log: pytest.LogCaptureFixture
) -> None:
    gate = limiter(backend, clock, retry_interval=1.0)
    backend.down = True
    for _ in range(int(LOG_INTERVAL)):
        await gate.check(BUCKETS)
        clock.advance(1.0)
    errors = [r for r in log.records if r.levelno == logging.ERROR]
    assert gate.backend_errors == int(LOG_INTERVAL)
    assert len(errors) == 1
    assert "flaky unreachable (ConnectionError" in errors[0].getMessage()
    assert "admitting requests unchecked" in errors[0].getMessage()
    await gate.check(BUCKETS)
    assert len([r for r in log.records if r.levelno == logging.ERROR]) == 2


async def test_the_outage_log_says_requests_are_refused_when_failing_closed(
    backend: FlakyBackend, clock: FakeClock, log: pytest.LogCaptureFixture
) -> None:
    gate = limiter(backend, clock, fail_open=False)
    backend.down = True
    with pytest.raises(BackendUnavailable):
        await gate.check(BUCKETS)
    assert "refusing requests" in log.records[-1].getMessage()


async def test_the_recovery_is_logged(
    backend: FlakyBackend, clock: FakeClock, log: pytest.LogCaptureFixture
) -> None:
    gate = limiter(backend, clock)
    backend.down = True
    await gate.check(BUCKETS)
    backend.down = False
    clock.advance(1.0)
    await gate.check(BUCKETS)
    assert log.records[-1].levelno == logging.WARNING
    assert log.records[-1].getMessage() == "rate-limit backend flaky is reachable again"


async def test_rejections_are_counted_by_scope(backend: FlakyBackend, clock: FakeClock) -> None:
    gate = limiter(backend, clock)
    tight_ip = Bucket("ip:1.2.3.4", Limit(capacity=1, rate=0.01), "ip")
    roomy_global = Bucket("global", Limit(capacity=100, rate=1.0), "global")
    tight_key = Bucket("key:abc", Limit(capacity=2, rate=0.01), "key")
    for _ in range(3):
        await gate.check([roomy_global, tight_ip])
    for _ in range(5):
        await gate.check([roomy_global, tight_key])
    assert gate.rejected == {"ip": 2, "key": 3}


async def test_the_snapshot_reports_the_counters(backend: FlakyBackend, clock: FakeClock) -> None:
    gate = limiter(backend, clock, fail_open=False)
    await gate.check([Bucket("k", Limit(capacity=1, rate=0.01), "key")])
    await gate.check([Bucket("k", Limit(capacity=1, rate=0.01), "key")])
    assert gate.snapshot() == {
        "backend": "flaky",
        "available": True,
        "fail_open": False,
        "checks": 2,
        "rejected": {"key": 1},
        "backend_errors": 0,
        "unjudged": 0,
    }


async def test_closing_the_limiter_closes_its_backend(
    backend: FlakyBackend, clock: FakeClock
) -> None:
    await limiter(backend, clock).close()
    assert backend.closed


def test_an_admitted_request_reports_the_bucket_with_fewest_requests_left() -> None:
    buckets = [
        Bucket("global", Limit(capacity=1000, rate=10.0), "global"),
        Bucket("key:abc", Limit(capacity=10, rate=0.5), "key"),
        Bucket("ip:1.2.3.4", Limit(capacity=100, rate=1.0), "ip"),
    ]
    outcome = judge(buckets, Verdict(True, (500.0, 3.0, 40.0)))
    assert outcome == Outcome(
        allowed=True, limit=10, remaining=3, reset_after=14.0, retry_after=0.0, scope="key"
    )


def test_an_admitted_tie_goes_to_the_bucket_slowest_to_refill() -> None:
    buckets = [
        Bucket("fast", Limit(capacity=10, rate=5.0), "global"),
        Bucket("slow", Limit(capacity=10, rate=0.1), "route"),
    ]
    outcome = judge(buckets, Verdict(True, (2.0, 2.5)))
    assert (outcome.scope, outcome.remaining, outcome.reset_after) == ("route", 2, 75.0)


def test_a_refused_request_reports_the_bucket_that_makes_it_wait_longest() -> None:
    buckets = [
        Bucket("global", Limit(capacity=100, rate=1.0), "global"),
        Bucket("ip:1.2.3.4", Limit(capacity=10, rate=1.0), "ip"),
        Bucket("key:abc", Limit(capacity=5, rate=0.1), "key"),
    ]
    outcome = judge(buckets, Verdict(False, (50.0, 0.5, 0.75)))
    assert outcome.scope == "key"
    assert outcome.retry_after == pytest.approx(2.5)
    assert (outcome.allowed, outcome.limit, outcome.remaining) == (False, 5, 0)
    assert outcome.reset_after == pytest.approx(42.5)


def test_a_refused_request_ignores_buckets_that_could_pay() -> None:
    buckets = [
        Bucket("route", Limit(capacity=100, rate=0.001), "route"),
        Bucket("ip:1.2.3.4", Limit(capacity=10, rate=2.0), "ip"),
    ]
    outcome = judge(buckets, Verdict(False, (1.0, 0.0)))
    assert (outcome.scope, outcome.retry_after) == ("ip", 0.5)


def test_the_wait_accounts_for_the_cost() -> None:
    buckets = [Bucket("k", Limit(capacity=10, rate=2.0), "key")]
    assert judge(buckets, Verdict(False, (1.0,)), cost=5.0).retry_after == 2.0
