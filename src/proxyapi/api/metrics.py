"""``/metrics`` (Prometheus text) and ``GET /v1/metrics`` (the same figures as JSON).

Both read the Prometheus metrics, added up over every worker, so the JSON view
and a Prometheus scrape never disagree. Names follow seed 000's monitoring loop
(``error_rate``, ``avg_response_time_ms``, ``consecutive_failures``), so an
operator's existing scripts read them as is. What only this worker knows
(connection pools, breaker details, retry counters, chaos) is added per provider.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from proxyapi.api.openai import gateway_of
from proxyapi.api.responses import json_bytes
from proxyapi.errors import NotFound
from proxyapi.gateway import Candidate, Gateway
from proxyapi.observability.figures import (
    Totals,
    cache_figures,
    provider_figures,
    read_totals,
    request_figures,
)
from proxyapi.observability.metrics import CONTENT_TYPE


def local_provider(candidate: Candidate) -> dict[str, Any]:
    """This worker's own view of a provider: pools, retries, breaker."""
    stats = candidate.client.stats.as_dict()
    connections = candidate.client.connection_counts()
    return {
        "requests": stats["requests_total"],
        "errors": stats["errors_total"],
        "error_rate": stats["error_rate"],
        "avg_response_time_ms": stats["avg_response_time_ms"],
        "active_connections": connections["active"],
        "idle_connections": connections["idle"],
        "connections_opened": connections["opened"],
        "connection_reuse_rate": connections["reuse_rate"],
        "retry": {"strategy": candidate.retry.strategy, **candidate.retry_stats.as_dict()},
        "circuit_breaker": candidate.breaker.snapshot(),
    }


def metrics_report(gateway: Gateway) -> dict[str, Any]:
    totals = read_totals(gateway.metrics.collect()) if gateway.metrics is not None else None
    providers: dict[str, Any] = {}
    for name, candidate in gateway.candidates_by_name.items():
        entry = local_provider(candidate)
        if totals is not None:
            # Upstream calls of every worker, from the metrics (retries count as calls).
            entry.update(provider_figures(totals.provider(name)))
        providers[name] = entry
    report: dict[str, Any] = {
        "timestamp": time.time(),
        "uptime": round(time.time() - gateway.started_at, 3),
        "metrics_enabled": totals is not None,
        "providers": providers,
        "circuit_breakers": {
            name: c.breaker.snapshot()["state"] for name, c in gateway.candidates_by_name.items()
        },
        "chaos": gateway.chaos.stats() if gateway.chaos is not None else {"enabled": False},
        "rate_limit": gateway.limiter.snapshot(),
        "auth": {"enabled": gateway.guard.requires_key, "failures": gateway.guard.auth_failures},
    }
    if totals is not None:
        report.update(_aggregates(totals))
    report["cache"] = {**report.get("cache", {}), "layers": gateway.cache.get_sync_stats()}
    if gateway.alerter is not None:
        report["alerts"] = gateway.alerter.snapshot()
    return report


def _aggregates(totals: Totals) -> dict[str, Any]:
    prompt = sum(p.prompt_tokens for p in totals.providers.values())
    completion = sum(p.completion_tokens for p in totals.providers.values())
    return {
        "requests": request_figures(totals),
        "tokens": {"prompt": int(prompt), "completion": int(completion)},
        "cache": cache_figures(totals),
        "rate_limit_rejections": {k: int(v) for k, v in sorted(totals.rate_limited.items())},
        "auth_failures": int(totals.auth_failures),
        "memory_bytes": int(totals.memory_bytes),
    }


async def metrics(request: Request) -> Response:
    return json_bytes(orjson.dumps(metrics_report(gateway_of(request))))


async def prometheus(request: Request) -> Response:
    gateway = gateway_of(request)
    if gateway.metrics is None or not gateway.config.metrics.prometheus.enabled:
        raise NotFound("Metrics are off (metrics.enabled: false / METRICS_ENABLED=false).")
    if gateway.monitor is not None:
        gateway.monitor.sample()  # this worker's gauges, fresh for the scrape
    return Response(gateway.metrics.exposition(), media_type=CONTENT_TYPE)


def routes_for(path: str) -> list[BaseRoute]:
    """The JSON view, and the Prometheus text at ``metrics.prometheus.path`` and the seed's."""
    paths = dict.fromkeys([path, "/metrics", "/v1/metrics/prometheus"])
    return [
        Route("/v1/metrics", metrics, methods=["GET"]),
        *(Route(p, prometheus, methods=["GET"]) for p in paths if p != "/v1/metrics"),
    ]
