"""``GET /v1/metrics``: the gateway's counters as JSON, per provider.

Names follow seed 000's monitoring loop (``error_rate``, ``avg_response_time_ms``,
``consecutive_failures``), so an operator's existing alert rules read them as is.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from proxyapi.api.openai import gateway_of
from proxyapi.api.responses import json_bytes
from proxyapi.gateway import Candidate, Gateway


def provider_metrics(candidate: Candidate) -> dict[str, Any]:
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
    return {
        "timestamp": time.time(),
        "uptime": round(time.time() - gateway.started_at, 3),
        "providers": {
            name: provider_metrics(candidate)
            for name, candidate in gateway.candidates_by_name.items()
        },
        "chaos": gateway.chaos.stats() if gateway.chaos is not None else {"enabled": False},
        "rate_limit": gateway.limiter.snapshot(),
        "auth": {"enabled": gateway.guard.requires_key, "failures": gateway.guard.auth_failures},
    }


async def metrics(request: Request) -> Response:
    return json_bytes(orjson.dumps(metrics_report(gateway_of(request))))


routes = [Route("/v1/metrics", metrics, methods=["GET"])]
