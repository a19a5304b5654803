"""``build_app(config)``: the ASGI application. Wiring only; behaviour lives elsewhere."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response

from proxyapi.api import health, openai
from proxyapi.api.request_id import RequestIdMiddleware
from proxyapi.api.responses import error_response
from proxyapi.config.models import Config
from proxyapi.errors import MethodNotAllowed, NotFound, ProxyError
from proxyapi.gateway import Gateway
from proxyapi.observability.logging import configure_logging

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


def build_app(config: Config) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        gateway = Gateway(config)
        await gateway.start()
        app.state.gateway = gateway
        try:
            yield
        finally:
            await gateway.close()

    middleware = [Middleware(RequestIdMiddleware)]
    if config.server.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=config.server.cors_origins,
                allow_methods=["*"],
                allow_headers=["*"],
                expose_headers=["X-Request-ID"],
            )
        )
    return Starlette(
        debug=False,
        routes=[*openai.routes, *health.routes],
        middleware=middleware,
        exception_handlers={
            ProxyError: handle_proxy_error,
            HTTPException: handle_http_exception,
            Exception: handle_unexpected,
        },
        lifespan=lifespan,
    )


def create_app() -> Starlette:
    """Factory for uvicorn/gunicorn workers: loads the configuration itself.

    The ``serve`` command validated it already and passed the file it used in
    ``PROXY_API_CONFIG_FILE``, so every worker loads the same one.
    """
    from proxyapi.config.loader import load_config

    loaded = load_config(os.environ.get("PROXY_API_CONFIG_FILE") or None)
    configure_logging(loaded.config.logging)
    return build_app(loaded.config)
