"""Cache administration (``/api/cache…``, admin key only) and cache health.

Seed 002's endpoints: ``GET /api/cache/stats``; ``POST /api/cache/warm``;
``GET /api/cache/warming/status``; ``DELETE /api/cache`` (everything),
``?provider=openai`` (that provider's responses and model list), ``?key=…``,
``?pattern=summary:*``, ``?category=responses``; ``GET /api/config/cache``;
``GET /health/cache`` (open, for probes) and ``GET /v1/cache/health``.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from proxyapi.api.openai import gateway_of
from proxyapi.api.responses import json_bytes
from proxyapi.config.caching import redact_url
from proxyapi.errors import InvalidRequest
from proxyapi.gateway import Gateway


async def stats(request: Request) -> Response:
    gateway = gateway_of(request)
    report = await gateway.cache.get_stats()
    report["warmup_operations"] = gateway.warmer.warmup_operations
    report["warming"] = gateway.warmer.stats()
    return json_bytes(orjson.dumps(report))


async def warm(request: Request) -> Response:
    """One warming round now: the popular entries that would expire soon are fetched again."""
    gateway = gateway_of(request)
    done = await gateway.warmer.run_once()
    return json_bytes(orjson.dumps({**done, "warming": gateway.warmer.stats()}))


async def warming_status(request: Request) -> Response:
    return json_bytes(orjson.dumps(gateway_of(request).warmer.stats()))


async def invalidate(request: Request) -> Response:
    """Delete what the query names; with no query, everything."""
    cache = gateway_of(request).cache
    query = request.query_params
    known = {"provider", "key", "pattern", "category"}
    unknown = set(query) - known
    if unknown:
        raise InvalidRequest(
            f"Unknown parameter(s) {', '.join(sorted(unknown))}; use one of {sorted(known)}.",
            param=sorted(unknown)[0],
        )
    if "key" in query:
        removed = int(await cache.delete(query["key"]))
        what = {"key": query["key"]}
    elif "pattern" in query:
        removed = await cache.delete_matching(query["pattern"])
        what = {"pattern": query["pattern"]}
    elif "provider" in query:
        name = query["provider"]
        removed = await cache.delete_matching(f"response:{name}:*")
        removed += await cache.delete_matching(f"models:{name}:*")
        what = {"provider": name}
    elif "category" in query:
        removed = await cache.clear(query["category"])
        what = {"category": query["category"]}
    else:
        removed = await cache.clear()
        what = {"all": "true"}
    return json_bytes(orjson.dumps({"deleted": removed, **what}))


def health_report(gateway: Gateway) -> dict[str, Any]:
    report = gateway.cache.get_sync_stats()
    l2 = report.get("l2") or {}
    available = l2.get("available", True)
    return {
        "status": "healthy" if available else "degraded",
        "enabled": gateway.responses is not None,
        "layers": report["layers"],
        "l2_available": available,
        "entries": report.get("entries", 0),
        "hit_rate": report["hit_rate"],
        "memory_usage_mb": report.get("memory_usage_mb", 0.0),
        "evictions": report["evictions"],
        "errors": l2.get("errors", 0),
    }


async def health(request: Request) -> Response:
    return json_bytes(orjson.dumps(health_report(gateway_of(request))))


async def cache_config(request: Request) -> Response:
    config = gateway_of(request).config
    redis = config.redis.model_dump(exclude={"password"})
    if redis.get("url"):
        redis["url"] = redact_url(redis["url"])
    body = {
        "caching": config.caching.model_dump(),
        "cache": config.cache.model_dump(),
        "redis": redis,
    }
    return json_bytes(orjson.dumps(body))


routes = [
    Route("/api/cache/stats", stats, methods=["GET"]),
    Route("/api/cache", invalidate, methods=["DELETE"]),
    Route("/api/cache/warm", warm, methods=["POST"]),
    Route("/api/cache/warming/status", warming_status, methods=["GET"]),
    Route("/api/config/cache", cache_config, methods=["GET"]),
    Route("/health/cache", health, methods=["GET"]),
    Route("/v1/cache/health", health, methods=["GET"]),
]
