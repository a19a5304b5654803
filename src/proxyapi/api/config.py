"""``/api/config``: the configuration in force, and ``POST /api/config/reload``. Admin only.

The dump never holds a secret: API keys are SHA-256 digests once validated,
provider keys are only the names of their variables, and what could still
carry a credential (Redis URL, webhook URL, exporter passwords and headers) is
masked here.
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
from proxyapi.config.models import Config
from proxyapi.errors import ProxyError
from proxyapi.reload import Reloader

MASK = "***"


def redacted(config: Config) -> dict[str, Any]:
    """``config`` as JSON, with every value that may carry a credential masked."""
    dump: dict[str, Any] = config.model_dump(mode="json")
    if config.redis.url:
        dump["redis"]["url"] = redact_url(config.redis.url)
    if dump["redis"].get("password"):
        dump["redis"]["password"] = MASK
    alerting = dump["metrics"]["alerting"]
    if alerting.get("webhook_url"):
        alerting["webhook_url"] = MASK
    for exporter in ("otlp", "jaeger", "zipkin"):
        block = dump["telemetry"][exporter]
        if block.get("password"):
            block["password"] = MASK
        block["headers"] = dict.fromkeys(block.get("headers") or {}, MASK)
    elastic = dump["logging"]["external"]["elasticsearch"]
    if elastic.get("password"):
        elastic["password"] = MASK
    for provider in dump["providers"]:
        provider["headers"] = {
            name: (MASK if _sensitive(name) else value)
            for name, value in (provider.get("headers") or {}).items()
        }
    return dump


def _sensitive(header: str) -> bool:
    lowered = header.lower()
    return any(word in lowered for word in ("auth", "key", "token", "secret", "cookie"))


def reloader_of(request: Request) -> Reloader:
    reloader: Reloader = request.app.state.reloader
    return reloader


async def show_config(request: Request) -> Response:
    body = {
        "active": reloader_of(request).active.as_dict(),
        "config": redacted(gateway_of(request).config),
    }
    return json_bytes(orjson.dumps(body))


class ConfigReloadFailed(ProxyError):
    status = 422
    type = "invalid_request_error"
    code = "invalid_config"


class NothingToReload(ProxyError):
    status = 409
    type = "invalid_request_error"
    code = "no_config_file"


async def reload_config(request: Request) -> Response:
    reloader = reloader_of(request)
    if reloader.source is None:
        raise NothingToReload(
            "The gateway was not started from a configuration file: nothing to reload."
        )
    result = await reloader.reload("api")
    if result.outcome == "failed":
        error = ConfigReloadFailed(
            "The new configuration is invalid; the running one stays in force: "
            + "; ".join(result.problems)
        )
        body = {**error.to_dict(), **result.as_dict()}
        return json_bytes(orjson.dumps(body), status=422)
    if result.outcome == "reloaded":
        reloader.tell_other_workers()
    return json_bytes(orjson.dumps(result.as_dict()))


routes = [
    Route("/api/config", show_config, methods=["GET"]),
    Route("/api/config/reload", reload_config, methods=["POST"]),
]
