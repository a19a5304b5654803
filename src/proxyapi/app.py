"""``build_app(config)``: the ASGI application. Wiring only; behaviour lives elsewhere."""

from __future__ import annotations

import gc
import logging
import os
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Final

from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from proxyapi.api import (
    admin,
    cache,
    config as config_api,
    debug,
    health,
    metrics as metrics_api,
    openai,
    prompts,
    selections,
)
from proxyapi.api.asgi import GATEWAY, REQUEST_ID, request_id_of, send_error
from proxyapi.api.responses import error_response
from proxyapi.config.models import Config
from proxyapi.errors import (
    AuthenticationFailed,
    MethodNotAllowed,
    NotFound,
    PermissionDenied,
    ProxyError,
    RateLimited,
)
from proxyapi.gateway import Gateway
from proxyapi.observability.access import RECORD, RequestRecord, close_record
from proxyapi.observability.logging import configure_from, request_id_var
from proxyapi.observability.metrics import Metrics
from proxyapi.observability.tracing import SpanExporter
from proxyapi.pipeline.caching import KEY_ID
from proxyapi.pipeline.guard import CLIENT_IP
from proxyapi.reload import Reloader

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


OPEN_PATHS: Final = frozenset({"/v1/health", "/metrics", "/v1/metrics", "/v1/metrics/prometheus"})
ADMIN_PREFIXES: Final = ("/api/", "/debug/")


def access_of(path: str, open_paths: frozenset[str] = OPEN_PATHS) -> str:
    """Which door a path is behind: ``open`` (probes, metrics), ``admin`` or ``client``.

    Everything not named open or admin is a client route, unknown paths
    included: without a key, nobody learns which paths exist.
    """
    if path.startswith(ADMIN_PREFIXES) or path in ("/api", "/debug"):
        return "admin"
    if path.startswith("/health") or path in open_paths:
        return "open"
    return "client"


class GatewayApp:
    """The outermost ASGI app: the door (guard), then hot POST routes, then Starlette.

    Every HTTP response gets an ``X-Request-ID`` (the client's, or a new one) and,
    on client routes, the rate-limit headers. Every request gets a
    ``RequestRecord``: closed here, once, whatever happened, it becomes the
    request's metrics, access-log line and span status.
    """

    def __init__(
        self,
        routes: Starlette,
        hot: dict[str, openai.PostEndpoint],
        open_paths: frozenset[str] = OPEN_PATHS,
    ) -> None:
        self.routes = routes
        self.hot = hot
        self.open_paths = open_paths
        # Requests being answered now, whichever Gateway has them: the metrics read it
        # when they count (a plain int: a gauge update per request costs two locks).
        self.in_flight = 0
        self.templates = RouteTemplates(routes.routes, hot)

    @property
    def state(self) -> State:
        return self.routes.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.routes(scope, receive, send)
            return
        request_id = request_id_of(scope)
        context = request_id_var.set(request_id.decode("ascii"))
        # The request keeps this Gateway to its end, whatever a reload swaps in meanwhile.
        gateway: Gateway = self.state.gateway
        scope[GATEWAY] = gateway
        gateway.enter()
        metrics = gateway.metrics
        path: str = scope["path"]
        record = RequestRecord(scope["method"], self.templates.of(scope), time.perf_counter())
        scope[RECORD] = record
        span = None
        if gateway.tracing is not None:
            span = gateway.tracing.start_request(record.method, record.route, scope["headers"])
        self.in_flight += 1
        try:
            await self._answer(scope, receive, send, request_id, path, record)
        finally:
            close_record(record, metrics, gateway.config.logging.access_log)
            self.in_flight -= 1
            if span is not None:
                span.end(record.status)
            gateway.leave()
            request_id_var.reset(context)

    async def _answer(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        request_id: bytes,
        path: str,
        record: RequestRecord,
    ) -> None:
        gateway: Gateway = scope[GATEWAY]
        extra: list[tuple[bytes, bytes]] = []
        try:
            access = access_of(path, self.open_paths)
            if access == "client":
                extra = await self._admit(gateway, scope)
            elif access == "admin":
                gateway.guard.require_admin(scope)
        except ProxyError as error:
            record.status = error.http_status
            _count_refusal(gateway, error)
            await send_error(send, error, request_id)
            return
        record.key_id = scope.get(KEY_ID)
        record.client_ip = scope.get(CLIENT_IP) or (scope.get("client") or (None,))[0]
        if scope["method"] == "POST":
            endpoint = self.hot.get(path)
            if endpoint is not None:
                await endpoint(scope, receive, send, request_id, extra)
                return
        added = [(REQUEST_ID, request_id), *extra]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = message["status"]
                message["headers"] = [*message.get("headers", ()), *added]
            await send(message)

        await self.routes(scope, receive, send_with_headers)

    async def _admit(self, gateway: Gateway, scope: Scope) -> list[tuple[bytes, bytes]]:
        if not gateway.guard.checks_anything:
            return []  # no keys, no limits, no address lists: nothing to await
        if gateway.tracing is None:
            return await gateway.guard.admit(scope)
        with gateway.tracing.span("auth"):
            return await gateway.guard.admit(scope)


