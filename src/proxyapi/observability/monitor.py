"""A Gateway's background watch: gauges sampled, providers checked, alerts judged.

Three loops, each on its own interval from the config: ``metrics.collection``
samples what is a state rather than an event (memory, CPU, cache sizes), the
``health_check`` block probes providers, ``metrics.alerting`` judges the last
window's figures. None of them touches the request path.

With several workers, every worker samples its own gauges and checks its own
providers, but only one (the holder of a lock file in the metrics directory)
sends alerts: the figures it judges are every worker's, read from the shared
metrics, so one sender is enough and two would send everything twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING

import psutil

from proxyapi.observability.figures import Totals, read_totals, window_figures
from proxyapi.observability.health import HealthChecker
from proxyapi.observability.metrics import Metrics

if TYPE_CHECKING:
    from proxyapi.gateway import Gateway

logger = logging.getLogger("proxyapi.monitor")


class Monitor:
    """The background loops of one Gateway."""

    def __init__(self, gateway: Gateway, metrics: Metrics | None) -> None:
        self.gateway = gateway
        self.metrics = metrics
        config = gateway.config
        self.health = HealthChecker(config.health_check, gateway.candidates_by_name, metrics)
        self._process = psutil.Process()
        self._cpu_seen = self._cpu_now()
        self._tasks: list[asyncio.Task[None]] = []
        self._lock_file: IO[bytes] | None = None
        self._window: tuple[float, Totals] | None = None
        self._cpus = psutil.cpu_count() or 1

    async def start(self, previous: Monitor | None = None) -> None:
        """Start the loops; ``previous`` (a reload) hands over its alerting lock."""
        config = self.gateway.config
        if previous is not None and previous._lock_file is not None:
            self._lock_file, previous._lock_file = previous._lock_file, None
        if self.metrics is not None:
            self.sample()
            self._run(self.sample_async, float(config.metrics.collection.interval))
        checks = config.health_check
        if checks.enabled and checks.checks.providers and self.gateway.candidates_by_name:
            self._run(self.health.check_all, float(checks.interval))
        alerter = self.gateway.alerter
        if alerter is not None and self.metrics is not None and self._lead():
            await alerter.start()  # a no-op for an alerter already running
            self._run(self.judge, float(config.metrics.alerting.evaluation_interval))

    def _run(self, step: Callable[[], Awaitable[None]], every: float) -> None:
        self._tasks.append(asyncio.create_task(_every(every, step)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._lock_file is not None:
            self._lock_file.close()  # releases the lock: another worker may lead
            self._lock_file = None

    # -- gauges ------------------------------------------------------------------------

    def _cpu_now(self) -> float:
        times = self._process.cpu_times()
        return float(times.user + times.system)

    def sample(self) -> None:
        """Set this worker's gauges from what it holds now."""
        metrics = self.metrics
        if metrics is None:
            return
        metrics.memory.set(self._process.memory_info().rss)
        metrics.system_memory.set(psutil.virtual_memory().percent / 100)
        cpu = self._cpu_now()
        if cpu > self._cpu_seen:
            metrics.cpu.inc(cpu - self._cpu_seen)
        self._cpu_seen = cpu
        stats = self.gateway.cache.get_sync_stats()
        memory = stats.get("memory", {})
        metrics.cache_entries.labels("memory").set(memory.get("entries", 0))
        metrics.cache_bytes.labels("memory").set(memory.get("memory_usage_bytes", 0))
        l2 = stats.get("l2")
        if l2 is not None:
            layer = str(l2.get("backend", "l2"))
            if l2.get("entries") is not None:
                metrics.cache_entries.labels(layer).set(l2["entries"])
            if l2.get("disk_usage_bytes") is not None:
                metrics.cache_bytes.labels(layer).set(l2["disk_usage_bytes"])
        for name, candidate in self.gateway.candidates_by_name.items():
            metrics.record_breaker(name, candidate.breaker.state.value)

    async def sample_async(self) -> None:
        self.sample()

    # -- alerts ------------------------------------------------------------------------

    def _lead(self) -> bool:
        """Whether this process sends the alerts (always, with one worker)."""
        assert self.metrics is not None
        if self.metrics.shared_dir is None or self._lock_file is not None:
            return True
        handle = Path(self.metrics.shared_dir, "alerts.lock").open("ab")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            logger.debug("worker %d leaves alerting to another worker", os.getpid())
            return False
        self._lock_file = handle
        return True

    async def judge(self) -> None:
        """Hand the alerter the figures of the window since the last call."""
        assert self.metrics is not None and self.gateway.alerter is not None
        self.sample()
        now = time.monotonic()
        totals = read_totals(self.metrics.collect())
        if self._window is not None:
            then, before = self._window
            figures = window_figures(totals, before, now - then, self._cpus)
            self.gateway.alerter.evaluate(figures)
        self._window = (now, totals)
        for provider, state in totals.breakers.items():
            self.gateway.alerter.set_state(
                f"circuit_breaker_open:{provider}",
                firing=state >= 1,  # open or half-open: resolved once closed
                summary=f"circuit breaker of provider {provider} is open",
                severity="critical",
                details={"provider": provider},
            )


async def _every(seconds: float, step: Callable[[], Awaitable[None]]) -> None:
    """Run ``step`` every ``seconds`` until cancelled; a failing step is logged, not fatal."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("background step %s failed", getattr(step, "__name__", step))
