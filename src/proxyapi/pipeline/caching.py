"""The response cache on the request path: look up before routing, store after answering.

Per request, the client decides too: ``Cache-Control: no-cache`` skips the
lookup (the answer is still stored), ``no-store`` skips the store, and
``x-proxyapi-cache-ttl: N`` keeps this answer N seconds. Answers say what
happened in ``X-Cache``: ``HIT``, ``MISS`` or ``BYPASS`` (lookup skipped).

Only complete, successful answers are stored: errors never reach ``store``
(they are raised), and a stream is stored only once it ended with
``data: [DONE]`` and carried no error event, never a stream cut short.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from starlette.types import Scope

from proxyapi.cache.base import ICache
from proxyapi.cache.keys import response_key
from proxyapi.cache.warming import Fetcher, Warmer
from proxyapi.errors import InvalidRequest

logger = logging.getLogger("proxyapi.cache")

CATEGORY: Final = "responses"
KEY_ID: Final = "proxyapi.key_id"  # set in the ASGI scope by the guard
STREAM_END: Final = b"data: [DONE]\n\n"
ERROR_EVENT: Final = b'data: {"error"'  # how OpenAI (and the gateway) report a failure mid-stream
_TTL_HEADER: Final = b"x-proxyapi-cache-ttl"
_MAX_TTL: Final = 30 * 86400


@dataclass(frozen=True, slots=True)
class Directives:
    """What the client allows for this request."""

    lookup: bool = True
    store: bool = True
    ttl: float | None = None


def directives_of(scope: Scope) -> Directives:
    """``Cache-Control`` and ``x-proxyapi-cache-ttl`` of a request."""
    lookup = store = True
    ttl: float | None = None
    for name, value in scope["headers"]:
        if name == b"cache-control":
            parts = {p.strip().split(b"=")[0].lower() for p in value.split(b",")}
            lookup = lookup and b"no-cache" not in parts
            store = store and b"no-store" not in parts
        elif name == _TTL_HEADER:
            ttl = _parse_ttl(value)
    return Directives(lookup, store, ttl)


def _parse_ttl(value: bytes) -> float:
    text = value.decode("latin-1").strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 9) or not 0 < int(text) <= _MAX_TTL:
        raise InvalidRequest(
            f"x-proxyapi-cache-ttl must be a whole number of seconds from 1 to {_MAX_TTL}, "
            f"not {text[:32]!r}."
        )
    return float(text)


@dataclass(slots=True)
class Ticket:
    """One request's place in the cache: its key, and what it may do there."""

    key: str
    directives: Directives
    status: str = "MISS"  # HIT, MISS or BYPASS: the X-Cache header


class ResponseCache:
    """Looks answers up and stores them, in the ``responses`` category of a cache."""

    def __init__(
        self,
        cache: ICache,
        *,
        per_key: bool,
        default_ttl: float,
        warmer: Warmer | None = None,
    ) -> None:
        self.cache = cache
        self.per_key = per_key
        self.default_ttl = default_ttl
        self.warmer = warmer
        # Keys being fetched right now: identical requests wait for that answer
        # instead of each going upstream (a burst of one question costs one call).
        self._inflight: dict[str, asyncio.Future[bytes | None]] = {}
        self._pending: set[asyncio.Task[Any]] = set()

    def ticket(self, scope: Scope, provider: str, endpoint: str, body: Mapping[str, Any]) -> Ticket:
        owner = (scope.get(KEY_ID) or "anonymous") if self.per_key else "global"
        return Ticket(response_key(provider, endpoint, body, owner), directives_of(scope))

    async def lookup(self, ticket: Ticket) -> bytes | None:
        if not ticket.directives.lookup:
            ticket.status = "BYPASS"
            return None
        found = await self.cache.get(ticket.key, CATEGORY)
        if not isinstance(found, bytes):
            found = await self._join(ticket)
        if found is None:
            return None
        ticket.status = "HIT"
        if self.warmer is not None:
            self.warmer.hit(ticket.key)
        return found

    async def _join(self, ticket: Ticket) -> bytes | None:
        """The answer of an identical request already on its way upstream, if there is one."""
        pending = self._inflight.get(ticket.key)
        if pending is None:
            return None
        return await asyncio.shield(pending)  # None: that request failed, go upstream

    def lead(self, ticket: Ticket) -> None:
        """Say this request fetches ``ticket``'s answer; identical ones will wait for it."""
        if ticket.directives.store and ticket.key not in self._inflight:
            self._inflight[ticket.key] = asyncio.get_running_loop().create_future()

    def settle(self, ticket: Ticket, body: bytes | None) -> None:
        """The fetch ended: hand ``body`` (None on failure) to whoever waited."""
        pending = self._inflight.pop(ticket.key, None)
        if pending is not None and not pending.done():
            pending.set_result(body)

    def store(self, ticket: Ticket, body: bytes, refetch: Fetcher | None = None) -> None:
        """Store in the background: the client is not kept waiting for the cache.

        ``refetch`` fetches the same answer again: the warmer keeps popular ones fresh.
        """
        if not ticket.directives.store:
            return
        ttl = ticket.directives.ttl or self.default_ttl
        if refetch is not None and self.warmer is not None:
            self.warmer.track(ticket.key, refetch, ttl, CATEGORY)
        task = asyncio.ensure_future(self.cache.set(ticket.key, body, ttl, CATEGORY))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def store_stream(
        self, ticket: Ticket, first: bytes, rest: AsyncIterator[bytes]
    ) -> AsyncIterator[bytes]:
        """Pass a stream through; store it once it has ended normally."""
        chunks = [first]
        async for chunk in rest:
            chunks.append(chunk)
            yield chunk
        whole = b"".join(chunks)
        if whole.endswith(STREAM_END) and ERROR_EVENT not in whole:
            self.store(ticket, whole)

    async def drain(self) -> None:
        """Wait for stores still in flight (shutdown: nothing in flight is lost)."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)


class NothingMore:
    """The rest of a replayed stream: empty, the whole of it goes out as the first chunk."""

    def __aiter__(self) -> NothingMore:
        return self

    async def __anext__(self) -> bytes:
        raise StopAsyncIteration
