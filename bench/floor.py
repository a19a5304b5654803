"""The floor: a bare forwarder, the ceiling any Python gateway on this stack can reach.

python bench/floor.py --port 18001 --upstream http://127.0.0.1:18080
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route


def build_app(upstream: str) -> Starlette:
    url = upstream.rstrip("/") + "/v1/chat/completions"
    headers = {"Content-Type": "application/json", "Authorization": "Bearer upstream-key"}
    pool: dict[str, aiohttp.ClientSession] = {}

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        pool["s"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        yield
        await pool["s"].close()

    async def chat(request: Request) -> Response:
        raw = await request.body()
        body = orjson.loads(raw)
        resp = await pool["s"].post(url, data=raw, headers=headers)
        if not body.get("stream"):
            async with resp:
                return Response(await resp.read(), resp.status, media_type="application/json")

        async def relay() -> AsyncIterator[bytes]:
            async with resp:
                async for chunk in resp.content.iter_any():
                    yield chunk

        return StreamingResponse(relay(), resp.status, media_type="text/event-stream")

    return Starlette(
        routes=[Route("/v1/chat/completions", chat, methods=["POST"])], lifespan=lifespan
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18001)
    parser.add_argument("--upstream", default="http://127.0.0.1:18080")
    args = parser.parse_args()
    uvicorn.run(
        build_app(args.upstream),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
