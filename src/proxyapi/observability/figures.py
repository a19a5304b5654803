"""Figures read back from the Prometheus metrics: the JSON view and the alert windows.

``/v1/metrics`` and the built-in alerts read the very numbers Prometheus
scrapes (added up over every worker), not a second set of per-process
counters that would disagree with them. Pure functions over metric families.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.metrics_core import Metric

from proxyapi.observability.metrics import RATE_LIMITED, SUCCESS, TIMEOUT

Buckets = dict[float, float]  # upper bound -> cumulative count


@dataclass(slots=True)
class ProviderTotals:
    calls: dict[str, float] = field(default_factory=dict)  # by outcome
    latency_sum: float = 0.0
    latency_count: float = 0.0
    first_token: Buckets = field(default_factory=dict)
    prompt_tokens: float = 0.0
    completion_tokens: float = 0.0

    @property
    def requests(self) -> float:
        return sum(self.calls.values())

    @property
    def errors(self) -> float:
        return self.requests - self.calls.get(SUCCESS, 0.0)


@dataclass(slots=True)
class Totals:
    """The counters of one scrape, summed the ways the JSON view and alerts need."""

    requests: float = 0.0
    server_errors: float = 0.0
    by_status: dict[str, float] = field(default_factory=dict)
    by_endpoint: dict[str, float] = field(default_factory=dict)
    duration: Buckets = field(default_factory=dict)
    duration_sum: float = 0.0
    duration_count: float = 0.0
    in_flight: float = 0.0
    providers: dict[str, ProviderTotals] = field(default_factory=dict)
    cache: dict[str, dict[str, float]] = field(default_factory=dict)
    rate_limited: dict[str, float] = field(default_factory=dict)
    auth_failures: float = 0.0
    breakers: dict[str, float] = field(default_factory=dict)
    provider_status: dict[str, float] = field(default_factory=dict)
    memory_bytes: float = 0.0
    system_memory_ratio: float = 0.0
    cpu_seconds: float = 0.0

    def provider(self, name: str) -> ProviderTotals:
        found = self.providers.get(name)
        if found is None:
            found = self.providers[name] = ProviderTotals()
        return found


def read_totals(families: Iterable[Metric]) -> Totals:
    """Sum one collection of metric families into ``Totals``."""
    totals = Totals()
    for family in families:
        reader = _READERS.get(family.name)
        if reader is None:
            continue
        for sample in family.samples:
            reader(totals, sample.name, sample.labels, sample.value)
    return totals


def _requests(t: Totals, name: str, labels: Mapping[str, str], value: float) -> None:
    if not name.endswith("_total"):
        return
    t.requests += value
    status = labels.get("status_code", "")
    t.by_status[status] = t.by_status.get(status, 0.0) + value
    route = f"{labels.get('method', '')} {labels.get('endpoint', '')}"
    t.by_endpoint[route] = t.by_endpoint.get(route, 0.0) + value
    if status.startswith("5"):
        t.server_errors += value


def _duration(t: Totals, name: str, labels: Mapping[str, str], value: float) -> None:
    if name.endswith("_bucket"):
        bound = float(labels["le"])
        t.duration[bound] = t.duration.get(bound, 0.0) + value
    elif name.endswith("_sum"):
        t.duration_sum += value
    elif name.endswith("_count"):
        t.duration_count += value


def _upstream(t: Totals, name: str, labels: Mapping[str, str], value: float) -> None:
    if name.endswith("_total"):
        calls = t.provider(labels["provider"]).calls
        calls[labels["status"]] = calls.get(labels["status"], 0.0) + value


def _latency(t: Totals, name: str, labels: Mapping[str, str], value: float) -> None:
    provider = t.provider(labels["provider"])
    if name.endswith("_sum"):
        provider.latency_sum += value
    elif name.endswith("_count"):
        provider.latency_count += value


def _first_token(t: Totals, name: str, labels: Mapping[str, str], value: float) -> None:
    if name.endswith("_bucket"):
        buckets = t.provider(labels["provider"]).first_token
        bound = float(labels["le"])
        buckets[bound] = buckets.get(bound, 0.0) + value


def _tokens(t: Totals, name: str, labels: Mapping[str, str], value: float) -> None:
    if not name.endswith("_total"):
        return
    provider = t.provider(labels["provider"])
    if labels.get("type") == "prompt":
        provider.prompt_tokens += value
    else:
        provider.completion_tokens += value


def _cache(kind: str) -> Any:
    def read(t: Totals, name: str, labels: Mapping[str, str], value: float) -> None:
        if name.endswith("_total"):
            counts = t.cache.setdefault(labels.get("cache_type", ""), {"hits": 0.0, "misses": 0.0})
            counts[kind] += value

    return read


def _rate_limited(t: Totals, name: str, labels: Mapping[str, str], value: float) -> None:
    if name.endswith("_total"):
        t.rate_limited[labels["scope"]] = t.rate_limited.get(labels["scope"], 0.0) + value


def _auth(t: Totals, name: str, labels: Mapping[str, str], value: float) -> None:
    if name.endswith("_total"):
        t.auth_failures += value


def _breaker(t: Totals, name: str, labels: Mapping[str, str], value: float) -> None:
    t.breakers[labels["provider"]] = value


def _status(t: Totals, name: str, labels: Mapping[str, str], value: float) -> None:
    t.provider_status[labels["provider"]] = value


def _in_flight(t: Totals, name: str, labels: Mapping[str, str], value: float) -> None:
    t.in_flight += value


def _memory(t: Totals, name: str, labels: Mapping[str, str], value: float) -> None:
    t.memory_bytes += value


def _system_memory(t: Totals, name: str, labels: Mapping[str, str], value: float) -> None:
    t.system_memory_ratio = max(t.system_memory_ratio, value)


def _cpu(t: Totals, name: str, labels: Mapping[str, str], value: float) -> None:
    if name.endswith("_total"):
        t.cpu_seconds += value


_READERS: dict[str, Any] = {
    "proxy_api_requests": _requests,
    "proxy_api_request_duration_seconds": _duration,
    "proxy_api_provider_requests": _upstream,
    "proxy_api_provider_latency_seconds": _latency,
    "proxy_api_time_to_first_token_seconds": _first_token,
    "llm_tokens": _tokens,
    "proxy_api_cache_hits": _cache("hits"),
    "proxy_api_cache_misses": _cache("misses"),
    "proxy_api_rate_limit_rejections": _rate_limited,
    "proxy_api_auth_failures": _auth,
    "proxy_api_circuit_breaker_state": _breaker,
    "provider_status": _status,
    "proxy_api_requests_in_flight": _in_flight,
    "proxy_api_memory_usage_bytes": _memory,
    "proxy_api_system_memory_usage_ratio": _system_memory,
    "proxy_api_cpu_seconds": _cpu,
}


def quantile(q: float, buckets: Buckets) -> float | None:
    """``histogram_quantile`` over cumulative buckets: linear within the bucket found.

    None when the histogram is empty. Past the last finite bound, the answer is
    that bound (as Prometheus does).
    """
    if not buckets:
        return None
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    if total <= 0:
        return None
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return lower_bound


def bucket_delta(now: Buckets, before: Buckets) -> Buckets:
    return {bound: count - before.get(bound, 0.0) for bound, count in now.items()}


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def request_figures(t: Totals) -> dict[str, Any]:
    """``requests`` of ``/v1/metrics``: totals, error rate, latency percentiles (ms)."""
    return {
        "total": int(t.requests),
        "errors": int(t.server_errors),
        "error_rate": round(t.server_errors / t.requests, 4) if t.requests else 0.0,
        "in_flight": int(t.in_flight),
        "by_status": {k: int(v) for k, v in sorted(t.by_status.items())},
        "by_endpoint": {k: int(v) for k, v in sorted(t.by_endpoint.items())},
        "latency_ms": {
            "p50": ms(quantile(0.5, t.duration)),
            "p95": ms(quantile(0.95, t.duration)),
            "p99": ms(quantile(0.99, t.duration)),
            "avg": ms(t.duration_sum / t.duration_count) if t.duration_count else None,
        },
    }


def provider_figures(p: ProviderTotals) -> dict[str, Any]:
    requests = p.requests
    return {
        "requests": int(requests),
        "errors": int(p.errors),
        "timeouts": int(p.calls.get(TIMEOUT, 0.0)),
        "rate_limited": int(p.calls.get(RATE_LIMITED, 0.0)),
        "error_rate": round(p.errors / requests, 4) if requests else 0.0,
        "avg_response_time_ms": (
            round(p.latency_sum / p.latency_count * 1000, 2) if p.latency_count else 0.0
        ),
        "time_to_first_token_ms": {
            "p50": ms(quantile(0.5, p.first_token)),
            "p95": ms(quantile(0.95, p.first_token)),
        },
        "tokens": {"prompt": int(p.prompt_tokens), "completion": int(p.completion_tokens)},
    }


def cache_figures(t: Totals) -> dict[str, Any]:
    hits = sum(c["hits"] for c in t.cache.values())
    misses = sum(c["misses"] for c in t.cache.values())
    return {
        "hits": int(hits),
        "misses": int(misses),
        "hit_rate": round(hits / (hits + misses), 4) if hits + misses else 0.0,
        "by_type": {
            kind: {
                "hits": int(c["hits"]),
                "misses": int(c["misses"]),
                "hit_rate": (
                    round(c["hits"] / (c["hits"] + c["misses"]), 4)
                    if c["hits"] + c["misses"]
                    else 0.0
                ),
            }
            for kind, c in sorted(t.cache.items())
        },
    }


def window_figures(now: Totals, before: Totals, seconds: float, cpus: int) -> dict[str, float]:
    """What the alert rules judge: the figures of the window between two readings."""
    requests = now.requests - before.requests
    errors = now.server_errors - before.server_errors
    durations = bucket_delta(now.duration, before.duration)
    count = now.duration_count - before.duration_count
    total = now.duration_sum - before.duration_sum
    figures: dict[str, float] = {
        "requests": requests,
        "requests_per_second": requests / seconds if seconds > 0 else 0.0,
        "error_rate": errors / requests if requests > 0 else 0.0,
        "memory_percent": now.system_memory_ratio * 100,
    }
    if count > 0:
        figures["avg_response_time"] = figures["avg_response_time_ms"] = total / count * 1000
        for name, q in (("p95_latency_ms", 0.95), ("p99_latency_ms", 0.99)):
            value = quantile(q, durations)
            if value is not None:
                figures[name] = value * 1000
    if seconds > 0:
        figures["cpu_percent"] = (
            (now.cpu_seconds - before.cpu_seconds) / seconds / max(cpus, 1) * 100
        )
    return figures
