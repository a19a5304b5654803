"""Health probes: ``/health`` (seed 003's JSON), ``/health/live``, ``/health/ready``."""

from __future__ import annotations

import time
from typing import Any

import orjson
import psutil
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from proxyapi.api.openai import gateway_of
from proxyapi.api.responses import json_bytes
from proxyapi.gateway import Gateway

_STATUS_RANK = {"healthy": 0, "degraded": 1, "unhealthy": 2}


def providers_check(gateway: Gateway) -> dict[str, Any]:
    total = len(gateway.config.providers)
    enabled = sum(1 for p in gateway.config.providers if p.enabled)
    usable = len(gateway.candidates_by_name)
    status = "healthy" if usable and usable == enabled else "degraded" if usable else "unhealthy"
    check: dict[str, Any] = {"status": status, "total": total, "enabled": enabled, "usable": usable}
    if gateway.skipped:
        check["skipped"] = dict(gateway.skipped)
    return check


def memory_check(gateway: Gateway) -> dict[str, Any]:
    system = psutil.virtual_memory()
    rss = psutil.Process().memory_info().rss
    limit = gateway.config.memory.max_usage_percent
    return {
        "status": "healthy" if system.percent < limit else "degraded",
        "usage_percent": round(system.percent, 1),
        "used_mb": round(rss / 1048576, 1),
        "available_mb": round(system.available / 1048576, 1),
    }


def cache_check(gateway: Gateway) -> dict[str, Any]:
    stats = gateway.cache.get_sync_stats()
    l2 = stats.get("l2") or {}
    return {
        "status": "healthy" if l2.get("available", True) else "degraded",
        "entries": stats["entries"],
        "hit_rate": stats["hit_rate"],
        "memory_mb": stats.get("memory_usage_mb", 0.0),
        "layers": stats["layers"],
    }


def http_client_check(gateway: Gateway) -> dict[str, Any]:
    requests = errors = 0
    seconds = 0.0
    for candidate in gateway.candidates_by_name.values():
        requests += candidate.client.stats.requests
        errors += candidate.client.stats.errors
        seconds += candidate.client.stats.total_seconds
    error_rate = errors / requests if requests else 0.0
    return {
        "status": "healthy" if error_rate < 0.5 else "degraded",
        "requests_total": requests,
        "error_rate": round(error_rate, 4),
        "avg_response_time_ms": round(seconds / requests * 1000, 2) if requests else 0.0,
    }


def health_report(gateway: Gateway) -> dict[str, Any]:
    checks = {
        "providers": providers_check(gateway),
        "memory": memory_check(gateway),
        "cache": cache_check(gateway),
        "http_client": http_client_check(gateway),
    }
    worst = max((c["status"] for c in checks.values()), key=_STATUS_RANK.__getitem__)
    return {
        "status": worst,
        "timestamp": time.time(),
        "version": gateway.config.app.version,
        "uptime": round(time.time() - gateway.started_at, 3),
        "checks": checks,
    }


async def health(request: Request) -> Response:
    report = health_report(gateway_of(request))
    status = 503 if report["status"] == "unhealthy" else 200
    return json_bytes(orjson.dumps(report), status=status)


async def live(request: Request) -> Response:
    return json_bytes(b'{"status":"alive"}')


async def ready(request: Request) -> Response:
    gateway: Gateway | None = getattr(request.app.state, "gateway", None)
    if gateway is None or not gateway.ready:
        return json_bytes(b'{"status":"not_ready","reason":"starting"}', status=503)
    if not gateway.candidates_by_name:
        return json_bytes(b'{"status":"not_ready","reason":"no usable provider"}', status=503)
    body = {"status": "ready", "providers": len(gateway.candidates_by_name)}
    return json_bytes(orjson.dumps(body))


routes = [
    Route("/health", health, methods=["GET"]),
    Route("/v1/health", health, methods=["GET"]),
    Route("/health/live", live, methods=["GET"]),
    Route("/health/ready", ready, methods=["GET"]),
]
