"""The circuit breaker state machine, driven by a fake clock."""

from __future__ import annotations

from clocks import FakeClock

import proxyapi.resilience
from proxyapi.config.traffic import CircuitBreakerConfig
from proxyapi.resilience import (
    BreakerSettings,
    BreakerState,
    CircuitBreaker,
    breaker_settings_for,
)


def make_breaker(
    clock: FakeClock,
    *,
    failure_threshold: int = 3,
    recovery_timeout: float = 10.0,
    half_open_max_calls: int = 2,
    enabled: bool = True,
) -> CircuitBreaker:
    settings = BreakerSettings(
        enabled=enabled,
        failure_threshold=failure_threshold,
        recovery_timeout=recovery_timeout,
        half_open_max_calls=half_open_max_calls,
    )
    return CircuitBreaker("primary", settings, clock=clock, wall_clock=lambda: 1.7e9)


def trip(breaker: CircuitBreaker) -> None:
    for _ in range(breaker.settings.failure_threshold):
        breaker.record_failure()
    assert breaker.state is BreakerState.OPEN


def test_package_reexports_public_names() -> None:
    assert sorted(proxyapi.resilience.__all__) == sorted(
        [
            "DEFAULT_MAX_DELAY",
            "AdaptiveRetryPolicy",
            "BreakerSettings",
            "BreakerState",
            "CircuitBreaker",
            "ImmediateRetryPolicy",
            "RetryPolicy",
            "RetryStats",
            "breaker_settings_for",
            "can_succeed_on_retry",
            "retry_policy_for",
        ]
    )
    for name in proxyapi.resilience.__all__:
        assert getattr(proxyapi.resilience, name) is not None


# Closed.


def test_new_breaker_is_closed_and_allows_calls(clock: FakeClock) -> None:
    breaker = make_breaker(clock)
    assert breaker.state is BreakerState.CLOSED
    assert all(breaker.allows() for _ in range(100))


def test_closed_breaker_stays_closed_below_failure_threshold(clock: FakeClock) -> None:
    breaker = make_breaker(clock, failure_threshold=3)
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.consecutive_failures == 2
    assert breaker.allows()


def test_closed_breaker_opens_at_failure_threshold(clock: FakeClock) -> None:
    breaker = make_breaker(clock, failure_threshold=3)
    for _ in range(3):
        breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert breaker.times_opened == 1
    assert breaker.transitions["closed->open"] == 1


def test_success_in_closed_state_resets_consecutive_failures(clock: FakeClock) -> None:
    breaker = make_breaker(clock, failure_threshold=3)
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()
    assert breaker.consecutive_failures == 0
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED


def test_release_in_closed_state_changes_nothing(clock: FakeClock) -> None:
    breaker = make_breaker(clock)
    breaker.record_failure()
    breaker.release()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.consecutive_failures == 1


# Open.


def test_open_breaker_rejects_without_calling_upstream(clock: FakeClock) -> None:
    breaker = make_breaker(clock)
    trip(breaker)
    assert not breaker.allows()
    clock.advance(9.999)
    assert not breaker.allows()
    assert breaker.state is BreakerState.OPEN


def test_open_breaker_turns_half_open_once_recovery_timeout_has_passed(clock: FakeClock) -> None:
    breaker = make_breaker(clock, recovery_timeout=10.0)
    trip(breaker)
    clock.advance(10.0)
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.transitions["open->half_open"] == 1
    assert breaker.allows()


def test_late_success_while_open_does_not_close_the_breaker(clock: FakeClock) -> None:
    breaker = make_breaker(clock)
    trip(breaker)
    breaker.record_success()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allows()


def test_late_failure_while_open_does_not_restart_the_recovery_timer(clock: FakeClock) -> None:
    breaker = make_breaker(clock, recovery_timeout=10.0)
    trip(breaker)
    clock.advance(9.0)
    breaker.record_failure()
    clock.advance(1.0)
    assert breaker.allows()
    assert breaker.times_opened == 1


# Half-open.


def half_open(
    clock: FakeClock,
    *,
    failure_threshold: int = 3,
    recovery_timeout: float = 10.0,
    half_open_max_calls: int = 2,
) -> CircuitBreaker:
    breaker = make_breaker(
        clock,
        failure_threshold=failure_threshold,
        recovery_timeout=recovery_timeout,
        half_open_max_calls=half_open_max_calls,
    )
    trip(breaker)
    clock.advance(breaker.settings.recovery_timeout)
    assert breaker.state is BreakerState.HALF_OPEN
    return breaker


def test_half_open_breaker_admits_at_most_half_open_max_calls(clock: FakeClock) -> None:
    breaker = half_open(clock, half_open_max_calls=2)
    assert breaker.allows()
    assert breaker.allows()
    assert not breaker.allows()


def test_release_frees_a_trial_slot_without_a_verdict(clock: FakeClock) -> None:
    breaker = half_open(clock, half_open_max_calls=1)
    assert breaker.allows()
    assert not breaker.allows()
    breaker.release()
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allows()


def test_release_never_frees_more_slots_than_were_taken(clock: FakeClock) -> None:
    breaker = half_open(clock, half_open_max_calls=1)
    breaker.release()
    breaker.release()
    assert breaker.allows()
    assert not breaker.allows()


