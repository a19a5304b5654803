"""The OpenAI-compatible routes under /v1. Thin: read, hand to the pipeline, answer.

The two hot POST routes are plain-ASGI ``PostEndpoint`` objects (see api/asgi.py);
the model listing goes through Starlette like every other route.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from proxyapi.api.asgi import (
    GATEWAY,
    REQUEST_ID,
    ClientGone,
    header,
    read_body,
    send_error,
    send_json,
)
from proxyapi.api.responses import SSEResponse, json_bytes
from proxyapi.errors import MethodNotAllowed, ProxyError
from proxyapi.gateway import Gateway
from proxyapi.observability.access import USAGE as _USAGE, RequestRecord, record_of
from proxyapi.pipeline import models, requests
from proxyapi.pipeline.body import (
    check_declared_length,
    check_media_type,
    check_required_headers,
    parse_object,
)
from proxyapi.pipeline.dispatch import Answer, OpenStream

logger = logging.getLogger("proxyapi.api")

Run = Callable[[Gateway, dict[str, Any], Scope], Awaitable[Answer | OpenStream]]
T = TypeVar("T")


def gateway_of(request: Request) -> Gateway:
    """The Gateway answering this request (pinned by the door; a reload never changes it)."""
    gateway: Gateway = request.scope.get(GATEWAY) or request.app.state.gateway
    return gateway


class PostEndpoint:
    """One hot POST route: read the JSON body, run the pipeline, answer."""

    def __init__(self, state: State, run: Run) -> None:
        self.state = state
        self.run = run

    async def __call__(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        request_id: bytes,
        extra: list[tuple[bytes, bytes]],
    ) -> None:
        """Answer one request; ``extra`` headers (rate limits) go on every response."""
        record = record_of(scope)
        try:
            reply = await self._reply(scope, receive)
        except ClientGone:
            return
        except ProxyError as error:
            if record is not None:
                record.status = error.http_status
            await send_error(send, error, request_id, extra)
            return
        except Exception:
            logger.exception("unhandled error on POST %s", scope["path"])
            failure = ProxyError("The gateway failed to process the request.")
            if record is not None:
                record.status = failure.http_status
            await send_error(send, failure, request_id, extra)
            return
        # Which provider answered, and after how many upstream calls (retries and
        # fallbacks included): the client cannot tell otherwise, the operator wants to.
        headers = [
            (REQUEST_ID, request_id),
            (b"x-proxyapi-provider", reply.provider.encode()),
            (b"x-proxyapi-attempts", str(reply.attempts).encode()),
            *extra,
        ]
        if reply.cache is not None:
            headers.append((b"x-cache", reply.cache.encode()))
        if record is not None:
            record.status = 200
            record.provider = reply.provider
            record.attempts = reply.attempts
            record.cache = reply.cache
        if isinstance(reply, OpenStream):
            rest = reply.rest
            if record is not None:
                if _USAGE in reply.first:  # a replayed stream is all in its first chunk
                    record.read_usage(reply.first)
                rest = watch_usage(rest, record)
            await SSEResponse(reply.first, rest, headers)(scope, receive, send)
        else:
            if record is not None:
                record.read_usage(reply.body)
                if record.content is not None:
                    record.content["response"] = reply.body.decode("utf-8", "replace")
            await send_json(send, 200, reply.body, headers)

    async def _reply(self, scope: Scope, receive: Receive) -> Answer | OpenStream:
        gateway: Gateway = scope.get(GATEWAY) or self.state.gateway
        limits = gateway.config.validation.request
        content_type = header(scope, b"content-type")
        check_media_type(
            content_type.decode("latin-1") if content_type else None, limits.allowed_content_types
        )
        if limits.required_headers:
            check_required_headers(
                lambda name: header(scope, name.lower().encode("latin-1")) is not None,
                limits.required_headers,
            )
        length = header(scope, b"content-length")
        check_declared_length(length.decode("latin-1") if length else None, limits.max_body_size)
        body = parse_object(await read_body(receive, limits.max_body_size))
        record = record_of(scope)
        if record is not None:
            record.stream = body.get("stream") is True
            if gateway.config.logging.log_content:
                record.content = content_of(body)
        return await run_until_disconnect(self.run(gateway, body, scope), receive)


def content_of(body: dict[str, Any]) -> dict[str, Any]:
    """What ``logging.log_content`` adds to the access line: the request's messages."""
    return {k: body[k] for k in ("messages", "input", "prompt") if k in body}


async def watch_usage(chunks: AsyncIterator[bytes], record: RequestRecord) -> AsyncIterator[bytes]:
    """Pass a stream through, reading the token counts of its usage chunk on the way."""
    async for chunk in chunks:
        if _USAGE in chunk:
            record.read_usage(chunk)
        yield chunk


async def run_until_disconnect(work: Awaitable[T], receive: Receive) -> T:
    """Await ``work``, cancelling it the moment the client hangs up.

    Cancelling closes the upstream connection too, so a provider is never left
    generating (and billing) for a client that is gone. One watcher task per
    request; the work itself stays in the current task.
    """
    task = asyncio.current_task()
    assert task is not None
    watcher = asyncio.ensure_future(_cancel_on_disconnect(receive, task))
    try:
        return await work
    except asyncio.CancelledError:
        if watcher.done() and not watcher.cancelled() and watcher.result():
            task.uncancel()
            raise ClientGone from None
        raise
    finally:
        watcher.cancel()


async def _cancel_on_disconnect(receive: Receive, task: asyncio.Task[Any]) -> bool:
    message = await receive()
    if message["type"] != "http.disconnect":
        return False
    task.cancel()
    return True


async def chat(gateway: Gateway, body: dict[str, Any], scope: Scope) -> Answer | OpenStream:
    if body.get("stream") is True:
        return await requests.stream_chat(gateway, body, scope)
    return await requests.complete_chat(gateway, body, scope)


def post_endpoints(state: State) -> dict[str, PostEndpoint]:
    """The hot routes by path; served before Starlette's router is consulted."""
    chat_endpoint = PostEndpoint(state, chat)
    embeddings_endpoint = PostEndpoint(state, requests.create_embeddings)
    return {
        "/v1/chat/completions": chat_endpoint,
        "/chat/completions": chat_endpoint,
        "/v1/embeddings": embeddings_endpoint,
        "/embeddings": embeddings_endpoint,
    }


async def post_only(request: Request) -> Response:
    """What the hot paths answer to any method but POST (POST never reaches Starlette)."""
    raise MethodNotAllowed(
        f"Method {request.method} is not allowed on {request.url.path}; use POST."
    )


async def list_models(request: Request) -> Response:
    return json_bytes(await models.models_body(gateway_of(request)))


async def retrieve_model(request: Request) -> Response:
    model_id: str = request.path_params["model_id"]
    return json_bytes(await models.model_body(gateway_of(request), model_id))


routes = [
    *(
        Route(path, post_only, methods=["GET", "PUT", "PATCH", "DELETE"])
        for path in ("/v1/chat/completions", "/chat/completions", "/v1/embeddings", "/embeddings")
    ),
    Route("/v1/models", list_models, methods=["GET"]),
    Route("/v1/models/{model_id:path}", retrieve_model, methods=["GET"]),
]
