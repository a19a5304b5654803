"""Token-bucket arithmetic: burst, steady refill, fractional rates, a clock that goes back."""

from __future__ import annotations

import pytest
from clocks import FakeClock

from proxyapi.ratelimit.base import Bucket
from proxyapi.ratelimit.bucket import Limit, refill, remaining, seconds_until
from proxyapi.ratelimit.memory import MemoryBackend


def admitted(backend: MemoryBackend, limit: Limit, attempts: int) -> int:
    bucket = Bucket("b", limit, "global")
    return sum(backend.take_now([bucket]).allowed for _ in range(attempts))


def test_a_fresh_bucket_admits_exactly_its_capacity_at_one_instant(clock: FakeClock) -> None:
    backend = MemoryBackend(clock)
    assert admitted(backend, Limit(capacity=7, rate=1.0), 20) == 7


def test_a_spent_bucket_refuses_until_time_passes(clock: FakeClock) -> None:
    backend = MemoryBackend(clock)
    limit = Limit(capacity=3, rate=1.0)
    admitted(backend, limit, 3)
    assert admitted(backend, limit, 5) == 0
    clock.advance(1.0)
    assert admitted(backend, limit, 5) == 1


def test_a_bucket_refills_steadily_at_its_rate(clock: FakeClock) -> None:
    backend = MemoryBackend(clock)
    limit = Limit(capacity=10, rate=2.0)
    admitted(backend, limit, 10)
    clock.advance(1.5)
    assert admitted(backend, limit, 10) == 3


def test_refill_adds_rate_tokens_per_elapsed_second() -> None:
    assert refill(0.0, 100.0, Limit(capacity=10, rate=2.0), 101.5) == 3.0
    assert refill(1.25, 100.0, Limit(capacity=10, rate=0.5), 104.0) == 3.25


def test_a_bucket_never_fills_above_its_capacity() -> None:
    assert refill(9.0, 0.0, Limit(capacity=10, rate=2.0), 3600.0) == 10.0


def test_an_idle_bucket_offers_no_more_than_its_burst(clock: FakeClock) -> None:
    backend = MemoryBackend(clock)
    limit = Limit(capacity=4, rate=1.0)
    admitted(backend, limit, 1)
    clock.advance(86400.0)
    assert admitted(backend, limit, 10) == 4


def test_one_request_per_hour_admits_the_next_only_after_an_hour(clock: FakeClock) -> None:
    limit = Limit.per_window(1, 3600)
    assert limit.rate == pytest.approx(1 / 3600)
    backend = MemoryBackend(clock)
    assert admitted(backend, limit, 2) == 1
    clock.advance(3599.0)
    assert admitted(backend, limit, 1) == 0
    clock.advance(1.0)
    assert admitted(backend, limit, 2) == 1


def test_half_a_token_a_second_admits_one_request_every_two_seconds(clock: FakeClock) -> None:
    backend = MemoryBackend(clock)
    limit = Limit(capacity=1, rate=0.5)
    assert admitted(backend, limit, 1) == 1
    timeline = []
    for _ in range(8):
        clock.advance(1.0)
        timeline.append(admitted(backend, limit, 1))
    assert timeline == [0, 1, 0, 1, 0, 1, 0, 1]


def test_per_window_spreads_the_count_over_the_window() -> None:
    assert Limit.per_window(60, 60) == Limit(capacity=60.0, rate=1.0)
    assert Limit.per_window(500, 60) == Limit(capacity=500.0, rate=500 / 60)


def test_per_window_burst_sets_the_capacity_but_not_the_rate() -> None:
    assert Limit.per_window(120, 60, burst=10) == Limit(capacity=10.0, rate=2.0)


@pytest.mark.parametrize(("capacity", "rate"), [(0, 1.0), (1, 0.0), (-1, 1.0), (1, -2.0)])
def test_a_limit_needs_a_positive_capacity_and_rate(capacity: float, rate: float) -> None:
    with pytest.raises(ValueError, match="positive capacity and rate"):
        Limit(capacity=capacity, rate=rate)


def test_a_clock_that_went_backwards_adds_no_tokens() -> None:
    limit = Limit(capacity=10, rate=2.0)
    assert refill(3.0, 100.0, limit, 40.0) == 3.0
    assert refill(3.0, 100.0, limit, 100.0) == 3.0


def test_remaining_counts_whole_requests() -> None:
    assert remaining(2.99) == 2
    assert remaining(3.0) == 3
    assert remaining(0.5) == 0


def test_remaining_absorbs_float_noise_and_never_goes_negative() -> None:
    assert remaining(2.9999999999999996) == 3
    assert remaining(-0.5) == 0


def test_seconds_until_is_the_missing_tokens_over_the_rate() -> None:
    limit = Limit(capacity=10, rate=2.0)
    assert seconds_until(4.0, 10.0, limit) == 3.0
    assert seconds_until(0.5, 1.0, limit) == 0.25


def test_seconds_until_is_zero_when_the_tokens_are_already_there() -> None:
    assert seconds_until(5.0, 1.0, Limit(capacity=10, rate=2.0)) == 0.0


def test_seconds_until_never_waits_for_more_than_the_capacity() -> None:
    assert seconds_until(0.0, 50.0, Limit(capacity=10, rate=2.0)) == 5.0


def test_seconds_until_an_hourly_token_is_an_hour() -> None:
    assert seconds_until(0.0, 1.0, Limit.per_window(1, 3600)) == pytest.approx(3600.0)