def test_trial_success_closes_the_breaker(clock: FakeClock) -> None:
    breaker = half_open(clock)
    assert breaker.allows()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.consecutive_failures == 0
    assert breaker.transitions["half_open->closed"] == 1
    assert all(breaker.allows() for _ in range(10))


def test_trial_failure_reopens_at_once_and_restarts_the_recovery_timer(clock: FakeClock) -> None:
    breaker = half_open(clock, recovery_timeout=10.0, failure_threshold=3)
    assert breaker.allows()
    clock.advance(4.0)
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert breaker.times_opened == 2
    assert breaker.transitions["half_open->open"] == 1
    clock.advance(9.0)
    assert not breaker.allows()
    clock.advance(1.0)
    assert breaker.allows()


def test_trial_slots_are_fresh_after_reopening_and_recovering(clock: FakeClock) -> None:
    breaker = half_open(clock, half_open_max_calls=1)
    assert breaker.allows()
    breaker.record_failure()
    clock.advance(breaker.settings.recovery_timeout)
    assert breaker.allows()


def test_breaker_that_closed_again_needs_failure_threshold_failures_to_reopen(
    clock: FakeClock,
) -> None:
    breaker = half_open(clock, failure_threshold=3)
    breaker.allows()
    breaker.record_success()
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.allows()
    breaker.record_failure()
    assert not breaker.allows()


# Reset, disabled, export.


def test_reset_closes_an_open_breaker_and_keeps_the_history(clock: FakeClock) -> None:
    breaker = make_breaker(clock)
    trip(breaker)
    breaker.reset()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.consecutive_failures == 0
    assert breaker.allows()
    assert breaker.times_opened == 1
    assert breaker.transitions["open->closed"] == 1
    assert breaker.last_transition is not None
    assert breaker.last_transition["reason"] == "reset"


def test_reset_of_a_closed_breaker_clears_failures_without_a_transition(clock: FakeClock) -> None:
    breaker = make_breaker(clock)
    breaker.record_failure()
    breaker.reset()
    assert breaker.consecutive_failures == 0
    assert breaker.last_transition is None


def test_disabled_breaker_always_allows(clock: FakeClock) -> None:
    breaker = make_breaker(clock, enabled=False, failure_threshold=1)
    for _ in range(10):
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    assert all(breaker.allows() for _ in range(10))
    assert breaker.consecutive_failures == 10
    assert breaker.snapshot()["enabled"] is False


def test_snapshot_of_a_closed_breaker(clock: FakeClock) -> None:
    breaker = make_breaker(clock)
    breaker.record_failure()
    assert breaker.snapshot() == {
        "state": "closed",
        "enabled": True,
        "consecutive_failures": 1,
        "failure_threshold": 3,
        "recovery_timeout": 10.0,
        "half_open_max_calls": 2,
        "opened_at": None,
        "times_opened": 0,
        "transitions": {
            "closed->open": 0,
            "open->half_open": 0,
            "half_open->closed": 0,
            "half_open->open": 0,
        },
        "last_transition": None,
    }


def test_snapshot_of_an_open_breaker_names_when_and_why_it_opened(clock: FakeClock) -> None:
    breaker = make_breaker(clock)
    trip(breaker)
    snapshot = breaker.snapshot()
    assert snapshot["state"] == "open"
    assert snapshot["opened_at"] == 1.7e9
    assert snapshot["times_opened"] == 1
    assert snapshot["last_transition"] == {
        "from": "closed",
        "to": "open",
        "reason": "failure_threshold",
        "at": 1.7e9,
    }


def test_snapshot_reports_half_open_once_recovery_timeout_has_passed(clock: FakeClock) -> None:
    breaker = make_breaker(clock)
    trip(breaker)
    clock.advance(breaker.settings.recovery_timeout)
    assert breaker.snapshot()["state"] == "half_open"


def test_snapshot_is_a_copy(clock: FakeClock) -> None:
    breaker = make_breaker(clock)
    breaker.snapshot()["transitions"]["closed->open"] = 99
    assert breaker.transitions["closed->open"] == 0


# Settings from config.


def test_settings_default_to_the_global_block() -> None:
    config = CircuitBreakerConfig(failure_threshold=4, recovery_timeout=30, half_open_max_calls=1)
    assert breaker_settings_for("openai", config) == BreakerSettings(
        enabled=True, failure_threshold=4, recovery_timeout=30.0, half_open_max_calls=1
    )


def test_provider_override_replaces_only_the_fields_it_sets() -> None:
    config = CircuitBreakerConfig.model_validate(
        {
            "failure_threshold": 4,
            "recovery_timeout": 30,
            "half_open_max_calls": 1,
            "providers": {"anthropic": {"recovery_timeout": 5}},
        }
    )
    assert breaker_settings_for("anthropic", config) == BreakerSettings(
        enabled=True, failure_threshold=4, recovery_timeout=5.0, half_open_max_calls=1
    )
    assert breaker_settings_for("openai", config).recovery_timeout == 30.0


def test_disabled_block_gives_disabled_settings() -> None:
    config = CircuitBreakerConfig(enabled=False)
    assert breaker_settings_for("openai", config).enabled is False


def test_breaker_built_from_default_settings_uses_the_config_defaults() -> None:
    assert CircuitBreaker("p").settings == breaker_settings_for("p", CircuitBreakerConfig())
