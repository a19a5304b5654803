"""``/api/*``: the operator's view of access control. Behind the admin keys.

The door (pipeline/guard.py) admits only admin keys here; with no admin key
configured every ``/api`` path answers 404. Nothing here returns key material:
keys appear by id (a short prefix of their SHA-256), as in logs and metrics.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from proxyapi.api.openai import gateway_of
from proxyapi.api.responses import json_bytes
from proxyapi.gateway import Gateway
from proxyapi.ratelimit.base import Bucket


def _bucket(bucket: Bucket) -> dict[str, Any]:
    return {
        "scope": bucket.scope,
        "key": bucket.key,
        "capacity": bucket.limit.capacity,
        "per_second": bucket.limit.rate,
    }


def rate_limit_report(gateway: Gateway) -> dict[str, Any]:
    policy = gateway.guard.policy
    return {
        **gateway.limiter.snapshot(),
        "enabled": policy.enabled,
        "global": [_bucket(b) for b in policy.fixed],
        "routes": {route: [_bucket(b) for b in found] for route, found in policy.routes.items()},
        "per_ip": None
        if policy.ip_limit is None
        else {"capacity": policy.ip_limit.capacity, "per_second": policy.ip_limit.rate},
        "per_key": None
        if policy.key_limit is None
        else {"capacity": policy.key_limit.capacity, "per_second": policy.key_limit.rate},
        "whitelist": [str(n) for n in policy.whitelist.networks],
        "blacklist": [str(n) for n in policy.blacklist.networks],
        "providers": {name: [_bucket(b) for b in found] for name, found in gateway.quotas.items()},
    }


async def rate_limits(request: Request) -> Response:
    return json_bytes(orjson.dumps(rate_limit_report(gateway_of(request))))


async def keys(request: Request) -> Response:
    guard = gateway_of(request).guard
    listed = [{"id": d.id, "role": "client"} for d in guard.client_keys]
    listed += [{"id": d.id, "role": "admin"} for d in guard.admin_keys]
    body = {"authentication": guard.requires_key, "header": guard.header_label, "keys": listed}
    return json_bytes(orjson.dumps(body))


routes = [
    Route("/api/rate-limits", rate_limits, methods=["GET"]),
    Route("/api/keys", keys, methods=["GET"]),
]
