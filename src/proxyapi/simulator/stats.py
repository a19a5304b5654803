"""What the simulator received: request counts per path and the last request.

Tests read it (GET /_sim/stats) to see what the gateway really sent upstream:
headers such as the provider key, and the body after translation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web


class RequestStats:
    """Counts per path plus a copy of the last request, kept raw until read."""

    __slots__ = ("_counts", "_last", "in_flight")

    def __init__(self) -> None:
        self.in_flight = 0  # requests being answered right now (handlers not yet returned)
        self._counts: dict[str, int] = {}
        self._last: tuple[str, str, str, Mapping[str, str], bytes] | None = None

    def record(self, request: web.Request, body: bytes) -> None:
        path = request.path
        self._counts[path] = self._counts.get(path, 0) + 1
        # The headers proxy is immutable: keep it as is, copy it only when read.
        self._last = (request.method, path, request.query_string, request.headers, body)

    def reset(self) -> None:
        self._counts.clear()
        self._last = None

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready view; the body is decoded only now, off the hot path."""
        return {
            "requests": dict(self._counts),
            "in_flight": self.in_flight,
            "last_request": self._last_request(),
        }

    def _last_request(self) -> dict[str, Any] | None:
        if self._last is None:
            return None
        method, path, query, headers, raw = self._last
        body: Any
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = raw.decode("utf-8", "replace")
        plain_headers = {str(name): value for name, value in headers.items()}
        return {
            "method": method,
            "path": path,
            "query": query,
            "headers": plain_headers,
            "body": body,
        }
