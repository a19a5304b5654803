"""Retry strategies per provider (``retry_strategy``, ``retry_config``) and their counters.

A policy answers one question after a failed attempt: wait how long and try the
same provider again, or give up (``None``) so the caller moves on to the next
provider. The caller owns the loop, the sleeping and the request deadline::

    for attempt in range(policy.max_attempts):        # attempt 0 is the first call
        stats.record_attempt(attempt)
        try:
            response = await call()
        except UpstreamError as exc:
            if exc.is_retryable:                       # a verdict on the provider
                policy.record(False)
                stats.record_failure()
            delay = policy.next_delay(attempt, exc)
            if delay is None or delay > deadline_left():
                raise                                  # fall back to the next provider
            await asyncio.sleep(delay)
            continue
        policy.record(True)
        stats.record_success(attempt)
        return response

Rules shared by every strategy:

- ``attempt`` counts from 0 (the first call); after attempt ``max_attempts - 1``
  there is no retry.
- Never retried: errors that cannot succeed (``not error.is_retryable``: 4xx
  status errors, ``ContextLengthExceeded``) and ``UpstreamAuthError`` (the same
  key would be refused again; another provider may accept its own).
- ``error.retry_after`` (``Retry-After`` or a provider reset header) is a floor:
  never retry sooner than the upstream asked. When it asks for longer than
  ``max_delay`` the policy gives up, so the caller falls back instead of waiting.
- A response that has started streaming to the client is never retried; that
  is the caller's to enforce (it must not call ``next_delay`` then).

Strategies:

- ``exponential_backoff``: full jitter, ``uniform(0, min(max_delay, base_delay * 2**attempt))``.
- ``immediate_retry``: a connection error (reset, refused: ``UpstreamConnectError``)
  on the first attempt is retried at once; everything else backs off as above.
- ``adaptive``: follows the provider's success rate over its last ``window``
  (default 20) attempt outcomes, fed by ``record(success)``. Until ``min_samples``
  (default 5) outcomes are known the provider counts as healthy. Then, with
  ``rate`` = successes / outcomes in the window:

  ============  ===============================  ===================================
  rate          attempts                         delay cap before jitter
  ============  ===============================  ===================================
  >= 0.9        ``max_attempts``                 ``base_delay * 2**attempt``
  0.5 .. 0.9    ``max_attempts``                 ``base_delay * 2**attempt / rate``
  < 0.5         1 (no retry: fall back fast)     --
  ============  ===============================  ===================================

  The cap is still bounded by ``max_delay``. A provider below 0.5 still gets
  first attempts, so its outcomes keep arriving and the rate can recover.
  Only outcomes that say something about the provider belong in the window:
  successes and retryable upstream failures, not a client's 400.
"""

from __future__ import annotations

import random
from collections import deque
from typing import Final, TypeGuard

from proxyapi.config.models import HttpClientConfig
from proxyapi.config.provider import ProviderConfig, RetryConfig
from proxyapi.errors import UpstreamAuthError, UpstreamConnectError, UpstreamError

# The ceiling on one wait when a provider has no retry_config.
DEFAULT_MAX_DELAY: Final = 30.0


