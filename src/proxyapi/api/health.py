"""Health probes: ``/health`` (seed 003's JSON), ``/health/live``, ``/health/ready``."""

from __future__ import annotations

import os
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
from proxyapi.resilience.breaker import BreakerState

_STATUS_RANK = {"healthy": 0, "degraded": 1, "unhealthy": 2}
MB = 1048576


def providers_check(gateway: Gateway) -> dict[str, Any]:
    """Unhealthy: no provider can be used, or every usable one fails its checks.

    Degraded: an enabled provider is skipped (no key), fails its background
    checks, or has its circuit breaker open. Healthy otherwise.
    """
    total = len(gateway.config.providers)
    enabled = sum(1 for p in gateway.config.providers if p.enabled)
    usable = len(gateway.candidates_by_name)
    states = gateway.monitor.health.states
    failing = sorted(name for name, state in states.items() if not state.healthy)
    open_breakers = sorted(
        name
        for name, candidate in gateway.candidates_by_name.items()
        if candidate.breaker.state is not BreakerState.CLOSED
    )
    healthy = usable - len(failing)
    if not usable or not healthy:
        status = "unhealthy"
    elif usable < enabled or failing or open_breakers:
        status = "degraded"
    else:
        status = "healthy"
    check: dict[str, Any] = {
        "status": status,
        "total": total,
        "enabled": enabled,
        "usable": usable,
        "healthy": healthy,
    }
    if failing:
        check["unhealthy"] = failing
    if open_breakers:
        check["circuit_breakers_open"] = open_breakers
    if gateway.skipped:
        check["skipped"] = dict(gateway.skipped)
    if gateway.config.health_check.enabled:
        check["checks"] = gateway.monitor.health.snapshot()
    return check


def memory_check(gateway: Gateway) -> dict[str, Any]:
    """The process's RSS and the machine's memory.

    Unhealthy past ``memory.emergency_threshold_percent`` of the machine (or of
    ``memory.threshold_mb`` for the process); degraded past ``max_usage_percent``.
    """
    settings = gateway.config.memory
    system = psutil.virtual_memory()
    rss = psutil.Process().memory_info().rss
    used = system.percent
    if settings.threshold_mb:
        used = max(used, rss / (settings.threshold_mb * MB) * 100)
    if used >= settings.emergency_threshold_percent:
        status = "unhealthy"
    elif used >= settings.max_usage_percent:
        status = "degraded"
    else:
        status = "healthy"
    return {
        "status": status,
        "usage_percent": round(system.percent, 1),
        "used_mb": round(rss / MB, 1),
        "available_mb": round(system.available / MB, 1),
        "total_mb": round(system.total / MB, 1),
        "process_limit_mb": settings.threshold_mb,
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
    reloader = getattr(request.app.state, "reloader", None)
    if reloader is not None:
        active = reloader.active
        # Per worker: with several, each answers for the configuration it runs.
        report["config"] = {
            "hash": active.config_hash,
            "loaded_at": active.loaded_at,
            "reloads": active.reloads,
            "worker_pid": os.getpid(),
        }
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
