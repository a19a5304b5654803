"""Test helpers for the simulator suite: reading raw SSE, the starter fixture's type."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson

from proxyapi.simulator import RunningSimulator

StartSimulator = Callable[..., Awaitable[RunningSimulator]]


async def read_sse(
    session: aiohttp.ClientSession,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> list[Any]:
    """POST and return each SSE ``data:`` payload parsed (``"[DONE]"`` kept as text)."""
    events: list[Any] = []
    async with session.post(url, json=body, headers=headers) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        text = (await response.read()).decode()
    for block in text.split("\n\n"):
        if not block:
            continue
        assert block.startswith("data: "), block
        data = block.removeprefix("data: ")
        events.append(data if data == "[DONE]" else orjson.loads(data))
    return events