def _count_refusal(gateway: Gateway, error: ProxyError) -> None:
    metrics = gateway.metrics
    if metrics is None:
        return
    if isinstance(error, RateLimited):
        metrics.rate_limited.labels(error.scope).inc()
    elif isinstance(error, PermissionDenied):
        metrics.rate_limited.labels("blacklist").inc()
    elif isinstance(error, AuthenticationFailed):
        metrics.auth_failures.inc()


class RouteTemplates:
    """The ``endpoint`` label of a request: its route's template, never the raw path.

    Fixed paths are one dict lookup; templated ones (``/v1/models/{model_id}``)
    are matched against their routes; anything else is ``unmatched``, so a
    scanner trying random paths cannot grow the metrics without bound.
    """

    def __init__(self, routes: Sequence[BaseRoute], hot: Mapping[str, object]) -> None:
        self.fixed: dict[str, str] = {}
        self.patterns: list[Route] = []
        for route in routes:
            if not isinstance(route, Route):
                continue
            if route.param_convertors:
                self.patterns.append(route)
            else:
                self.fixed[route.path] = route.path
        for path in hot:
            self.fixed[path] = path

    def of(self, scope: Scope) -> str:
        path: str = scope["path"]
        found = self.fixed.get(path)
        if found is not None:
            return found
        for route in self.patterns:
            match, _ = route.matches(scope)
            if match is not Match.NONE:
                return route.path_format
        return "unmatched"


def build_app(
    config: Config,
    metrics: Metrics | None = None,
    *,
    source: str | None = None,
    span_exporter: SpanExporter | None = None,
) -> ASGIApp:
    """The gateway's ASGI app; ``metrics`` outlives it (one per process), made if not given.

    ``source`` is the file ``config`` was loaded from: reloads read it again (none
    when the config was built in code). ``span_exporter`` replaces the configured
    OTLP export (tests read spans from memory).
    """
    process_metrics = metrics if metrics is not None else Metrics(config.app.version)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        gateway = Gateway(
            config,
            metrics=process_metrics if config.metrics.enabled else None,
            span_exporter=span_exporter,
        )
        await gateway.start()
        app.state.gateway = gateway
        reloader = Reloader(app.state, source, process_metrics, span_exporter=span_exporter)
        app.state.reloader = reloader
        await reloader.start()
        # Everything built so far lives as long as the process: move it out of the
        # collector's sight, so collections on the request path stay short (p99).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await reloader.stop()
            await app.state.gateway.close()
            process_metrics.close()

    routes = Starlette(
        debug=False,
        routes=[
            *openai.routes,
            *prompts.routes,
            *health.routes,
            *metrics_api.routes_for(config.metrics.prometheus.path),
            *admin.routes,
            *config_api.routes,
            *selections.routes,
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
    door = GatewayApp(
        routes,
        openai.post_endpoints(routes.state),
        OPEN_PATHS | {config.metrics.prometheus.path},
    )
    process_metrics.in_flight_now = lambda: door.in_flight
    app: ASGIApp = door
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
    configure_from(loaded.config)
    return build_app(loaded.config, source=loaded.source)
