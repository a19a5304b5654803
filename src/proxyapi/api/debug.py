"""``/debug/*``: operator actions, behind the admin keys (``auth.admin_keys``).

With no admin key configured the surface is off (404), so nothing here is ever
open to whoever can reach the port. Keys are compared in constant time.
"""

from __future__ import annotations

import hmac

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from proxyapi.api.openai import gateway_of
from proxyapi.api.responses import json_bytes
from proxyapi.errors import AuthenticationFailed, NotFound


def presented_key(request: Request, header_name: str) -> str | None:
    """The key from ``Authorization: Bearer …`` or the configured key header."""
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return request.headers.get(header_name)


def require_admin(request: Request) -> None:
    auth = gateway_of(request).config.auth
    if not auth.admin_keys:
        raise NotFound(f"Unknown path: {request.method} {request.url.path}")
    key = presented_key(request, auth.header_name) or ""
    matches = [hmac.compare_digest(key.encode(), admin.encode()) for admin in auth.admin_keys]
    if not any(matches):
        raise AuthenticationFailed("Invalid or missing admin key.")


async def reset_circuit_breakers(request: Request) -> Response:
    require_admin(request)
    gateway = gateway_of(request)
    for candidate in gateway.candidates_by_name.values():
        candidate.breaker.reset()
    states = {name: c.breaker.snapshot()["state"] for name, c in gateway.candidates_by_name.items()}
    return json_bytes(orjson.dumps({"reset": True, "circuit_breakers": states}))


async def circuit_breakers(request: Request) -> Response:
    require_admin(request)
    gateway = gateway_of(request)
    body = {name: c.breaker.snapshot() for name, c in gateway.candidates_by_name.items()}
    return json_bytes(orjson.dumps(body))


routes = [
    Route("/debug/circuit-breakers", circuit_breakers, methods=["GET"]),
    Route("/debug/circuit-breakers/reset", reset_circuit_breakers, methods=["POST"]),
]
