"""The gateway's Prometheus metrics: names and labels from seeds 003 and 004.

One ``Metrics`` per process, outliving any Gateway (a config reload must not
reset counters). With several workers, prometheus-client's multiprocess mode
keeps every value in a memory-mapped file under ``PROMETHEUS_MULTIPROC_DIR``,
and a scrape of any worker adds up all of them (``collect``). The directory
must be set before prometheus-client is first imported: ``proxyapi serve``
does that before it starts the workers.

The request path calls the ``record_*`` methods. Each caches its labelled
children in a dict, so a hot call is a dict lookup and an increment, never
prometheus-client's locked ``labels()`` lookup.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from typing import Any, Final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics_core import Metric

from proxyapi.observability.handlers import LoopFlush

# No ``*_created`` series: nothing here reads them, and each is one more line per child.
disable_created_metrics()  # type: ignore[no-untyped-call]

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"

LATENCY_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0
)  # fmt: skip
FIRST_TOKEN_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)

BREAKER_STATES: Final = {"closed": 0, "half_open": 1, "open": 2}

# Upstream outcomes in proxy_api_provider_requests_total{status}.
SUCCESS: Final = "success"
ERROR: Final = "error"
TIMEOUT: Final = "timeout"
RATE_LIMITED: Final = "rate_limited"
CLIENT_ERROR: Final = "client_error"  # the provider refused the request itself (4xx)


def multiprocess_dir() -> str | None:
    """The multiprocess directory when several workers share the metrics, else None."""
    return os.environ.get(MULTIPROC_ENV) or None


class Metrics:
    """Every metric the gateway exports, and the cheap calls that update them."""

    def __init__(self, version: str) -> None:
        self.shared_dir = multiprocess_dir()
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "proxy_api_requests_total",
            "Requests answered, by route template and status code.",
            ["method", "endpoint", "status_code"],
            registry=r,
        )
        self.request_duration = Histogram(
            "proxy_api_request_duration_seconds",
            "Time from a request's arrival to its last byte, streams included.",
            ["method", "endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "proxy_api_requests_in_flight",
            "Requests being answered now.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.provider_requests = Counter(
            "proxy_api_provider_requests_total",
            "Upstream calls (each retry and fallback is one), by outcome.",
            ["provider", "model", "status"],
            registry=r,
        )
        self.provider_latency = Histogram(
            "proxy_api_provider_latency_seconds",
            "Duration of upstream calls (to the first chunk for streams).",
            ["provider", "model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.first_token = Histogram(
            "proxy_api_time_to_first_token_seconds",
            "Time from a streaming request's arrival to its first chunk.",
            ["provider", "model"],
            buckets=FIRST_TOKEN_BUCKETS,
            registry=r,
        )
        self.retries = Counter(
            "proxy_api_provider_retries_total",
            "Upstream calls that were retries of a failed call to the same provider.",
            ["provider"],
            registry=r,
        )
        self.fallbacks = Counter(
            "proxy_api_fallbacks_total",
            "Requests that gave up on a provider and moved on to the next candidate.",
            ["provider", "model"],
            registry=r,
        )
        self.content_filter = Counter(
            "proxy_api_content_filter_total",
            "Content filter matches, by rule, action (block, redact, flag) and direction.",
            ["rule", "action", "direction"],
            registry=r,
        )
        self.rate_limited = Counter(
            "proxy_api_rate_limit_rejections_total",
            "Requests refused by a rate limit or an address list, by scope.",
            ["scope"],
            registry=r,
        )
        self.auth_failures = Counter(
            "proxy_api_auth_failures_total",
            "Requests refused for a missing or wrong API key.",
            registry=r,
        )
        self.breaker_state = Gauge(
            "proxy_api_circuit_breaker_state",
            "Circuit breaker per provider: 0 closed, 1 half-open, 2 open (worst worker).",
            ["provider"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self.cache_hits = Counter(
            "proxy_api_cache_hits_total", "Cache hits.", ["cache_type"], registry=r
        )
        self.cache_misses = Counter(
            "proxy_api_cache_misses_total", "Cache misses.", ["cache_type"], registry=r
        )
        self.cache_entries = Gauge(
            "proxy_api_cache_entries",
            "Entries per cache layer (memory: the largest worker's).",
            ["layer"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self.cache_bytes = Gauge(
            "proxy_api_cache_size_bytes",
            "Bytes per cache layer (memory: the largest worker's).",
            ["layer"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self.memory = Gauge(
            "proxy_api_memory_usage_bytes",
            "Resident memory of the gateway's processes, summed.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.system_memory = Gauge(
            "proxy_api_system_memory_usage_ratio",
            "Share of the machine's memory in use (0..1).",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.cpu = Counter(
            "proxy_api_cpu_seconds",
            "CPU time of the gateway's processes, user and system.",
            registry=r,
        )
        self.tokens = Counter(
            "llm_tokens",
            "Tokens processed, by provider, model and type (prompt or completion).",
            ["provider", "model", "type"],
            registry=r,
        )
        self.provider_status = Gauge(
            "provider_status",
            "Provider health from the background checks: 1 healthy, 0 unhealthy.",
            ["provider"],
            registry=r,
            multiprocess_mode="livemin",
        )
        self.health_checks = Counter(
            "proxy_api_health_checks",
            "Background provider health checks, by result.",
            ["provider", "result"],
            registry=r,
        )
        self.config_reloads = Counter(
            "proxy_api_config_reloads",
            "Configuration reloads, by result: reloaded, unchanged or failed.",
            ["result"],
            registry=r,
        )
        self.info = Gauge(
            "proxy_api_info",
            "The gateway's version (always 1).",
            ["version"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self.info.labels(version).set(1)
        # Labelled children by (metric, *labels): prometheus-client's labels() takes a lock.
        self._children: dict[tuple[object, ...], Any] = {}
        # Requests being answered now: the app's door counts them (see app.GatewayApp).
        self.in_flight_now: Callable[[], int] = lambda: 0
        # Finished requests waiting to be counted: see ``note``.
        self._noted: list[tuple[Callable[..., None], Any, float]] = []
        self._tally: dict[Counter, float] | None = None
        self._applying = threading.Lock()
        self._later = LoopFlush(self.apply)

    # -- batching ----------------------------------------------------------------------

    def note(self, count: Callable[[Metrics, Any, float], None], item: Any, seconds: float) -> None:
        """Count ``item`` a little later, with the others of the last ``FLUSH_SECONDS``.

        The same counting done in a tight loop outside the requests costs a third of
        what it costs done between them (bench/observability.py). A scrape applies
        whatever is waiting first, so it never misses a finished request.
        """
        self._noted.append((count, item, seconds))
        self._later.soon()

    def apply(self) -> None:
        """Count everything ``note`` has gathered; read the requests in flight.

        Also called from the ``METRICS_PORT`` server's thread: one apply at a time.
        """
        with self._applying:
            self._apply()

    def _apply(self) -> None:
        if not self._noted:
            self.in_flight.set(self.in_flight_now())
            return
        noted, self._noted = self._noted, []
        # Counters are added up first, then each labelled child incremented once: a
        # batch of identical requests costs one locked increment, not one each.
        tally: dict[Counter, float] = {}
        self._tally = tally
        try:
            for count, item, seconds in noted:
                count(self, item, seconds)
        finally:
            self._tally = None
        for child, amount in tally.items():
            child.inc(amount)
        self.in_flight.set(self.in_flight_now())

    # -- the request path ------------------------------------------------------------

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (metric, *labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def _add(self, counter: Counter, amount: float = 1.0) -> None:
        tally = self._tally
        if tally is None:
            counter.inc(amount)
        else:
            tally[counter] = tally.get(counter, 0.0) + amount

    def record_request(self, method: str, endpoint: str, status: int, seconds: float) -> None:
        self._add(self._child(self.requests, method, endpoint, str(status)))
        self._child(self.request_duration, method, endpoint).observe(seconds)

    def record_upstream(self, provider: str, model: str, status: str, seconds: float) -> None:
        """One upstream call and how it ended (``SUCCESS``, ``ERROR``, ``TIMEOUT``...)."""
        self._add(self._child(self.provider_requests, provider, model, status))
        self._child(self.provider_latency, provider, model).observe(seconds)

    def record_first_token(self, provider: str, model: str, seconds: float) -> None:
        self._child(self.first_token, provider, model).observe(seconds)

    def record_tokens(self, provider: str, model: str, prompt: int, completion: int) -> None:
        for kind, count in (("prompt", prompt), ("completion", completion)):
            if count > 0:
                self._add(self._child(self.tokens, provider, model, kind), count)

    def record_cache(self, cache_type: str, hit: bool) -> None:
        self._add(self._child(self.cache_hits if hit else self.cache_misses, cache_type))

    def record_breaker(self, provider: str, state: str) -> None:
        self.breaker_state.labels(provider).set(BREAKER_STATES.get(state, 0))

    # -- exposition --------------------------------------------------------------------

    def scraped(self) -> CollectorRegistry:
        """What a scrape reads: this process's registry, or every worker's files."""
        if self.shared_dir is None:
            return self.registry
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self.shared_dir)  # type: ignore[no-untyped-call]
        return registry

    def collect(self) -> Iterable[Metric]:
        """Every metric family, added up over all workers in multiprocess mode."""
        self.apply()
        return self.scraped().collect()

    def exposition(self) -> bytes:
        """The Prometheus text format of ``collect()``."""
        self.apply()
        return generate_latest(self.scraped())

    def close(self) -> None:
        """This worker is stopping: count what is waiting, drop its share of the live gauges."""
        self.apply()
        if self.shared_dir is not None:
            multiprocess.mark_process_dead(os.getpid(), self.shared_dir)  # type: ignore[no-untyped-call]


class _Applied:
    """The metrics' own registry, with what is waiting counted first (for a scrape)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        self.metrics.apply()
        return self.metrics.registry.collect()


def serve_metrics(metrics: Metrics, port: int, host: str) -> None:
    """Serve the metrics on their own port (``METRICS_PORT``), apart from the API.

    prometheus-client's own server, in a daemon thread of this process: with
    several workers this is the supervising process, which reads every worker's
    files, so one port answers for all of them.
    """
    from prometheus_client import start_http_server

    if metrics.shared_dir is None:
        registry = CollectorRegistry()
        registry.register(_Applied(metrics))
        start_http_server(port, addr=host, registry=registry)
        return
    start_http_server(port, addr=host, registry=metrics.scraped())
