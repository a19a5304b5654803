"""``build_app(config)``: the ASGI application. Wiring only; behaviour lives elsewhere."""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from proxyapi.api import admin, cache, debug, health, metrics, openai
from proxyapi.api.asgi import REQUEST_ID, request_id_of, send_error
from proxyapi.api.responses import error_response
from proxyapi.config.models import Config
from proxyapi.errors import MethodNotAllowed, NotFound, ProxyError
from proxyapi.gateway import Gateway
from proxyapi.observability.logging import configure_logging
from proxyapi.pipeline.guard import Guard

logger = logging.getLogger("proxyapi.app")


async def handle_proxy_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProxyError)
    return error_response(exc)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return error_response(
            MethodNotAllowed(f"Method {request.method} is not allowed on {request.url.path}.")
        )
    if exc.status_code == 404:
        return error_response(NotFound(f"Unknown path: {request.method} {request.url.path}"))
    error = ProxyError(str(exc.detail))
    return Response(error.to_json(), status_code=exc.status_code, media_type="application/json")


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    """Last resort: log the traceback here, send the client nothing but a generic error."""
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(ProxyError("The gateway failed to process the request."))


OPEN_PATHS: Final = frozenset({"/v1/health", "/metrics", "/v1/metrics"})
ADMIN_PREFIXES: Final = ("/api/", "/debug/")


def access_of(path: str) -> str:
    """Which door a path is behind: ``open`` (probes, metrics), ``admin`` or ``client``.

    Everything not named open or admin is a client route, unknown paths
    included: without a key, nobody learns which paths exist.
    """
    if path.startswith(ADMIN_PREFIXES) or path in ("/api", "/debug"):
        return "admin"
    if path.startswith("/health") or path in OPEN_PATHS:
        return "open"
    return "client"


class GatewayApp:
    """The outermost ASGI app: the door (guard), then hot POST routes, then Starlette.

    Every HTTP response gets an ``X-Request-ID`` (the client's, or a new one) and,
    on client routes, the rate-limit headers.
    """

    def __init__(self, routes: Starlette, hot: dict[str, openai.PostEndpoint]) -> None:
        self.routes = routes
        self.hot = hot

    @property
    def state(self) -> State:
        return self.routes.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.routes(scope, receive, send)
            return
        request_id = request_id_of(scope)
        path: str = scope["path"]
        extra: list[tuple[bytes, bytes]] = []
        guard: Guard = self.state.gateway.guard
        try:
            access = access_of(path)
            if access == "client":
                extra = await guard.admit(scope)
            elif access == "admin":
                guard.require_admin(scope)
        except ProxyError as error:
            await send_error(send, error, request_id)
            return
        if scope["method"] == "POST":
            endpoint = self.hot.get(path)
            if endpoint is not None:
                await endpoint(scope, receive, send, request_id, extra)
                return
        added = [(REQUEST_ID, request_id), *extra]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *added]
            await send(message)

        await self.routes(scope, receive, send_with_headers)


def build_app(config: Config) -> ASGIApp:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        gateway = Gateway(config)
        await gateway.start()
        app.state.gateway = gateway
        # Everything built so far lives as long as the process: move it out of the
        # collector's sight, so collections on the request path stay short (p99).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await gateway.close()

    routes = Starlette(
        debug=False,
        routes=[
            *openai.routes,
            *health.routes,
            *metrics.routes,
            *admin.routes,
            *cache.routes,
            *debug.routes,
        ],
        exception_handlers={
            ProxyError: handle_proxy_error,
            HTTPException: handle_http_exception,
            Exception: handle_unexpected,
        },
        lifespan=lifespan,
    )
    app: ASGIApp = GatewayApp(routes, openai.post_endpoints(routes.state))
    if config.server.cors_origins:
        app = CORSMiddleware(
            app,
            allow_origins=config.server.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID"],
        )
    return app


def create_app() -> ASGIApp:
    """Factory for uvicorn/gunicorn workers: loads the configuration itself.

    The ``serve`` command validated it already and passed the file it used in
    ``PROXY_API_CONFIG_FILE``, so every worker loads the same one.
    """
    from proxyapi.config.loader import load_config

    loaded = load_config(os.environ.get("PROXY_API_CONFIG_FILE") or None)
    configure_logging(loaded.config.logging)
    return build_app(loaded.config)
