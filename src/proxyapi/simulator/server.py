"""The simulator's aiohttp application, and ways to run it.

``build_app`` wires the formats' routes and the /_sim control routes onto one
app whose state is built from the settings; ``start_simulator`` runs it on a
loopback port for tests, ``run`` serves it until interrupted.
"""

from __future__ import annotations

import asyncio
import sys
from types import TracebackType

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from . import openai_errors as errors
from .anthropic_format import add_anthropic_routes
from .azure_format import add_azure_routes
from .cohere_format import add_cohere_routes
from .google_format import add_google_routes
from .knobs import SimulatorSettings, load_settings
from .openai_format import add_openai_routes
from .state import SIM_STATE, SimulatorState

# load_settings is re-exported: callers (cli.py) import it from here with run().
__all__ = ["RunningSimulator", "build_app", "load_settings", "run", "start_simulator"]

_MAX_BODY = 64 * 1024 * 1024  # context-window tests send prompts of megabytes


@web.middleware
async def record_requests(
    request: web.Request,
    handler: Handler,
) -> web.StreamResponse:
    """Count every API request (not /_sim ones) and keep the last one for tests.

    Unknown paths and methods get OpenAI's JSON 404/405 instead of aiohttp's text.
    """
    if request.path.startswith("/_sim/"):
        return await handler(request)
    stats = request.app[SIM_STATE].stats
    body = await request.read() if request.body_exists else b""
    stats.record(request, body)
    stats.in_flight += 1
    try:
        return await handler(request)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed) as exc:
        return errors.invalid_url(request.method, request.path, exc.status).to_response()
    finally:
        stats.in_flight -= 1


async def _stats(request: web.Request) -> web.Response:
    snapshot = request.app[SIM_STATE].stats.snapshot()
    return web.Response(body=orjson.dumps(snapshot), content_type="application/json")


async def _reset(request: web.Request) -> web.Response:
    request.app[SIM_STATE].stats.reset()
    return web.Response(body=b'{"reset":true}', content_type="application/json")


def build_app(settings: SimulatorSettings) -> web.Application:
    """A fresh simulator app; all its state lives on the app, none in modules."""
    app = web.Application(middlewares=[record_requests], client_max_size=_MAX_BODY)
    app[SIM_STATE] = SimulatorState.from_settings(settings)
    add_openai_routes(app)
    add_azure_routes(app)
    add_cohere_routes(app)
    add_google_routes(app)
    add_anthropic_routes(app)
    app.router.add_get("/_sim/stats", _stats)
    app.router.add_post("/_sim/reset", _reset)
    return app


class RunningSimulator:
    """A simulator serving on a real port; ``close()`` (or ``async with``) stops it."""

    def __init__(self, runner: web.AppRunner, url: str) -> None:
        self._runner = runner
        self.url = url

    @property
    def app(self) -> web.Application:
        return self._runner.app

    async def close(self) -> None:
        await self._runner.cleanup()

    async def __aenter__(self) -> RunningSimulator:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


async def start_simulator(
    settings: SimulatorSettings | None = None, host: str = "127.0.0.1", port: int = 0
) -> RunningSimulator:
    """Serve a simulator on ``host:port`` (0 = any free port) and return its URL."""
    # handler_cancellation: a client that hangs up cancels its handler, as a real
    # provider stops generating; tests count in-flight requests to see it.
    runner = web.AppRunner(
        build_app(settings or SimulatorSettings()), access_log=None, handler_cancellation=True
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_port = runner.addresses[0][1]
    return RunningSimulator(runner, f"http://{host}:{bound_port}")


def run(host: str, port: int, settings: SimulatorSettings) -> None:
    """Serve until interrupted, on uvloop when it is installed."""
    try:
        import uvloop
    except ImportError:
        loop_factory = None
    else:
        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        try:
            runner.run(_serve_forever(host, port, settings))
        except KeyboardInterrupt:
            pass


async def _serve_forever(host: str, port: int, settings: SimulatorSettings) -> None:
    simulator = await start_simulator(settings, host, port)
    try:
        sys.stdout.write(f"simulator listening on {simulator.url}\n")
        sys.stdout.flush()
        await asyncio.Event().wait()
    finally:
        await simulator.close()
