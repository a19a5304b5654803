"""``/debug/*``: operator actions, behind the admin keys (``auth.admin_keys``).

The door (pipeline/guard.py, called by app.GatewayApp) admits only admin keys
here; with no admin key configured the surface is off (404).
"""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from proxyapi.api.openai import gateway_of
from proxyapi.api.responses import json_bytes


async def reset_circuit_breakers(request: Request) -> Response:
    gateway = gateway_of(request)
    for candidate in gateway.candidates_by_name.values():
        candidate.breaker.reset()
    states = {name: c.breaker.snapshot()["state"] for name, c in gateway.candidates_by_name.items()}
    return json_bytes(orjson.dumps({"reset": True, "circuit_breakers": states}))


async def circuit_breakers(request: Request) -> Response:
    gateway = gateway_of(request)
    body = {name: c.breaker.snapshot() for name, c in gateway.candidates_by_name.items()}
    return json_bytes(orjson.dumps(body))


routes = [
    Route("/debug/circuit-breakers", circuit_breakers, methods=["GET"]),
    Route("/debug/circuit-breakers/reset", reset_circuit_breakers, methods=["POST"]),
]
