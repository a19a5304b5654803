"""The paced SSE writer every format's stream shares.

Headers go out at once; the first event waits for the TTFT. Event k is due at
ttft + (tokens before it) / tps, measured from one start time so sleep overshoot
does not accumulate. After ``error_after_chunks`` events the format's failure
event is sent instead and the stream ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from aiohttp import web

from .knobs import RequestKnobs

SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
DONE = b"data: [DONE]\n\n"

T = TypeVar("T")


def as_is(event: bytes) -> bytes:
    return event


async def stream_paced(
    request: web.Request,
    events: Iterable[tuple[T, int]],
    knobs: RequestKnobs,
    *,
    encode: Callable[[T], bytes],
    failure: Callable[[], bytes],
    headers: Mapping[str, str] = SSE_HEADERS,
    preamble: bytes | None = None,
    done: bytes | None = None,
) -> web.StreamResponse:
    """Prepare an SSE response and write ``events`` to it, paced by ``knobs``.

    ``preamble`` is written after the TTFT, before the paced events (and not
    counted by ``error_after_chunks``); ``done`` ends a stream that did not fail.
    A client that goes away mid-stream ends it quietly.
    """
    response = web.StreamResponse(headers=headers)
    await response.prepare(request)
    loop = asyncio.get_running_loop()
    start = loop.time() + knobs.ttft_ms / 1000
    seconds_per_token = 1 / knobs.tokens_per_second if knobs.tokens_per_second > 0 else 0.0
    tokens_sent = 0
    try:
        if preamble is not None:
            if knobs.ttft_ms > 0:
                await asyncio.sleep(knobs.ttft_ms / 1000)
            await response.write(preamble)
        for sent, (event, tokens) in enumerate(events):
            if sent == knobs.error_after_chunks:
                await response.write(failure())
                return response
            wait = start + tokens_sent * seconds_per_token - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            await response.write(encode(event))
            tokens_sent += tokens
        if done is not None:
            await response.write(done)
    except ConnectionResetError:
        pass  # The client went away mid-stream, as clients do; nothing left to send.
    return response
