"""``GET /v1/models``: configured models merged with what providers report.

Each provider's own list is fetched at most once per five minutes and kept in
the model-discovery cache under ``models:{provider}:{base_url}`` (seed 002).
A provider that cannot be asked, or fails, contributes its configured models.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson

from proxyapi.errors import ModelNotFound, UpstreamError
from proxyapi.gateway import MODELS_TTL_SECONDS, Candidate, Gateway, models_cache_key

logger = logging.getLogger("proxyapi.models")

DISCOVERY_TIMEOUT_SECONDS = 5.0


async def discover(candidate: Candidate, gateway: Gateway) -> tuple[str, ...]:
    """The provider's own model ids, from the cache or its /models endpoint."""
    key = models_cache_key(candidate.deployment)
    cached = gateway.models_cache.get_now(key, "models")
    if gateway.metrics is not None:
        gateway.metrics.record_cache("models", cached is not None)
    if cached is not None:
        return tuple(cached)
    request = candidate.adapter.build_models(candidate.deployment)
    found: tuple[str, ...] = ()
    if request is not None:
        try:
            seconds = min(candidate.deployment.timeout, DISCOVERY_TIMEOUT_SECONDS)
            response = await candidate.client.open(request, seconds=seconds)
            async with response:
                raw = await response.read()
            if response.status == 200:
                found = tuple(candidate.adapter.parse_models(raw))
        except (UpstreamError, ValueError) as exc:
            logger.info("model discovery failed for %s: %s", candidate.deployment.name, exc)
    gateway.models_cache.set_now(key, found, MODELS_TTL_SECONDS, "models")
    return found


async def list_models(gateway: Gateway) -> list[dict[str, Any]]:
    """Every model id once, owned by its highest-priority provider."""
    candidates = list(gateway.candidates_by_name.values())
    discovered = await asyncio.gather(*(discover(c, gateway) for c in candidates))
    created = int(gateway.started_at)
    seen: dict[str, dict[str, Any]] = {}
    for candidate, reported in zip(candidates, discovered, strict=True):
        for model in (*candidate.deployment.models, *reported):
            if model not in seen:
                seen[model] = {
                    "id": model,
                    "object": "model",
                    "created": created,
                    "owned_by": candidate.deployment.name,
                }
    return list(seen.values())


async def models_body(gateway: Gateway) -> bytes:
    return orjson.dumps({"object": "list", "data": await list_models(gateway)})


async def model_body(gateway: Gateway, model_id: str) -> bytes:
    for entry in await list_models(gateway):
        if entry["id"] == model_id:
            return orjson.dumps(entry)
    raise ModelNotFound(model_id)