class RetryPolicy:
    """``exponential_backoff``: full jitter, capped at ``max_delay``."""

    strategy = "exponential_backoff"

    def __init__(
        self,
        max_attempts: int = 3,
        base_delay: float = 1.0,
        max_delay: float = DEFAULT_MAX_DELAY,
        *,
        rng: random.Random | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.configured_max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._rng = rng if rng is not None else random.Random()

    @property
    def max_attempts(self) -> int:
        """Attempts on this provider for one request, the first call included."""
        return self.configured_max_attempts

    def next_delay(self, attempt: int, error: UpstreamError) -> float | None:
        """Seconds to wait before retrying after ``attempt`` (0-based) failed, or None."""
        if attempt + 1 >= self.max_attempts or not can_succeed_on_retry(error):
            return None
        floor = error.retry_after or 0.0
        if floor > self.max_delay:
            return None
        return max(self._backoff(attempt, error), floor)

    def record(self, success: bool) -> None:
        """One attempt's outcome; only the adaptive strategy uses it."""

    def _backoff(self, attempt: int, error: UpstreamError) -> float:
        return self._jitter(self._exponential(attempt))

    def _exponential(self, attempt: int) -> float:
        # 2**60 is past any max_delay; a larger exponent only risks float overflow.
        return self.base_delay * float(2 ** min(attempt, 60))

    def _jitter(self, cap: float) -> float:
        return self._rng.uniform(0.0, min(self.max_delay, cap))


class ImmediateRetryPolicy(RetryPolicy):
    """``immediate_retry``: a first-attempt connection error is retried at once."""

    strategy = "immediate_retry"

    def _backoff(self, attempt: int, error: UpstreamError) -> float:
        if attempt == 0 and isinstance(error, UpstreamConnectError):
            return 0.0
        return super()._backoff(attempt, error)


class AdaptiveRetryPolicy(RetryPolicy):
    """``adaptive``: attempts and delays follow the recent success rate (module docstring)."""

    strategy = "adaptive"
    healthy_rate: Final = 0.9
    failing_rate: Final = 0.5

    def __init__(
        self,
        max_attempts: int = 3,
        base_delay: float = 1.0,
        max_delay: float = DEFAULT_MAX_DELAY,
        *,
        rng: random.Random | None = None,
        window: int = 20,
        min_samples: int = 5,
    ) -> None:
        super().__init__(max_attempts, base_delay, max_delay, rng=rng)
        if not 1 <= min_samples <= window:
            raise ValueError("min_samples must be between 1 and window")
        self.min_samples = min_samples
        self._outcomes: deque[bool] = deque(maxlen=window)

    @property
    def success_rate(self) -> float:
        """Successes over the window; 1.0 until ``min_samples`` outcomes are known."""
        if len(self._outcomes) < self.min_samples:
            return 1.0
        return sum(self._outcomes) / len(self._outcomes)

    @property
    def max_attempts(self) -> int:
        if self.success_rate < self.failing_rate:
            return 1
        return self.configured_max_attempts

    def record(self, success: bool) -> None:
        self._outcomes.append(success)

    def _backoff(self, attempt: int, error: UpstreamError) -> float:
        cap = self._exponential(attempt)
        rate = self.success_rate
        if rate < self.healthy_rate:
            cap /= rate
        return self._jitter(cap)


def can_succeed_on_retry(error: UpstreamError) -> bool:
    """Whether calling the same provider again could give another answer."""
    return error.is_retryable and not isinstance(error, UpstreamAuthError)


_POLICIES: Final[dict[str, type[RetryPolicy]]] = {
    policy.strategy: policy for policy in (RetryPolicy, ImmediateRetryPolicy, AdaptiveRetryPolicy)
}


def retry_policy_for(
    provider: ProviderConfig,
    http_client: HttpClientConfig,
    *,
    rng: random.Random | None = None,
) -> RetryPolicy:
    """The policy a provider's config asks for.

    Each value comes from the first place that sets it:

    - strategy: ``retry_strategy``, else ``exponential_backoff``;
    - attempts: ``retry_config.max_attempts`` (counts attempts), else
      ``retry_attempts + 1`` (``retry_attempts`` counts *retries*; when the
      provider omits it, ``http_client.retry_attempts``);
    - base delay: ``retry_config.base_delay``, else ``retry_delay``;
    - max delay: ``retry_config.max_delay`` (60 when the block is there without
      it, as documented for ``retry_config``), else ``DEFAULT_MAX_DELAY`` (30).

    ``http_client.retry_backoff_factor`` is not used: ``retry_delay`` is the base.
    """
    config = provider.retry_config
    retries = http_client.retry_attempts
    if "retry_attempts" in provider.model_fields_set:
        retries = provider.retry_attempts
    policy = _POLICIES[provider.retry_strategy or "exponential_backoff"]
    return policy(
        max_attempts=config.max_attempts if _sets(config, "max_attempts") else retries + 1,
        base_delay=config.base_delay if _sets(config, "base_delay") else provider.retry_delay,
        max_delay=config.max_delay if config is not None else DEFAULT_MAX_DELAY,
        rng=rng,
    )


def _sets(config: RetryConfig | None, field: str) -> TypeGuard[RetryConfig]:
    return config is not None and field in config.model_fields_set


class RetryStats:
    """Retry counters of one provider (``/v1/metrics``, seed names)."""

    def __init__(self) -> None:
        self.attempts = 0
        self.retries = 0
        self.successes = 0
        self.failures = 0
        self.successes_after_retry = 0
        self.consecutive_failures = 0

    @property
    def success_rate(self) -> float:
        """Successful attempts over attempts with an outcome; 1.0 before any."""
        finished = self.successes + self.failures
        return self.successes / finished if finished else 1.0

    def record_attempt(self, attempt: int) -> None:
        """A call is about to go out; ``attempt`` > 0 makes it a retry."""
        self.attempts += 1
        if attempt > 0:
            self.retries += 1

    def record_success(self, attempt: int) -> None:
        self.successes += 1
        self.consecutive_failures = 0
        if attempt > 0:
            self.successes_after_retry += 1

    def record_failure(self) -> None:
        self.failures += 1
        self.consecutive_failures += 1

    def as_dict(self) -> dict[str, float]:
        return {
            "attempts": self.attempts,
            "retries": self.retries,
            "successes_after_retry": self.successes_after_retry,
            "consecutive_failures": self.consecutive_failures,
            "success_rate": round(self.success_rate, 4),
        }
