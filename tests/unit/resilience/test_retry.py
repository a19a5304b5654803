"""Retry policies per strategy, their config resolution and the retry counters."""

from __future__ import annotations

import random
from typing import Any

import pytest

from proxyapi.config.models import HttpClientConfig
from proxyapi.config.provider import ProviderConfig
from proxyapi.errors import (
    ContextLengthExceeded,
    UpstreamAuthError,
    UpstreamConnectError,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamStatusError,
    UpstreamTimeout,
)
from proxyapi.resilience import (
    DEFAULT_MAX_DELAY,
    AdaptiveRetryPolicy,
    ImmediateRetryPolicy,
    RetryPolicy,
    RetryStats,
    can_succeed_on_retry,
    retry_policy_for,
)


def server_error(retry_after: float | None = None) -> UpstreamStatusError:
    return UpstreamStatusError(
        "overloaded", provider="p", upstream_status=503, retry_after=retry_after
    )


def connect_error() -> UpstreamConnectError:
    return UpstreamConnectError("connection reset", provider="p")


class MaxRandom(random.Random):
    """Jitter always at its ceiling, to read the cap."""

    def uniform(self, a: float, b: float) -> float:
        return b


def capped(policy_cls: type[RetryPolicy] = RetryPolicy, **kwargs: Any) -> RetryPolicy:
    return policy_cls(rng=MaxRandom(), **kwargs)


# Errors that cannot succeed.


@pytest.mark.parametrize(
    "error",
    [
        ContextLengthExceeded("too long", provider="p", upstream_status=400),
        UpstreamStatusError("bad request", provider="p", upstream_status=400),
        UpstreamStatusError("not found", provider="p", upstream_status=404),
        UpstreamStatusError("forbidden", provider="p", upstream_status=403),
        UpstreamAuthError("p", 401),
    ],
    ids=["context_length", "400", "404", "403", "auth"],
)
@pytest.mark.parametrize("policy_cls", [RetryPolicy, ImmediateRetryPolicy, AdaptiveRetryPolicy])
def test_no_strategy_retries_what_cannot_succeed(
    policy_cls: type[RetryPolicy], error: UpstreamError
) -> None:
    assert policy_cls(max_attempts=5).next_delay(0, error) is None


@pytest.mark.parametrize(
    "error",
    [
        server_error(),
        connect_error(),
        UpstreamTimeout("slow", provider="p"),
        UpstreamRateLimited("slow down", provider="p", upstream_status=429),
    ],
    ids=["503", "connect", "timeout", "429"],
)
def test_transient_upstream_errors_are_retried(error: UpstreamError) -> None:
    assert can_succeed_on_retry(error)
    assert RetryPolicy(max_attempts=2).next_delay(0, error) is not None


def test_auth_error_is_not_retried_on_the_same_provider_but_stays_retryable_elsewhere() -> None:
    error = UpstreamAuthError("p", 401)
    assert error.is_retryable
    assert not can_succeed_on_retry(error)


# Attempts.


def test_no_retry_after_the_last_attempt() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert policy.next_delay(0, server_error()) is not None
    assert policy.next_delay(1, server_error()) is not None
    assert policy.next_delay(2, server_error()) is None


def test_a_single_attempt_policy_never_retries() -> None:
    assert RetryPolicy(max_attempts=1).next_delay(0, server_error()) is None


def test_max_attempts_below_one_is_rejected() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


# exponential_backoff.


def test_exponential_backoff_cap_doubles_per_attempt() -> None:
    policy = capped(max_attempts=10, base_delay=0.5, max_delay=100.0)
    assert [policy.next_delay(n, server_error()) for n in range(4)] == [0.5, 1.0, 2.0, 4.0]


def test_exponential_backoff_cap_never_exceeds_max_delay() -> None:
    policy = capped(max_attempts=10, base_delay=1.0, max_delay=5.0)
    assert policy.next_delay(8, server_error()) == 5.0


def test_exponential_backoff_uses_full_jitter_between_zero_and_the_cap() -> None:
    policy = RetryPolicy(max_attempts=10, base_delay=1.0, max_delay=100.0, rng=random.Random(7))
    delays = [policy.next_delay(3, server_error()) for _ in range(500)]
    assert all(d is not None and 0.0 <= d <= 8.0 for d in delays)
    assert min(d for d in delays if d is not None) < 1.0
    assert max(d for d in delays if d is not None) > 7.0


def test_same_seed_gives_the_same_delays() -> None:
    def run(seed: int) -> list[float | None]:
        policy = RetryPolicy(max_attempts=5, rng=random.Random(seed))
        return [policy.next_delay(n, server_error()) for n in range(4)]

    assert run(42) == run(42)


