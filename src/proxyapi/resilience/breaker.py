"""A circuit breaker per provider: stop calling a provider that keeps failing.

```
            failure_threshold consecutive failures
  CLOSED ──────────────────────────────────────────► OPEN
    ▲                                                │  ▲
    │ a trial call succeeds      recovery_timeout    │  │ a trial call fails
    │                            has passed          ▼  │ (timer restarts)
    └──────────────────────────────────────────── HALF_OPEN
                       admits half_open_max_calls trial calls at a time
```

The breaker only keeps score; the caller decides what counts. It calls
``record_failure()`` only for an upstream failure that says something about the
provider's health, i.e. a retryable ``UpstreamError`` (timeouts, connection
errors, 5xx, 429). A client's mistake (400, context length exceeded) never
reaches the breaker, so one bad request cannot take a provider out of rotation.

Protocol for one call::

    if not breaker.allows():
        ...                        # skip this provider, try the next one
    try:
        response = await call()
    except UpstreamError as exc:
        if exc.is_retryable:
            breaker.record_failure()
        else:
            breaker.release()      # no verdict on the provider's health
        raise
    except BaseException:          # cancelled, deadline hit on our side, ...
        breaker.release()
        raise
    breaker.record_success()

Every ``allows()`` that returned True must be followed by exactly one of
``record_success()``, ``record_failure()`` or ``release()``: in the half-open
state ``allows()`` reserves one of the trial slots and only these free it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from proxyapi.config.traffic import CircuitBreakerConfig

Clock = Callable[[], float]


class BreakerState(Enum):
    # Calls pass; consecutive failures are counted.
    CLOSED = "closed"
    # Calls are rejected at once until recovery_timeout has passed.
    OPEN = "open"
    # A few trial calls pass; the first verdict closes or reopens the breaker.
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    """The resolved settings of one provider's breaker."""

    enabled: bool = True
    failure_threshold: int = 5
    recovery_timeout: float = 60.0
    half_open_max_calls: int = 3


def breaker_settings_for(provider_name: str, config: CircuitBreakerConfig) -> BreakerSettings:
    """The global ``circuit_breaker`` block with ``providers.<name>`` fields laid over it."""
    override = config.providers.get(provider_name)

    def pick(name: str) -> Any:
        value = getattr(override, name, None) if override is not None else None
        return getattr(config, name) if value is None else value

    return BreakerSettings(
        enabled=config.enabled,
        failure_threshold=int(pick("failure_threshold")),
        recovery_timeout=float(pick("recovery_timeout")),
        half_open_max_calls=int(pick("half_open_max_calls")),
    )


_TRANSITIONS = ("closed->open", "open->half_open", "half_open->closed", "half_open->open")


class CircuitBreaker:
    """The breaker of one provider; not thread-safe, meant for one event loop.

    ``clock`` drives the recovery timer (monotonic seconds); ``wall_clock`` only
    stamps the exported times (``opened_at``, ``last_transition.at``).
    """

    def __init__(
        self,
        provider: str,
        settings: BreakerSettings | None = None,
        *,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
    ) -> None:
        self.provider = provider
        self.settings = settings if settings is not None else BreakerSettings()
        self._clock = clock
        self._wall_clock = wall_clock
        self._state = BreakerState.CLOSED
        self._consecutive_failures = 0
        self._opened_at: float | None = None  # by `clock`, for the timer
        self._opened_at_wall: float | None = None  # by `wall_clock`, for export
        self._trials_in_flight = 0
        self.times_opened = 0
        self.transitions: dict[str, int] = dict.fromkeys(_TRANSITIONS, 0)
        self.last_transition: dict[str, Any] | None = None
        # Told of every state change (provider, new state): the metrics' gauge.
        self.on_change: Callable[[str, str], None] | None = None

    @property
    def state(self) -> BreakerState:
        """The current state, moving to half-open first if the recovery timer has run out."""
        self._check_recovery()
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._consecutive_failures

    def allows(self) -> bool:
        """Whether a call may go to the provider now (reserves a trial slot when half-open)."""
        if not self.settings.enabled:
            return True
        self._check_recovery()
        if self._state is BreakerState.CLOSED:
            return True
        if self._state is BreakerState.OPEN:
            return False
        if self._trials_in_flight >= self.settings.half_open_max_calls:
            return False
        self._trials_in_flight += 1
        return True

    def record_success(self) -> None:
        """The provider answered: a trial closes the breaker; closed, the count restarts.

        A late success while open (a call admitted before the breaker tripped) is
        ignored: the recovery timer decides when the provider is tried again.
        """
        if self._state is BreakerState.OPEN:
            return
        self._consecutive_failures = 0
        if self._state is BreakerState.HALF_OPEN:
            self._move(BreakerState.CLOSED, "trial_succeeded")

    def record_failure(self) -> None:
        """The provider failed (a retryable upstream error): count it, open if due."""
        self._consecutive_failures += 1
        if not self.settings.enabled:
            return
        if self._state is BreakerState.HALF_OPEN:
            self._move(BreakerState.OPEN, "trial_failed")
        elif (
            self._state is BreakerState.CLOSED
            and self._consecutive_failures >= self.settings.failure_threshold
        ):
            self._move(BreakerState.OPEN, "failure_threshold")

    def release(self) -> None:
        """A call ended with no verdict on the provider (cancelled, client error): free its slot."""
        if self._state is BreakerState.HALF_OPEN and self._trials_in_flight > 0:
            self._trials_in_flight -= 1

    def reset(self) -> None:
        """Close the breaker and forget the failures; the counters of the past stay."""
        self._consecutive_failures = 0
        if self._state is not BreakerState.CLOSED:
            self._move(BreakerState.CLOSED, "reset")

    def snapshot(self) -> dict[str, Any]:
        """The exported state (``/v1/metrics``, ``/debug/circuit-breakers``)."""
        state = self.state
        return {
            "state": state.value,
            "enabled": self.settings.enabled,
            "consecutive_failures": self._consecutive_failures,
            "failure_threshold": self.settings.failure_threshold,
            "recovery_timeout": self.settings.recovery_timeout,
            "half_open_max_calls": self.settings.half_open_max_calls,
            "opened_at": self._opened_at_wall if state is not BreakerState.CLOSED else None,
            "times_opened": self.times_opened,
            "transitions": dict(self.transitions),
            "last_transition": dict(self.last_transition) if self.last_transition else None,
        }

    def _check_recovery(self) -> None:
        if (
            self._state is BreakerState.OPEN
            and self._opened_at is not None
            and self._clock() - self._opened_at >= self.settings.recovery_timeout
        ):
            self._move(BreakerState.HALF_OPEN, "recovery_timeout")

    def _move(self, to: BreakerState, reason: str) -> None:
        key = f"{self._state.value}->{to.value}"
        self.transitions[key] = self.transitions.get(key, 0) + 1
        self.last_transition = {
            "from": self._state.value,
            "to": to.value,
            "reason": reason,
            "at": self._wall_clock(),
        }
        self._state = to
        self._trials_in_flight = 0
        if to is BreakerState.OPEN:
            self.times_opened += 1
            self._opened_at = self._clock()
            self._opened_at_wall = self.last_transition["at"]
        elif to is BreakerState.CLOSED:
            self._opened_at = self._opened_at_wall = None
        if self.on_change is not None:
            self.on_change(self.provider, to.value)
