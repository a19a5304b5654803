"""The prompt template routes: ``GET /v1/prompts`` and ``POST /v1/prompts/{name}/completions``.

A completion renders the template into a chat request, then goes down the same
path as ``/v1/chat/completions`` (streaming, response cache, fallback), answered
by the same ``PostEndpoint``. Template files and their format: prompts/templates.py.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from proxyapi.api.asgi import REQUEST_ID
from proxyapi.api.openai import PostEndpoint, chat, gateway_of
from proxyapi.api.responses import json_bytes
from proxyapi.errors import InvalidRequest, NotFound
from proxyapi.gateway import Gateway
from proxyapi.pipeline.dispatch import Answer, OpenStream
from proxyapi.prompts import PromptStore, build_chat_request


def store_of(gateway: Gateway) -> PromptStore:
    if gateway.prompts is None:
        raise NotFound("Prompt templates are disabled (templates.enabled: false).")
    return gateway.prompts


async def list_prompts(request: Request) -> Response:
    """Every template with its variables and defaults; a broken one shows its error."""
    store = store_of(gateway_of(request))
    data: list[dict[str, Any]] = []
    for name in store.names():
        try:
            data.append(store.get(name).describe())
        except InvalidRequest as error:
            data.append({"name": name, "object": "prompt", "error": error.to_dict()["error"]})
    return json_bytes(orjson.dumps({"object": "list", "data": data}))


async def complete_prompt(
    gateway: Gateway, body: dict[str, Any], scope: Scope
) -> Answer | OpenStream:
    name: str = scope["path_params"]["name"]
    return await chat(gateway, build_chat_request(store_of(gateway), name, body), scope)


class PromptCompletions:
    """``POST /v1/prompts/{name}/completions``: a ``PostEndpoint`` behind Starlette's router.

    The door already adds ``X-Request-ID`` and the rate-limit headers to whatever
    passes through Starlette, so the endpoint's own copy of the request id is dropped.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_once(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [h for h in message["headers"] if h[0] != REQUEST_ID]
            await send(message)

        endpoint = PostEndpoint(scope["app"].state, complete_prompt)
        await endpoint(scope, receive, send_once, b"", [])


routes = [
    Route("/v1/prompts", list_prompts, methods=["GET"]),
    Route("/v1/prompts/{name}/completions", PromptCompletions(), methods=["POST"]),
]
