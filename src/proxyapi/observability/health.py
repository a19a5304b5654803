"""Background provider health checks, driven by the ``health_check`` block.

Every ``interval`` seconds each usable provider is asked for its model list
(the cheapest authenticated call every API has), within ``timeout``. After
``unhealthy_threshold`` failures in a row it is unhealthy; one success makes
it healthy again. The verdict feeds ``/health``, ``provider_status`` and the
alerts; routing is left to the circuit breakers, which judge real traffic.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from proxyapi.config.observability import HealthCheckConfig
from proxyapi.errors import UpstreamError
from proxyapi.observability.metrics import Metrics

if TYPE_CHECKING:
    from proxyapi.gateway import Candidate

logger = logging.getLogger("proxyapi.health")


@dataclass(slots=True)
class ProviderHealth:
    """What the checks know of one provider."""

    healthy: bool = True
    checked: bool = False
    consecutive_failures: int = 0
    checks: int = 0
    last_checked: float | None = None  # wall clock
    last_error: str | None = None
    last_latency_ms: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy,
            "checked": self.checked,
            "consecutive_failures": self.consecutive_failures,
            "checks": self.checks,
            "last_checked": self.last_checked,
            "last_error": self.last_error,
            "last_latency_ms": self.last_latency_ms,
        }


class HealthChecker:
    """The providers' health, refreshed by ``check_all`` (called by the monitor's loop)."""

    def __init__(
        self,
        settings: HealthCheckConfig,
        candidates: dict[str, Candidate],
        metrics: Metrics | None,
    ) -> None:
        self.settings = settings
        self.candidates = candidates
        self.metrics = metrics
        self.states = {name: ProviderHealth() for name in candidates}
        if metrics is not None:
            for name in candidates:
                metrics.provider_status.labels(name).set(1)

    @property
    def healthy(self) -> list[str]:
        return [name for name, state in self.states.items() if state.healthy]

    async def check_all(self) -> None:
        await asyncio.gather(*(self.check(name) for name in self.candidates))

    async def check(self, name: str) -> None:
        candidate = self.candidates[name]
        request = candidate.adapter.build_models(candidate.deployment)
        if request is None:
            return  # nothing cheap to ask: the breaker's view of real traffic stands
        state = self.states[name]
        started = time.perf_counter()
        error = await self._probe(candidate, request)
        state.checks += 1
        state.checked = True
        state.last_checked = time.time()
        state.last_latency_ms = round((time.perf_counter() - started) * 1000, 2)
        state.last_error = error
        if error is None:
            if not state.healthy:
                logger.warning("provider %s is healthy again", name)
            state.consecutive_failures = 0
            state.healthy = True
        else:
            state.consecutive_failures += 1
            if state.healthy and state.consecutive_failures >= self.settings.unhealthy_threshold:
                state.healthy = False
                logger.warning(
                    "provider %s is unhealthy: %d failed checks in a row (%s)",
                    name,
                    state.consecutive_failures,
                    error,
                )
        if self.metrics is not None:
            self.metrics.health_checks.labels(name, "success" if error is None else "failure").inc()
            self.metrics.provider_status.labels(name).set(1 if state.healthy else 0)

    async def _probe(self, candidate: Candidate, request: Any) -> str | None:
        """None when the provider answered sanely, else what went wrong."""
        try:
            response = await candidate.client.open(request, seconds=self.settings.timeout)
            async with response:
                await response.read()
        except UpstreamError as exc:
            return exc.code or type(exc).__name__
        except (OSError, TimeoutError) as exc:
            return type(exc).__name__
        # 429 means alive and busy; any other failure status means not usable.
        if response.status < 400 or response.status == 429:
            return None
        return f"HTTP {response.status}"

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return {name: state.as_dict() for name, state in self.states.items()}
