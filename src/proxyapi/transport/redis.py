"""The gateway's Redis connection (``redis:`` / ``REDIS_URL``): lean, pipelined, one per process.

A rate-limit check sits on every request's path, so its Redis call must cost
little more than the network round trip. redis-py's asyncio client adds 50-90 µs
per command on this project's VM above the wire (PING: 84 µs over a raw socket,
130-170 µs through redis-py; see the README's performance section), which alone
would break the 0.2 ms budget. This speaks just enough RESP for the gateway's
own commands: requests are written as they come, on one connection, and replies
are matched to callers in order (Redis answers in order), parsed by hiredis.
URL parsing and the exception classes are redis-py's.

Failures raise ``redis.exceptions.ConnectionError`` / ``TimeoutError`` /
``ResponseError``; the connection is dropped and made again on the next call.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import ssl
from collections.abc import Sequence
from typing import Any, cast

import hiredis
from redis.asyncio.connection import SSLConnection, parse_url
from redis.exceptions import (
    ConnectionError as RedisConnectionError,
    NoScriptError,
    ResponseError,
    TimeoutError as RedisTimeoutError,
)

from proxyapi.config.caching import RedisConfig, redact_url

Arg = str | bytes | int | float


def pack(args: Sequence[Arg]) -> bytes:
    """One command in RESP: an array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        raw = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(out)


def _reply_error(message: str) -> ResponseError:
    if message.startswith("NOSCRIPT"):
        return NoScriptError(message)
    return ResponseError(message)


class _Wire(asyncio.Protocol):
    """One connection: pending calls in send order, each answered by the next reply."""

    def __init__(self, timeout: float) -> None:
        self.loop = asyncio.get_running_loop()
        self.timeout = timeout
        self.transport: asyncio.Transport | None = None
        self.pending: collections.deque[tuple[asyncio.Future[Any], float]] = collections.deque()
        self.reader = hiredis.Reader()
        self.closed = False
        self._watchdog: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while True:
            try:
                reply = self.reader.gets()
            except hiredis.ProtocolError as error:
                self.fail(RedisConnectionError(f"Redis protocol error: {error}"))
                return
            if reply is False:
                return
            if not self.pending:
                self.fail(RedisConnectionError("Redis sent a reply nobody asked for"))
                return
            future, _ = self.pending.popleft()
            if future.done():
                continue  # its caller gave up (cancelled); the reply is consumed all the same
            if isinstance(reply, hiredis.ReplyError):
                future.set_exception(_reply_error(str(reply)))
            else:
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(RedisConnectionError("Redis closed the connection"))

    def call(self, packed: bytes) -> asyncio.Future[Any]:
        if self.closed or self.transport is None:
            raise RedisConnectionError("the Redis connection is closed")
        future: asyncio.Future[Any] = self.loop.create_future()
        self.pending.append((future, self.loop.time() + self.timeout))
        self.transport.write(packed)
        if self._watchdog is None:
            self._watchdog = self.loop.call_later(self.timeout, self._check_deadlines)
        return future

    def _check_deadlines(self) -> None:
        """One timer per connection, not per call: fail everything once the oldest is late."""
        self._watchdog = None
        if not self.pending:
            return
        late = self.pending[0][1] - self.loop.time()
        if late <= 0:
            self.fail(RedisTimeoutError(f"Redis did not answer within {self.timeout} s"))
        else:
            self._watchdog = self.loop.call_later(late, self._check_deadlines)

    def fail(self, error: Exception) -> None:
        """Fail every pending call with ``error`` and drop the connection."""
        self.closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        while self.pending:
            future, _ = self.pending.popleft()
            if not future.done():
                future.set_exception(error)
        if self.transport is not None:
            self.transport.abort()


class RedisPipe:
    """Commands to one Redis server over one pipelined connection, made lazily."""

    def __init__(self, config: RedisConfig) -> None:
        self.url = config.connection_url()
        self.where = redact_url(self.url)
        self.timeout = config.socket_timeout
        self._options: dict[str, Any] = dict(parse_url(self.url))
        self._wire: _Wire | None = None
        self._connecting = asyncio.Lock()

    async def execute(self, *args: Arg) -> Any:
        """Send one command and wait for its reply."""
        wire = self._wire
        if wire is None or wire.closed:
            wire = await self._connect()
        return await wire.call(pack(args))

    async def run_script(self, script: Script, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        """EVALSHA, loading the script once if the server does not know it (a restart)."""
        try:
            return await self.execute("EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await self.execute("EVAL", script.source, len(keys), *keys, *args)

    async def ping(self) -> bool:
        return bool(await self.execute("PING") == b"PONG")

    async def _connect(self) -> _Wire:
        async with self._connecting:
            if self._wire is not None and not self._wire.closed:
                return self._wire
            wire = _Wire(self.timeout)
            try:
                async with asyncio.timeout(self.timeout):
                    await self._open(wire)
                    await self._handshake(wire)
            except TimeoutError:
                wire.fail(RedisTimeoutError("timed out"))
                raise RedisTimeoutError(f"connecting to Redis at {self.where} timed out") from None
            except OSError as error:
                wire.fail(RedisConnectionError("connect failed"))
                raise RedisConnectionError(
                    f"cannot connect to Redis at {self.where}: {error.strerror or error}"
                ) from None
            except BaseException as error:  # AUTH or SELECT refused, or cancelled
                wire.fail(RedisConnectionError("handshake failed"))
                raise error
            self._wire = wire
            return wire

    async def _open(self, wire: _Wire) -> None:
        loop = asyncio.get_running_loop()
        options = self._options
        if "path" in options:
            await loop.create_unix_connection(lambda: wire, options["path"])
        else:
            is_tls = options.get("connection_class") is SSLConnection
            tls = ssl.create_default_context() if is_tls else None
            host, port = options.get("host", "localhost"), options.get("port", 6379)
            await loop.create_connection(lambda: wire, host, port, ssl=tls)

    async def _handshake(self, wire: _Wire) -> None:
        options = self._options
        password = options.get("password")
        if password:
            username = options.get("username")
            auth = ("AUTH", username, password) if username else ("AUTH", password)
            await wire.call(pack(auth))
        if options.get("db"):
            await wire.call(pack(("SELECT", options["db"])))

    async def close(self) -> None:
        if self._wire is not None:
            self._wire.fail(RedisConnectionError("the Redis connection was closed"))
        self._wire = None


class Script:
    """A Lua script and its SHA1, as EVALSHA names it."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()
