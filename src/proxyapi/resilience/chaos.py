"""Fault injection (``chaos_engineering:``): the faults the transport plays before a request.

The transport asks ``monkey.fault_for(provider, path)`` before each upstream
attempt and, when a fault comes back, awaits ``monkey.apply(fault, provider)``
in place of (delay: before) the real call. Injected failures are raised as the
same UpstreamError classes real failures map to, so they exercise the real
retry, breaker and fallback code.

Deciding a request, in order:

1. chaos is off unless ``enabled``, and stays off once stopped;
2. paths under ``safety.excluded_endpoints`` never get a fault;
3. ``safety.max_duration`` after the monkey was built, chaos stops;
4. the schedule must allow the current time (see ``schedule``);
5. each fault whose ``target`` is ``all`` or this provider fires with its
   ``probability``, drawn independently in config order; the first that fires
   wins, so a request gets at most one fault.

``safety.enabled: false`` lifts both the exclusions and max_duration.
``record(success)`` feeds a sliding window of outcomes; when ``monitoring`` is on
and the failure rate passes ``max_failure_rate``, chaos stops for good if
``auto_stop`` is set (one WARNING), otherwise ``alert_on_failure`` logs a WARNING
once per excursion.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, TypedDict, get_args

from proxyapi.config.testing import ChaosEngineeringConfig, ChaosFault
from proxyapi.errors import (
    UpstreamConnectError,
    UpstreamRateLimited,
    UpstreamStatusError,
    UpstreamTimeout,
)
from proxyapi.resilience.schedule import Schedule

logger = logging.getLogger("proxyapi.resilience.chaos")

FaultType = Literal["delay", "error", "rate_limit", "timeout", "network_failure"]
FAULT_TYPES: tuple[FaultType, ...] = get_args(FaultType)

# The seed's own examples, used when a delay or timeout fault names no duration_ms.
DEFAULT_DURATION_MS: dict[str, int] = {"delay": 500, "timeout": 5000}
DEFAULT_ERROR_CODE = 503
DEFAULT_ERROR_MESSAGE = "Service temporarily unavailable"
RATE_LIMIT_RETRY_AFTER = 1.0
_INJECTED = "injected by chaos engineering"

_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``1h``, ``30m``, ``45s`` or ``250ms``."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a valid duration (use e.g. 45s, 30m, 1h)")
    return int(match[1]) * _UNIT_SECONDS[match[2]]


@dataclass(frozen=True, slots=True)
class Fault:
    """What to do to one request; built from a ``faults`` entry with defaults filled in."""

    type: FaultType
    duration_ms: int = 0
    error_code: int = DEFAULT_ERROR_CODE
    error_message: str = DEFAULT_ERROR_MESSAGE

    @classmethod
    def from_config(cls, config: ChaosFault) -> Fault:
        duration = config.duration_ms
        return cls(
            type=config.type,
            duration_ms=DEFAULT_DURATION_MS.get(config.type, 0) if duration is None else duration,
            error_code=DEFAULT_ERROR_CODE if config.error_code is None else config.error_code,
            error_message=config.error_message or DEFAULT_ERROR_MESSAGE,
        )


@dataclass(frozen=True, slots=True)
class _ArmedFault:
    fault: Fault
    target: str  # a provider name, or "all"
    probability: float


class ChaosStats(TypedDict):
    enabled: bool
    active: bool
    stopped_reason: str | None
    injected: dict[str, int]  # fault type -> faults applied
    injected_total: int
    observed_requests: int  # outcomes in the sliding window
    observed_failure_rate: float | None


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ChaosMonkey:
    """The runtime of one ``chaos_engineering`` block; one per gateway.

    ``clock`` (monotonic seconds) times max_duration, ``now`` feeds the schedule,
    ``rng`` draws the probabilities and ``sleep`` performs delays: all injectable
    for tests. ``window`` outcomes are kept for the failure rate, which is not
    judged before ``min_samples`` of them.
    """

    def __init__(
        self,
        config: ChaosEngineeringConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        now: Callable[[], datetime] = _utc_now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        window: int = 100,
        min_samples: int = 20,
    ) -> None:
        if not 1 <= min_samples <= window:
            raise ValueError("need 1 <= min_samples <= window")
        self.config = config
        self._clock = clock
        self._rng = rng or random.Random()
        self._now = now
        self._sleep = sleep
        self._min_samples = min_samples
        self._faults = [
            _ArmedFault(Fault.from_config(entry), entry.target, entry.probability)
            for entry in config.faults
        ]
        self._schedule = Schedule.from_config(config.schedule)
        safety = config.safety
        self._excluded = tuple(safety.excluded_endpoints) if safety.enabled else ()
        self._excluded_bases = tuple(prefix.rstrip("/") for prefix in self._excluded)
        self._max_duration = parse_duration(safety.max_duration) if safety.enabled else None
        self._outcomes: deque[bool] = deque(maxlen=window)
        self._injected: dict[str, int] = dict.fromkeys(FAULT_TYPES, 0)
        self._started = clock()
        self._stopped_reason: str | None = None
        self._alerted = False
        if config.enabled:
            logger.warning("chaos engineering is ON: %s", self.describe())

    @property
    def is_active(self) -> bool:
        """Whether faults may still be injected (enabled, not stopped, within max_duration)."""
        if not self.config.enabled or self._stopped_reason is not None:
            return False
        if self._max_duration is not None and self._clock() - self._started >= self._max_duration:
            self.stop(f"max_duration {self.config.safety.max_duration} reached")
            return False
        return True

    @property
    def stopped_reason(self) -> str | None:
        return self._stopped_reason

    def describe(self) -> str:
        """One line on what this monkey will do, for the startup log."""
        faults = ", ".join(
            f"{armed.fault.type} {armed.probability:.0%} -> {armed.target}"
            for armed in self._faults
        )
        rules = ", ".join(name for name, _ in self._schedule.conditions) or "always"
        monitoring = self.config.monitoring
        max_duration = "none" if self._max_duration is None else self.config.safety.max_duration
        parts = [
            f"{len(self._faults)} faults ({faults or 'none'})",
            f"schedule: {rules} ({self._schedule.timezone.key})",
            f"max_duration: {max_duration}",
            f"excluded: {', '.join(self._excluded) or 'none'}",
        ]
        if monitoring.enabled and monitoring.auto_stop:
            parts.append(f"auto_stop above {monitoring.max_failure_rate:.0%} failures")
        return "; ".join(parts)

    def fault_for(self, provider: str, path: str) -> Fault | None:
        """The fault to inject into this request to ``provider`` for client ``path``, if any."""
        if not self.is_active or self._is_excluded(path):
            return None
        if not self._schedule.allows(self._now()):
            return None
        for armed in self._faults:
            if armed.target in ("all", provider) and self._rng.random() < armed.probability:
                return armed.fault
        return None

    def _is_excluded(self, path: str) -> bool:
        # Prefixes match whole segments: "/health" covers "/health/live", not "/healthz".
        path = path.rstrip("/")
        return any(path == base or path.startswith(base + "/") for base in self._excluded_bases)

    async def apply(self, fault: Fault, provider: str) -> None:
        """Perform ``fault`` as the transport would see it: return (delay) or raise."""
        self._injected[fault.type] += 1
        seconds = fault.duration_ms / 1000
        if fault.type == "delay":
            await self._sleep(seconds)
        elif fault.type == "error":
            raise UpstreamStatusError(
                fault.error_message, provider=provider, upstream_status=fault.error_code
            )
        elif fault.type == "rate_limit":
            raise UpstreamRateLimited(
                f"Rate limit exceeded ({_INJECTED})",
                provider=provider,
                upstream_status=429,
                retry_after=RATE_LIMIT_RETRY_AFTER,
            )
        elif fault.type == "timeout":
            await self._sleep(seconds)
            raise UpstreamTimeout(
                f"Provider '{provider}' did not answer within {fault.duration_ms} ms ({_INJECTED})",
                provider=provider,
            )
        else:
            raise UpstreamConnectError(
                f"Could not connect to provider '{provider}' ({_INJECTED})", provider=provider
            )

    def record(self, success: bool) -> None:
        """Count one client-visible outcome toward the failure rate (a no-op when inactive)."""
        monitoring = self.config.monitoring
        if not monitoring.enabled or not self.is_active:
            return
        self._outcomes.append(success)
        rate = self.failure_rate
        if rate is None or len(self._outcomes) < self._min_samples:
            return
        if rate <= monitoring.max_failure_rate:
            self._alerted = False
            return
        summary = (
            f"failure rate {rate:.1%} over the last {len(self._outcomes)} requests "
            f"passed max_failure_rate {monitoring.max_failure_rate:.1%}"
        )
        if monitoring.auto_stop:
            self.stop(summary)
        elif monitoring.alert_on_failure and not self._alerted:
            self._alerted = True
            logger.warning("chaos engineering: %s", summary)

    @property
    def failure_rate(self) -> float | None:
        """Failures among the recorded outcomes in the window, or None before any."""
        if not self._outcomes:
            return None
        return self._outcomes.count(False) / len(self._outcomes)

    def stop(self, reason: str) -> None:
        """Stop injecting faults until ``reset()``; logged once."""
        if self._stopped_reason is None:
            self._stopped_reason = reason
            logger.warning("chaos engineering stopped: %s", reason)

    def reset(self) -> None:
        """Re-arm after a stop: forget the outcomes and start max_duration again."""
        self._stopped_reason = None
        self._alerted = False
        self._outcomes.clear()
        self._started = self._clock()

    def stats(self) -> ChaosStats:
        return {
            "enabled": self.config.enabled,
            "active": self.is_active,
            "stopped_reason": self._stopped_reason,
            "injected": dict(self._injected),
            "injected_total": sum(self._injected.values()),
            "observed_requests": len(self._outcomes),
            "observed_failure_rate": self.failure_rate,
        }