# Retry-After.


def test_retry_after_is_a_floor_on_the_delay() -> None:
    policy = RetryPolicy(max_attempts=3, base_delay=0.1, max_delay=30.0, rng=random.Random(1))
    error = UpstreamRateLimited("slow down", provider="p", upstream_status=429, retry_after=2.0)
    assert policy.next_delay(0, error) == 2.0


def test_backoff_longer_than_retry_after_wins() -> None:
    policy = capped(max_attempts=5, base_delay=4.0, max_delay=30.0)
    assert policy.next_delay(1, server_error(retry_after=1.0)) == 8.0


def test_retry_after_beyond_max_delay_gives_up_so_the_caller_falls_back() -> None:
    policy = RetryPolicy(max_attempts=3, max_delay=10.0)
    assert policy.next_delay(0, server_error(retry_after=10.0)) == 10.0
    assert policy.next_delay(0, server_error(retry_after=10.5)) is None


@pytest.mark.parametrize("policy_cls", [ImmediateRetryPolicy, AdaptiveRetryPolicy])
def test_every_strategy_honours_retry_after(policy_cls: type[RetryPolicy]) -> None:
    policy = policy_cls(max_attempts=3, base_delay=0.01, rng=random.Random(3))
    error = UpstreamConnectError("reset", provider="p", retry_after=1.5)
    assert policy.next_delay(0, error) == 1.5


# immediate_retry.


def test_immediate_retry_retries_a_first_connection_error_at_once() -> None:
    policy = capped(ImmediateRetryPolicy, max_attempts=3, base_delay=1.0)
    assert policy.next_delay(0, connect_error()) == 0.0


def test_immediate_retry_backs_off_after_the_immediate_retry() -> None:
    policy = capped(ImmediateRetryPolicy, max_attempts=4, base_delay=1.0)
    assert policy.next_delay(1, connect_error()) == 2.0
    assert policy.next_delay(2, connect_error()) == 4.0


@pytest.mark.parametrize(
    "error", [server_error(), UpstreamTimeout("slow", provider="p")], ids=["503", "timeout"]
)
def test_immediate_retry_backs_off_for_other_errors(error: UpstreamError) -> None:
    policy = capped(ImmediateRetryPolicy, max_attempts=3, base_delay=1.0)
    assert policy.next_delay(0, error) == 1.0


# adaptive.


def adaptive(successes: int, failures: int, **kwargs: Any) -> AdaptiveRetryPolicy:
    policy = AdaptiveRetryPolicy(rng=MaxRandom(), **kwargs)
    for outcome in [True] * successes + [False] * failures:
        policy.record(outcome)
    return policy


def test_adaptive_counts_a_provider_as_healthy_until_min_samples_outcomes() -> None:
    policy = adaptive(0, 4, max_attempts=3, min_samples=5)
    assert policy.success_rate == 1.0
    assert policy.max_attempts == 3


def test_adaptive_healthy_provider_gets_full_attempts_and_base_delays() -> None:
    policy = adaptive(18, 2, max_attempts=4, base_delay=1.0, max_delay=100.0)
    assert policy.success_rate == 0.9
    assert policy.max_attempts == 4
    assert policy.next_delay(1, server_error()) == 2.0


def test_adaptive_degraded_provider_gets_delays_scaled_by_the_inverse_rate() -> None:
    policy = adaptive(10, 10, max_attempts=4, base_delay=1.0, max_delay=100.0)
    assert policy.success_rate == 0.5
    assert policy.max_attempts == 4
    assert policy.next_delay(1, server_error()) == 4.0


def test_adaptive_scaled_delays_are_still_capped_at_max_delay() -> None:
    policy = adaptive(12, 8, max_attempts=10, base_delay=1.0, max_delay=5.0)
    assert policy.next_delay(3, server_error()) == 5.0


def test_adaptive_failing_provider_gets_a_single_attempt_to_fall_back_fast() -> None:
    policy = adaptive(9, 11, max_attempts=4)
    assert policy.max_attempts == 1
    assert policy.next_delay(0, server_error()) is None


def test_adaptive_window_forgets_old_outcomes_so_the_provider_recovers() -> None:
    policy = adaptive(0, 20, max_attempts=3, window=20)
    assert policy.max_attempts == 1
    for _ in range(20):
        policy.record(True)
    assert policy.success_rate == 1.0
    assert policy.max_attempts == 3


def test_adaptive_rejects_min_samples_larger_than_the_window() -> None:
    with pytest.raises(ValueError, match="min_samples"):
        AdaptiveRetryPolicy(window=5, min_samples=6)


