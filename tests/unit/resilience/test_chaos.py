"""Fault injection: which requests get a fault, what each fault does, and the safety stops."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clocks import FakeClock
from pydantic import ValidationError

from proxyapi.config.testing import ChaosEngineeringConfig, ChaosFault
from proxyapi.errors import (
    UpstreamConnectError,
    UpstreamRateLimited,
    UpstreamStatusError,
    UpstreamTimeout,
)
from proxyapi.resilience.chaos import FAULT_TYPES, ChaosMonkey, Fault, parse_duration

CHAT = "/v1/chat/completions"
MONDAY_10 = datetime(2024, 1, 1, 10, 0, tzinfo=UTC)  # 2024-01-01 was a Monday.


class RecordingSleep:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def chaos_config(*faults: dict[str, Any], **blocks: Any) -> ChaosEngineeringConfig:
    return ChaosEngineeringConfig.model_validate(
        {"enabled": True, "faults": list(faults), **blocks}
    )


def fault(type: str = "error", probability: float = 1.0, **fields: Any) -> dict[str, Any]:
    return {"type": type, "probability": probability, **fields}


def monkey_for(
    config: ChaosEngineeringConfig,
    *,
    clock: FakeClock | None = None,
    now: datetime = MONDAY_10,
    seed: int = 7,
    sleep: RecordingSleep | None = None,
    **options: Any,
) -> ChaosMonkey:
    return ChaosMonkey(
        config,
        clock=clock or FakeClock(),
        rng=random.Random(seed),
        now=lambda: now,
        sleep=sleep or RecordingSleep(),
        **options,
    )


class WarningLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def chaos_log() -> Iterator[WarningLog]:
    # Attached to our logger directly: the app's logging setup stops "proxyapi" propagating.
    chaos_logger = logging.getLogger("proxyapi.resilience.chaos")
    handler, level = WarningLog(), chaos_logger.level
    chaos_logger.addHandler(handler)
    chaos_logger.setLevel(logging.WARNING)
    yield handler
    chaos_logger.removeHandler(handler)
    chaos_logger.setLevel(level)


# Deciding which requests get a fault.


def test_chaos_is_off_by_default_and_injects_nothing(chaos_log: WarningLog) -> None:
    config = ChaosEngineeringConfig.model_validate({"faults": [fault(probability=1.0)]})
    monkey = monkey_for(config)
    assert monkey.fault_for("openai", CHAT) is None
    assert not monkey.is_active
    assert chaos_log.lines == []


def test_enabled_chaos_logs_a_loud_warning_at_construction(
    chaos_log: WarningLog,
) -> None:
    monkey_for(chaos_config(fault("delay", 0.1, duration_ms=500, target="openai")))
    [line] = chaos_log.lines
    assert line.startswith("chaos engineering is ON: 1 faults (delay 10% -> openai)")
    assert "max_duration: 1h" in line
    assert "excluded: /health, /metrics" in line


def test_a_fault_with_probability_one_hits_every_request() -> None:
    monkey = monkey_for(chaos_config(fault("network_failure")))
    faults = [monkey.fault_for("openai", CHAT) for _ in range(50)]
    assert faults == [Fault(type="network_failure")] * 50


def test_a_fault_with_probability_zero_never_hits() -> None:
    monkey = monkey_for(chaos_config(fault(probability=0.0)))
    assert all(monkey.fault_for("openai", CHAT) is None for _ in range(1000))


def test_probability_is_the_share_of_requests_hit() -> None:
    monkey = monkey_for(chaos_config(fault(probability=0.2)), seed=1234)
    hits = sum(monkey.fault_for("openai", CHAT) is not None for _ in range(10_000))
    assert 1_850 <= hits <= 2_150


def test_the_same_seed_gives_the_same_faults() -> None:
    config = chaos_config(fault("delay", 0.3), fault("error", 0.3))

    def run(seed: int) -> list[Fault | None]:
        monkey = monkey_for(config, seed=seed)
        return [monkey.fault_for("openai", CHAT) for _ in range(200)]

    assert run(99) == run(99)
    assert run(99) != run(100)


def test_a_fault_targeting_a_provider_spares_the_others() -> None:
    monkey = monkey_for(chaos_config(fault(target="openai")))
    assert monkey.fault_for("openai", CHAT) is not None
    assert monkey.fault_for("anthropic", CHAT) is None


def test_a_fault_targeting_all_hits_every_provider() -> None:
    monkey = monkey_for(chaos_config(fault(target="all")))
    assert monkey.fault_for("openai", CHAT) is not None
    assert monkey.fault_for("anthropic", CHAT) is not None


def test_the_first_fault_that_fires_wins_in_config_order() -> None:
    monkey = monkey_for(chaos_config(fault("delay", 1.0), fault("error", 1.0)))
    assert monkey.fault_for("openai", CHAT) == Fault(type="delay", duration_ms=500)


def test_a_fault_that_does_not_fire_lets_the_next_one_draw() -> None:
    config = chaos_config(fault("delay", 0.0), fault("error", 1.0, target="anthropic"))
    monkey = monkey_for(config)
    assert monkey.fault_for("openai", CHAT) is None
    assert monkey.fault_for("anthropic", CHAT) == Fault(type="error")


@pytest.mark.parametrize("path", ["/health", "/health/live", "/metrics", "/metrics/"])
def test_excluded_endpoints_never_get_a_fault(path: str) -> None:
    monkey = monkey_for(chaos_config(fault()))
    assert monkey.fault_for("openai", path) is None


@pytest.mark.parametrize("path", ["/healthz", "/v1/metrics", CHAT])
def test_exclusions_match_whole_path_segments_only(path: str) -> None:
    monkey = monkey_for(chaos_config(fault()))
    assert monkey.fault_for("openai", path) is not None


def test_custom_excluded_endpoints_replace_the_defaults() -> None:
    config = chaos_config(fault(), safety={"excluded_endpoints": ["/v1/embeddings/"]})
    monkey = monkey_for(config)
    assert monkey.fault_for("openai", "/v1/embeddings") is None
    assert monkey.fault_for("openai", "/health") is not None


def test_disabled_safety_lifts_exclusions_and_max_duration() -> None:
    clock = FakeClock()
    config = chaos_config(fault(), safety={"enabled": False, "max_duration": "1s"})
    monkey = monkey_for(config, clock=clock)
    clock.now += 10
    assert monkey.fault_for("openai", "/health") is not None


def test_no_fault_outside_the_schedule() -> None:
    schedule = {"rules": [{"name": "business_hours", "condition": "hour >= 9 and hour <= 17"}]}
    config = chaos_config(fault(), schedule=schedule)
    assert monkey_for(config, now=MONDAY_10).fault_for("openai", CHAT) is not None
    evening = MONDAY_10.replace(hour=20)
    assert monkey_for(config, now=evening).fault_for("openai", CHAT) is None


def test_the_schedule_is_read_in_its_timezone() -> None:
    schedule = {"timezone": "Asia/Tokyo", "rules": [{"name": "r", "condition": "hour == 19"}]}
    monkey = monkey_for(chaos_config(fault(), schedule=schedule), now=MONDAY_10)
    assert monkey.fault_for("openai", CHAT) is not None


def test_the_schedule_is_consulted_on_every_request() -> None:
    moments = iter([MONDAY_10, MONDAY_10.replace(hour=3)])
    schedule = {"rules": [{"name": "r", "condition": "hour >= 9"}]}
    monkey = ChaosMonkey(chaos_config(fault(), schedule=schedule), now=lambda: next(moments))
    assert monkey.fault_for("openai", CHAT) is not None
    assert monkey.fault_for("openai", CHAT) is None


def test_a_bad_schedule_condition_is_refused_with_the_configuration() -> None:
    schedule = {"rules": [{"name": "typo", "condition": "hour >< 9"}]}
    with pytest.raises(ValidationError, match="unexpected token '<' at 6"):
        chaos_config(fault(), schedule=schedule)


# Safety stops.


def test_chaos_stops_after_max_duration(chaos_log: WarningLog) -> None:
    clock = FakeClock()
    monkey = monkey_for(chaos_config(fault(), safety={"max_duration": "30m"}), clock=clock)
    clock.now += 30 * 60 - 1
    assert monkey.fault_for("openai", CHAT) is not None
    clock.now += 1
    assert monkey.fault_for("openai", CHAT) is None
    assert monkey.fault_for("openai", CHAT) is None
    assert monkey.stopped_reason == "max_duration 30m reached"
    assert chaos_log.lines[1:] == ["chaos engineering stopped: max_duration 30m reached"]


def test_max_duration_shows_in_stats_without_a_request() -> None:
    clock = FakeClock()
    monkey = monkey_for(chaos_config(fault(), safety={"max_duration": "45s"}), clock=clock)
    clock.now += 45
    assert monkey.stats()["active"] is False


def test_auto_stop_when_the_failure_rate_passes_the_maximum(
    chaos_log: WarningLog,
) -> None:
    monitoring = {"max_failure_rate": 0.1, "auto_stop": True}
    monkey = monkey_for(chaos_config(fault(), monitoring=monitoring), window=10, min_samples=10)
    for success in [True] * 9 + [False]:
        monkey.record(success)
    assert monkey.is_active  # 10% is not past 10%.
    monkey.record(False)  # The window now holds 2 failures in 10.
    assert monkey.fault_for("openai", CHAT) is None
    assert monkey.stopped_reason == (
        "failure rate 20.0% over the last 10 requests passed max_failure_rate 10.0%"
    )
    for _ in range(5):
        monkey.record(False)
    stops = [line for line in chaos_log.lines if "stopped" in line]
    assert len(stops) == 1


def test_the_failure_rate_is_not_judged_before_min_samples() -> None:
    monkey = monkey_for(chaos_config(fault()), window=100, min_samples=20)
    for _ in range(19):
        monkey.record(False)
    assert monkey.is_active
    monkey.record(False)
    assert not monkey.is_active


def test_the_failure_rate_covers_a_sliding_window_of_recent_outcomes() -> None:
    monitoring = {"max_failure_rate": 1.0}
    monkey = monkey_for(chaos_config(fault(), monitoring=monitoring), window=4, min_samples=1)
    assert monkey.stats()["observed_failure_rate"] is None
    for success in [False, False, True, True]:
        monkey.record(success)
    assert monkey.failure_rate == 0.5
    monkey.record(True)
    monkey.record(True)
    assert monkey.failure_rate == 0.0


def test_without_auto_stop_a_high_failure_rate_is_alerted_once_per_excursion(
    chaos_log: WarningLog,
) -> None:
    monitoring = {"max_failure_rate": 0.5, "auto_stop": False, "alert_on_failure": True}
    monkey = monkey_for(chaos_config(fault(), monitoring=monitoring), window=2, min_samples=2)
    for success in [False, False, False, True, True, False, False]:
        monkey.record(success)
    alerts = [line for line in chaos_log.lines if "passed max_failure_rate" in line]
    assert len(alerts) == 2
    assert monkey.is_active


def test_disabled_monitoring_never_stops_chaos() -> None:
    monkey = monkey_for(chaos_config(fault(), monitoring={"enabled": False}), min_samples=1)
    for _ in range(200):
        monkey.record(False)
    assert monkey.is_active
    assert monkey.failure_rate is None


def test_reset_rearms_a_stopped_monkey() -> None:
    clock = FakeClock()
    monkey = monkey_for(chaos_config(fault(), safety={"max_duration": "1m"}), clock=clock)
    clock.now += 60
    assert not monkey.is_active
    monkey.reset()
    assert monkey.fault_for("openai", CHAT) is not None
    assert monkey.stopped_reason is None


def test_a_manual_stop_ends_injection() -> None:
    monkey = monkey_for(chaos_config(fault()))
    monkey.stop("operator asked")
    assert monkey.fault_for("openai", CHAT) is None
    assert monkey.stats()["stopped_reason"] == "operator asked"


# What each fault does.


async def test_a_delay_fault_sleeps_then_lets_the_request_proceed() -> None:
    sleep = RecordingSleep()
    monkey = monkey_for(chaos_config(), sleep=sleep)
    await monkey.apply(Fault(type="delay", duration_ms=250), "openai")  # Returns: no raise.
    assert sleep.calls == [0.25]


async def test_an_error_fault_raises_the_configured_upstream_status() -> None:
    monkey = monkey_for(chaos_config())
    error = Fault(type="error", error_code=502, error_message="Bad gateway, on purpose")
    with pytest.raises(UpstreamStatusError) as caught:
        await monkey.apply(error, "openai")
    assert caught.value.upstream_status == 502
    assert caught.value.http_status == 502
    assert caught.value.provider == "openai"
    assert caught.value.message == "Bad gateway, on purpose"
    assert caught.value.is_retryable


async def test_an_error_fault_defaults_to_a_retryable_503() -> None:
    monkey = monkey_for(chaos_config())
    built = Fault.from_config(ChaosFault(type="error", probability=1))
    with pytest.raises(UpstreamStatusError) as caught:
        await monkey.apply(built, "openai")
    assert caught.value.upstream_status == 503
    assert caught.value.is_retryable


async def test_a_rate_limit_fault_raises_rate_limited_with_retry_after_one_second() -> None:
    monkey = monkey_for(chaos_config())
    with pytest.raises(UpstreamRateLimited) as caught:
        await monkey.apply(Fault(type="rate_limit"), "anthropic")
    assert caught.value.retry_after == 1
    assert caught.value.headers() == {"Retry-After": "1"}
    assert caught.value.provider == "anthropic"


async def test_a_timeout_fault_waits_its_duration_then_raises_upstream_timeout() -> None:
    sleep = RecordingSleep()
    monkey = monkey_for(chaos_config(), sleep=sleep)
    with pytest.raises(UpstreamTimeout) as caught:
        await monkey.apply(Fault(type="timeout", duration_ms=5000), "openai")
    assert sleep.calls == [5.0]
    assert isinstance(caught.value, TimeoutError)
    assert caught.value.provider == "openai"


async def test_a_network_failure_fault_raises_a_connect_error_at_once() -> None:
    sleep = RecordingSleep()
    monkey = monkey_for(chaos_config(), sleep=sleep)
    with pytest.raises(UpstreamConnectError) as caught:
        await monkey.apply(Fault(type="network_failure"), "openai")
    assert isinstance(caught.value, ConnectionError)
    assert caught.value.provider == "openai"
    assert sleep.calls == []


async def test_real_sleeps_are_used_by_default() -> None:
    monkey = ChaosMonkey(chaos_config())
    loop = asyncio.get_running_loop()
    started = loop.time()
    await monkey.apply(Fault(type="delay", duration_ms=20), "openai")
    assert loop.time() - started >= 0.015


async def test_a_long_timeout_fault_is_cut_short_by_the_callers_deadline() -> None:
    monkey = ChaosMonkey(chaos_config())
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError) as caught:
        async with asyncio.timeout(0.02):
            await monkey.apply(Fault(type="timeout", duration_ms=60_000), "openai")
    assert not isinstance(caught.value, UpstreamTimeout)  # The deadline's, not the fault's.
    assert loop.time() - started < 1


def test_missing_durations_default_to_the_seed_examples() -> None:
    assert Fault.from_config(ChaosFault(type="delay", probability=1)).duration_ms == 500
    assert Fault.from_config(ChaosFault(type="timeout", probability=1)).duration_ms == 5000
    assert Fault.from_config(ChaosFault(type="network_failure", probability=1)).duration_ms == 0


def test_faults_are_frozen() -> None:
    built = Fault(type="delay")
    with pytest.raises(AttributeError):
        built.duration_ms = 1  # type: ignore[misc]


# Metrics.


async def test_stats_count_applied_faults_per_type() -> None:
    monkey = monkey_for(chaos_config())
    await monkey.apply(Fault(type="delay"), "openai")
    await monkey.apply(Fault(type="delay"), "openai")
    with pytest.raises(UpstreamConnectError):
        await monkey.apply(Fault(type="network_failure"), "openai")
    stats = monkey.stats()
    assert stats["injected"] == {
        "delay": 2,
        "error": 0,
        "rate_limit": 0,
        "timeout": 0,
        "network_failure": 1,
    }
    assert stats["injected_total"] == 3
    assert set(stats["injected"]) == set(FAULT_TYPES)


def test_stats_report_state_and_observed_failure_rate() -> None:
    monkey = monkey_for(chaos_config(fault()))
    monkey.record(True)
    monkey.record(False)
    stats = monkey.stats()
    assert stats["enabled"] is True
    assert stats["active"] is True
    assert stats["stopped_reason"] is None
    assert stats["observed_requests"] == 2
    assert stats["observed_failure_rate"] == 0.5


def test_the_seed_block_builds_a_monkey(chaos_log: WarningLog) -> None:
    config = chaos_config(
        fault("delay", 0.1, duration_ms=500, severity="medium"),
        fault("error", 0.05, error_code=503, error_message="Service temporarily unavailable"),
        fault("rate_limit", 0.03, target="anthropic"),
        fault("timeout", 0.08, duration_ms=5000),
        fault("network_failure", 0.02),
        schedule={
            "timezone": "UTC",
            "rules": [
                {"name": "business_hours_only", "condition": "hour >= 9 and hour <= 17"},
                {"name": "weekdays_only", "condition": "weekday >= 1 and weekday <= 5"},
                {"name": "low", "condition": "hour >= 2 and hour <= 6", "enabled": False},
            ],
        },
    )
    monkey = monkey_for(config)
    assert "schedule: business_hours_only, weekdays_only (UTC)" in chaos_log.lines[0]
    assert monkey.is_active


# Durations.


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1h", 3600), ("30m", 1800), ("45s", 45), ("250ms", 0.25), ("1d", 86400)],
)
def test_durations_parse_to_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "1", "h", "1.5h", "-1h", "1 hour"])
def test_malformed_durations_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="not a valid duration"):
        parse_duration(text)


def test_the_schedule_does_not_use_the_wall_clock_when_now_is_injected() -> None:
    # Sunday: outside weekdays_only, whatever the real date is.
    sunday = MONDAY_10 + timedelta(days=6)
    schedule = {"rules": [{"name": "weekdays", "condition": "weekday <= 5"}]}
    assert (
        monkey_for(chaos_config(fault(), schedule=schedule), now=sunday).fault_for("openai", CHAT)
        is None
    )


def test_an_excluded_root_spares_every_path() -> None:
    monkey = monkey_for(chaos_config(fault(), safety={"excluded_endpoints": ["/"]}))
    assert monkey.fault_for("openai", CHAT) is None


@pytest.mark.parametrize(("window", "min_samples"), [(10, 0), (10, 11), (0, 0)])
def test_an_impossible_failure_window_is_rejected(window: int, min_samples: int) -> None:
    with pytest.raises(ValueError, match="min_samples"):
        ChaosMonkey(chaos_config(), window=window, min_samples=min_samples)


def test_the_defaults_use_the_real_clock_and_time() -> None:
    schedule = {"rules": [{"name": "always", "condition": "weekday >= 1"}]}
    assert ChaosMonkey(chaos_config(fault(), schedule=schedule)).fault_for("x", CHAT) is not None
