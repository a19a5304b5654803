"""The prelude every format's endpoint shares: knobs, latency, errors rendered once.

Each format authenticates and injects errors in its own shape; reading the
``x-sim-*`` knobs and waiting the fixed latency is the same everywhere, and so
is wrapping a handler so that a format's error becomes its response.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web

from .knobs import KnobError, RequestKnobs, resolve_knobs
from .state import SIM_STATE, SimulatorState

Handler = Callable[[web.Request, RequestKnobs], Awaitable[web.StreamResponse]]
Prelude = Callable[[web.Request, SimulatorState], Awaitable[RequestKnobs]]
Endpoint = Callable[[web.Request], Awaitable[web.StreamResponse]]
E = TypeVar("E", bound=Exception)


async def read_knobs(
    request: web.Request, state: SimulatorState, invalid: Callable[[KnobError], Exception]
) -> RequestKnobs:
    """The request's knobs (a bad one raised as ``invalid(exc)``), after the fixed latency."""
    try:
        knobs = resolve_knobs(state.default_knobs, request.headers)
    except KnobError as exc:
        raise invalid(exc) from None
    if knobs.latency_ms > 0:
        await asyncio.sleep(knobs.latency_ms / 1000)
    return knobs


def endpoint(
    handler: Handler,
    prelude: Prelude,
    errors: type[E] | tuple[type[E], ...],
    render: Callable[[E], web.StreamResponse],
) -> Endpoint:
    """``handler`` behind ``prelude``, with every error of ``errors`` rendered by ``render``."""

    async def run(request: web.Request) -> web.StreamResponse:
        try:
            knobs = await prelude(request, request.app[SIM_STATE])
            return await handler(request, knobs)
        except errors as exc:
            return render(exc)

    return run