def test_fixed_strategies_ignore_recorded_outcomes() -> None:
    policy = RetryPolicy(max_attempts=3)
    for _ in range(50):
        policy.record(False)
    assert policy.max_attempts == 3


# retry_policy_for.


def provider(**fields: Any) -> ProviderConfig:
    return ProviderConfig.model_validate(
        {"name": "p", "type": "openai", "api_key_env": "K", "models": ["m"], **fields}
    )


def test_default_policy_is_exponential_backoff_from_http_client_retries() -> None:
    policy = retry_policy_for(provider(), HttpClientConfig(retry_attempts=2))
    assert type(policy) is RetryPolicy
    assert policy.strategy == "exponential_backoff"
    assert policy.max_attempts == 3
    assert policy.base_delay == 1.0
    assert policy.max_delay == DEFAULT_MAX_DELAY == 30.0


def test_retry_attempts_counts_retries_so_attempts_are_one_more() -> None:
    policy = retry_policy_for(provider(retry_attempts=4), HttpClientConfig(retry_attempts=1))
    assert policy.max_attempts == 5


def test_zero_retry_attempts_means_a_single_attempt() -> None:
    assert retry_policy_for(provider(max_retries=0), HttpClientConfig()).max_attempts == 1


def test_retry_delay_is_the_base_delay_without_retry_config() -> None:
    assert retry_policy_for(provider(retry_delay=0.25), HttpClientConfig()).base_delay == 0.25


@pytest.mark.parametrize(
    ("strategy", "policy_cls"),
    [
        ("exponential_backoff", RetryPolicy),
        ("immediate_retry", ImmediateRetryPolicy),
        ("adaptive", AdaptiveRetryPolicy),
    ],
)
def test_retry_strategy_picks_the_policy(strategy: str, policy_cls: type[RetryPolicy]) -> None:
    policy = retry_policy_for(provider(retry_strategy=strategy), HttpClientConfig())
    assert type(policy) is policy_cls
    assert policy.strategy == strategy


def test_retry_config_counts_attempts_and_wins_over_provider_fields() -> None:
    config = provider(
        retry_attempts=9,
        retry_delay=9.0,
        retry_config={"max_attempts": 5, "base_delay": 2.0, "max_delay": 120.0},
    )
    policy = retry_policy_for(config, HttpClientConfig())
    assert (policy.max_attempts, policy.base_delay, policy.max_delay) == (5, 2.0, 120.0)


def test_partial_retry_config_falls_back_field_by_field() -> None:
    config = provider(retry_attempts=1, retry_delay=0.5, retry_config={"max_delay": 10.0})
    policy = retry_policy_for(config, HttpClientConfig())
    assert (policy.max_attempts, policy.base_delay, policy.max_delay) == (2, 0.5, 10.0)


def test_retry_config_without_max_delay_uses_its_documented_default() -> None:
    config = provider(retry_config={"max_attempts": 2})
    assert retry_policy_for(config, HttpClientConfig()).max_delay == 60.0


def test_retry_policy_for_passes_the_rng_on() -> None:
    def first_delay(seed: int) -> float | None:
        policy = retry_policy_for(provider(), HttpClientConfig(), rng=random.Random(seed))
        return policy.next_delay(0, server_error())

    assert first_delay(5) == first_delay(5)


# RetryStats.


def test_new_stats_are_zero_with_a_full_success_rate() -> None:
    assert RetryStats().as_dict() == {
        "attempts": 0,
        "retries": 0,
        "successes_after_retry": 0,
        "consecutive_failures": 0,
        "success_rate": 1.0,
    }


def test_stats_count_attempts_retries_and_successes_after_retry() -> None:
    stats = RetryStats()
    # A request that failed twice and succeeded on the third attempt.
    for attempt in range(3):
        stats.record_attempt(attempt)
        if attempt < 2:
            stats.record_failure()
    stats.record_success(2)
    # A request that succeeded at once.
    stats.record_attempt(0)
    stats.record_success(0)
    assert stats.as_dict() == {
        "attempts": 4,
        "retries": 2,
        "successes_after_retry": 1,
        "consecutive_failures": 0,
        "success_rate": 0.5,
    }


def test_stats_consecutive_failures_grow_until_a_success() -> None:
    stats = RetryStats()
    for _ in range(3):
        stats.record_failure()
    assert stats.consecutive_failures == 3
    stats.record_success(0)
    assert stats.consecutive_failures == 0
    assert stats.successes_after_retry == 0


def test_stats_success_rate_is_rounded_for_export() -> None:
    stats = RetryStats()
    stats.record_success(0)
    stats.record_failure()
    stats.record_failure()
    assert stats.as_dict()["success_rate"] == 0.3333
