"""One aiohttp session per provider, and the one boundary where aiohttp errors become ours.

Sessions, connectors and their pools live for the life of a Gateway; nothing
here is created per request. The counters feed ``/health`` (``checks.http_client``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp

from proxyapi.errors import UpstreamConnectError, UpstreamError, UpstreamTimeout
from proxyapi.providers.base import UpstreamRequest


@dataclass(frozen=True, slots=True)
class PoolSettings:
    """Connection-pool settings of one provider (seed 004's provider fields)."""

    max_connections: int = 100
    max_keepalive_connections: int = 100
    keepalive_expiry: float = 30.0
    connect_timeout: float = 10.0


@dataclass(slots=True)
class ClientStats:
    """Running counters; plain ints so the hot path pays one addition each."""

    requests: int = 0
    errors: int = 0
    total_seconds: float = 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "requests_total": self.requests,
            "errors_total": self.errors,
            "error_rate": round(self.errors / self.requests, 4) if self.requests else 0.0,
            "avg_response_time_ms": (
                round(self.total_seconds / self.requests * 1000, 2) if self.requests else 0.0
            ),
        }


class CountingConnector(aiohttp.TCPConnector):
    """A TCPConnector that counts the connections it opens (the reuse rate) and keeps
    at most ``max_keepalive`` idle ones: aiohttp itself has no such setting.
    """

    opened = 0

    def __init__(self, *, max_keepalive: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_keepalive = max_keepalive

    async def _create_connection(self, *args: Any, **kwargs: Any) -> Any:
        connection = await super()._create_connection(*args, **kwargs)
        self.opened += 1
        return connection

    def _release(self, key: Any, protocol: Any, *, should_close: bool = False) -> None:
        idle = sum(len(conns) for conns in self._conns.values())
        super()._release(key, protocol, should_close=should_close or idle >= self.max_keepalive)


class UpstreamResponse:
    """An open upstream response. Close it (``async with``) to give the connection back."""

    __slots__ = ("_client", "_response", "_started", "headers", "status")

    def __init__(
        self, client: UpstreamClient, response: aiohttp.ClientResponse, started: float
    ) -> None:
        self._client = client
        self._response = response
        self._started = started
        self.status = response.status
        self.headers = response.headers

    async def read(self) -> bytes:
        with self._client.mapped_errors():
            return await self._response.read()

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        """Body bytes as they arrive, however the network split them."""
        with self._client.mapped_errors():
            async for chunk in self._response.content.iter_any():
                yield chunk

    def close(self) -> None:
        """Give the connection back to the pool; the body must have been read."""
        self._response.release()
        self._client.stats.total_seconds += time.perf_counter() - self._started

    def abort(self) -> None:
        """Drop the connection: its body was not fully read, so it cannot be reused."""
        self._response.close()
        self._client.stats.total_seconds += time.perf_counter() - self._started

    async def __aenter__(self) -> UpstreamResponse:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
        else:
            self.abort()


class UpstreamClient:
    """The HTTP client of one provider."""

    def __init__(self, provider: str, pool: PoolSettings) -> None:
        self.provider = provider
        self.pool = pool
        self.stats = ClientStats()
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[float, bool], aiohttp.ClientTimeout] = {}
        self._cooldown_until = (
            0.0  # monotonic time before which the provider asked not to be called
        )

    def _open_session(self) -> aiohttp.ClientSession:
        connector = CountingConnector(
            max_keepalive=self.pool.max_keepalive_connections,
            limit=self.pool.max_connections,
            keepalive_timeout=self.pool.keepalive_expiry,
            ttl_dns_cache=300,
            enable_cleanup_closed=False,
        )
        return aiohttp.ClientSession(
            connector=connector,
            auto_decompress=True,
            skip_auto_headers=("User-Agent",),
            timeout=aiohttp.ClientTimeout(total=None),
        )

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = self._open_session()
        return self._session

    def connection_counts(self) -> dict[str, float | int]:
        """Active (in use) and idle (kept alive) connections, and how often one was reused."""
        connector = self._session.connector if self._session is not None else None
        if not isinstance(connector, CountingConnector):
            return {"active": 0, "idle": 0, "opened": 0, "reuse_rate": 0.0}
        acquired = getattr(connector, "_acquired", ())
        conns = getattr(connector, "_conns", {})
        requests = self.stats.requests
        reused = max(0, requests - connector.opened)
        return {
            "active": len(acquired),
            "idle": sum(len(v) for v in conns.values()),
            "opened": connector.opened,
            "reuse_rate": round(reused / requests, 4) if requests else 0.0,
        }

    async def open(
        self, request: UpstreamRequest, *, seconds: float, stream: bool = False
    ) -> UpstreamResponse:
        """Send a request and return once the status and headers have arrived.

        ``seconds`` bounds the whole exchange for a plain request; for a stream it
        bounds the wait for each piece, so a long but live stream is not cut.
        """
        self.stats.requests += 1
        started = time.perf_counter()
        client_timeout = self._timeout(seconds, stream)
        with self.mapped_errors():
            response = await self.session.request(
                request.method,
                request.url,
                headers=request.headers,
                data=request.body,
                timeout=client_timeout,
                allow_redirects=False,
            )
        return UpstreamResponse(self, response, started)

    def cool_down(self, seconds: float) -> None:
        """Remember a provider's ``Retry-After``: no call before it has passed."""
        self._cooldown_until = max(self._cooldown_until, time.monotonic() + seconds)

    def cooldown_left(self) -> float:
        """Seconds the provider still asked us to wait (0 when it did not)."""
        if not self._cooldown_until:
            return 0.0
        return max(0.0, self._cooldown_until - time.monotonic())

    def _timeout(self, seconds: float, stream: bool) -> aiohttp.ClientTimeout:
        """The aiohttp timeout for one exchange; the two usual ones are built once."""
        key = (seconds, stream)
        cached = self._timeouts.get(key)
        if cached is not None:
            return cached
        timeout = (
            aiohttp.ClientTimeout(sock_connect=self.pool.connect_timeout, sock_read=seconds)
            if stream
            else aiohttp.ClientTimeout(total=seconds, sock_connect=self.pool.connect_timeout)
        )
        if len(self._timeouts) < 8:  # Only a deadline running short makes odd values.
            self._timeouts[key] = timeout
        return timeout

    def mapped_errors(self) -> _ErrorMapper:
        return _ErrorMapper(self)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _ErrorMapper:
    """Context manager turning aiohttp/asyncio failures into ``UpstreamError`` subclasses."""

    __slots__ = ("_client",)

    def __init__(self, client: UpstreamClient) -> None:
        self._client = client

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None or isinstance(exc, UpstreamError):
            return
        provider = self._client.provider
        if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
            self._client.stats.errors += 1
            raise UpstreamTimeout(
                f"Provider '{provider}' did not answer in time.", provider=provider
            ) from exc
        if isinstance(exc, aiohttp.ClientError | OSError):
            self._client.stats.errors += 1
            raise UpstreamConnectError(
                f"Could not reach provider '{provider}' ({type(exc).__name__}).",
                provider=provider,
            ) from exc
