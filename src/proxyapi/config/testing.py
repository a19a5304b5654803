"""Blocks for testing the gateway under stress: load tests and chaos engineering."""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import Field, field_validator

from proxyapi.config._fields import Duration, Positive, Probability, Section

ReportFormat = Literal["json", "html", "csv"]


class LoadTier(Section):
    users: Positive
    duration: Duration
    ramp_up: Duration
    expected_rps: float = Field(ge=0)
    scenarios: list[str] = Field(default_factory=lambda: ["chat_completion"])


def _default_tiers() -> dict[str, LoadTier]:
    def tier(users: int, duration: str, ramp_up: str, rps: float, *names: str) -> LoadTier:
        return LoadTier(
            users=users, duration=duration, ramp_up=ramp_up, expected_rps=rps, scenarios=[*names]
        )

    return {
        "light": tier(30, "5m", "30s", 5, "chat_completion"),
        "medium": tier(100, "5m", "1m", 20, "chat_completion", "model_discovery"),
        "heavy": tier(400, "15m", "5m", 80, "chat_completion", "model_discovery", "summarization"),
        "extreme": tier(1000, "20m", "10m", 200, "all"),
    }


def _default_scenarios() -> dict[str, dict[str, Any]]:
    return {
        "chat_completion": {
            "weight": 70,
            "model": "gpt-3.5-turbo",
            "max_tokens": 100,
            "temperature": 0.7,
        },
        "model_discovery": {"weight": 20, "filters": {"provider": "openai", "supports_chat": True}},
        "summarization": {"weight": 10, "input_length": 4000, "max_tokens": 512},
    }


class LoadTestRun(Section):
    timeout: Positive = 30
    think_time: Duration = "1s"
    random_seed: int | None = 12345


class LoadTestReporting(Section):
    enabled: bool = True
    format: list[ReportFormat] = Field(default_factory=lambda: list(get_args(ReportFormat)))
    output_dir: str = "reports/load_tests"
    include_charts: bool = True
    include_raw_data: bool = True


class LoadTestingConfig(Section):
    """``proxyapi loadtest`` tiers and scenarios (``load_testing:``)."""

    enabled: bool = True
    tiers: dict[str, LoadTier] = Field(default_factory=_default_tiers)
    scenarios: dict[str, dict[str, Any]] = Field(
        default_factory=_default_scenarios, description="scenario name -> weight and parameters"
    )
    config: LoadTestRun = Field(default_factory=LoadTestRun)
    reporting: LoadTestReporting = Field(default_factory=LoadTestReporting)


class ChaosFault(Section):
    """One injected fault; ``target`` is a provider name or ``all``."""

    type: Literal["delay", "error", "rate_limit", "timeout", "network_failure"]
    severity: Literal["low", "medium", "high"] = "medium"
    probability: Probability
    duration_ms: int | None = Field(None, ge=0)
    error_code: int | None = Field(None, ge=100, le=599)
    error_message: str | None = None
    target: str = "all"


class ChaosRule(Section):
    name: str
    condition: str
    enabled: bool = True

    @field_validator("condition")
    @classmethod
    def _parses(cls, value: str) -> str:
        """A condition the schedule parser refuses is a config error, not a start-up crash."""
        # Imported here: the resilience package imports this config module.
        from proxyapi.resilience.schedule import ScheduleError, compile_condition

        try:
            compile_condition(value)
        except ScheduleError as exc:
            raise ValueError(str(exc)) from None
        return value


class ChaosSchedule(Section):
    enabled: bool = True
    timezone: str = "UTC"
    rules: list[ChaosRule] = Field(default_factory=list)


class ChaosMonitoring(Section):
    enabled: bool = True
    alert_on_failure: bool = True
    max_failure_rate: Probability = 0.1
    auto_stop: bool = True


class ChaosSafety(Section):
    enabled: bool = True
    max_duration: Duration = "1h"
    rollback_on_failure: bool = True
    excluded_endpoints: list[str] = Field(default_factory=lambda: ["/health", "/metrics"])


class ChaosEngineeringConfig(Section):
    """Fault injection for resilience tests (``chaos_engineering:``); off unless asked for."""

    enabled: bool = False
    faults: list[ChaosFault] = Field(default_factory=list)
    schedule: ChaosSchedule = Field(default_factory=ChaosSchedule)
    monitoring: ChaosMonitoring = Field(default_factory=ChaosMonitoring)
    safety: ChaosSafety = Field(default_factory=ChaosSafety)
