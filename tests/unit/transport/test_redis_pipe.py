"""The gateway's own Redis connection: replies in order, failures as redis-py's exceptions.

Against the real redis-server on 127.0.0.1:6379 (and private ones for AUTH and
outages), plus tiny fake servers for what a real one will not do on demand:
answer slowly, never answer, or hang up mid-call.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
import redis
from redis.exceptions import (
    ConnectionError as RedisConnectionError,
    ResponseError,
    TimeoutError as RedisTimeoutError,
)

from proxyapi.config.caching import RedisConfig
from proxyapi.transport.redis import RedisPipe, Script, pack

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pipe_for(url: str, timeout: float = 0.5) -> RedisPipe:
    return RedisPipe(RedisConfig(url=url, socket_timeout=timeout))


@pytest.fixture
async def pipe() -> AsyncIterator[RedisPipe]:
    made = pipe_for("redis://127.0.0.1:6379/0")
    yield made
    await made.close()


async def serve(handler: Handler) -> tuple[asyncio.Server, str]:
    async def closing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(closing, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"redis://127.0.0.1:{port}/0"


@pytest.fixture
def private_redis() -> Iterator[Callable[..., str]]:
    """Start redis-server processes on free ports; all are stopped afterwards."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*extra: str, port: int | None = None) -> str:
        port = port or free_port()
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        started.append(subprocess.Popen([*argv, *extra], stdout=subprocess.DEVNULL))
        url = f"redis://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return url
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=10)


def test_commands_are_packed_as_resp_arrays_of_bulk_strings() -> None:
    assert pack(["SET", b"k", 1, 2.5]) == b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n1\r\n$3\r\n2.5\r\n"


async def test_a_command_gets_its_reply(pipe: RedisPipe) -> None:
    assert await pipe.ping()
    assert await pipe.execute("ECHO", "héllo") == "héllo".encode()


async def test_concurrent_callers_each_get_their_own_reply(pipe: RedisPipe) -> None:
    replies = await asyncio.gather(*(pipe.execute("ECHO", str(i)) for i in range(500)))
    assert replies == [str(i).encode() for i in range(500)]


async def test_an_error_reply_is_a_response_error_and_the_connection_goes_on(
    pipe: RedisPipe,
) -> None:
    with pytest.raises(ResponseError, match="unknown command"):
        await pipe.execute("NO-SUCH-COMMAND")
    assert await pipe.ping()


async def test_a_script_the_server_forgot_is_loaded_again(pipe: RedisPipe) -> None:
    script = Script("return ARGV[1] .. KEYS[1]")
    assert await pipe.run_script(script, ["k"], ["v"]) == b"vk"
    await pipe.execute("SCRIPT", "FLUSH")  # what a restart does
    assert await pipe.run_script(script, ["k2"], ["v"]) == b"vk2"
    assert await pipe.execute("SCRIPT", "EXISTS", script.sha) == [1]


async def test_a_caller_that_gives_up_does_not_shift_the_replies_of_others() -> None:
    async def numbered(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        count = 0
        while data := await reader.read(65536):
            for _ in range(data.count(b"*")):  # one array per command
                count += 1
                await asyncio.sleep(0.05)
                writer.write(b"+reply-%d\r\n" % count)

    server, url = await serve(numbered)
    pipe = pipe_for(url)
    try:
        first = asyncio.ensure_future(pipe.execute("PING"))
        await asyncio.sleep(0.01)
        first.cancel()
        assert await pipe.execute("PING") == b"reply-2"
    finally:
        await pipe.close()
        server.close()


async def test_a_server_that_never_answers_times_out_and_the_next_call_reconnects() -> None:
    connections = 0

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.read()

    server, url = await serve(silent)
    pipe = pipe_for(url, timeout=0.2)
    try:
        started = time.monotonic()
        with pytest.raises(RedisTimeoutError):
            await pipe.execute("PING")
        assert 0.15 < time.monotonic() - started < 1.0
        with pytest.raises(RedisTimeoutError):
            await pipe.execute("PING")
        assert connections == 2
    finally:
        await pipe.close()
        server.close()


async def test_a_server_that_hangs_up_fails_the_pending_calls_at_once() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.close()

    server, url = await serve(hang_up)
    pipe = pipe_for(url, timeout=5)
    try:
        started = time.monotonic()
        with pytest.raises(RedisConnectionError):
            await asyncio.gather(pipe.execute("PING"), pipe.execute("PING"))
        assert time.monotonic() - started < 1.0
    finally:
        await pipe.close()
        server.close()


async def test_nothing_listening_is_a_connection_error_at_once() -> None:
    pipe = pipe_for(f"redis://127.0.0.1:{free_port()}/0", timeout=2)
    started = time.monotonic()
    with pytest.raises(RedisConnectionError, match="cannot connect to Redis"):
        await pipe.execute("PING")
    assert time.monotonic() - started < 0.5


async def test_password_and_database_from_the_url(private_redis: Callable[..., str]) -> None:
    url = private_redis("--requirepass", "s3cret-pw")
    pipe = pipe_for(url.replace("redis://", "redis://:s3cret-pw@") + "/3")
    try:
        await pipe.execute("SET", "where", "db3")
    finally:
        await pipe.close()
    with redis.Redis.from_url(url + "/3", password="s3cret-pw") as check:
        assert check.get("where") == b"db3"


async def test_a_wrong_password_is_an_error_that_does_not_show_it(
    private_redis: Callable[..., str],
) -> None:
    url = private_redis("--requirepass", "right-pw")
    pipe = pipe_for(url.replace("redis://", "redis://:wrong-pw@") + "/0")
    try:
        with pytest.raises(redis.RedisError) as caught:
            await pipe.execute("PING")
    finally:
        await pipe.close()
    assert "wrong-pw" not in str(caught.value)
    assert "wrong-pw" not in pipe.where


async def test_a_restarted_server_is_reached_again(private_redis: Callable[..., str]) -> None:
    url = private_redis()
    pipe = pipe_for(url + "/0")
    try:
        assert await pipe.ping()
        with redis.Redis.from_url(url) as admin:
            admin.shutdown(nosave=True)  # type: ignore[no-untyped-call]
        await asyncio.sleep(0.1)
        with pytest.raises(RedisConnectionError):
            await pipe.execute("PING")
        private_redis(port=int(url.rsplit(":", 1)[1]))
        assert await pipe.ping()
    finally:
        await pipe.close()
