"""Retries and circuit breakers: how the gateway treats a provider that fails."""

from __future__ import annotations

from proxyapi.resilience.breaker import (
    BreakerSettings,
    BreakerState,
    CircuitBreaker,
    breaker_settings_for,
)
from proxyapi.resilience.retry import (
    DEFAULT_MAX_DELAY,
    AdaptiveRetryPolicy,
    ImmediateRetryPolicy,
    RetryPolicy,
    RetryStats,
    can_succeed_on_retry,
    retry_policy_for,
)

__all__ = [
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
