"""The OpenAI-compatible routes under /v1. Thin: read, hand to the pipeline, answer."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from proxyapi.api.responses import SSEResponse, json_bytes
from proxyapi.gateway import Gateway
from proxyapi.pipeline import models, requests
from proxyapi.pipeline.body import read_json


def gateway_of(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


async def _read(request: Request, gateway: Gateway) -> dict[str, object]:
    limits = gateway.config.validation.request
    return await read_json(request, limits.max_body_size, limits.allowed_content_types)


async def chat_completions(request: Request) -> Response | SSEResponse:
    gateway = gateway_of(request)
    body = await _read(request, gateway)
    if body.get("stream") is True:
        stream = await requests.stream_chat(gateway, body)
        return SSEResponse(stream.first, stream.rest)
    answer = await requests.complete_chat(gateway, body)
    return json_bytes(answer.body)


async def embeddings(request: Request) -> Response:
    gateway = gateway_of(request)
    body = await _read(request, gateway)
    answer = await requests.create_embeddings(gateway, body)
    return json_bytes(answer.body)


async def list_models(request: Request) -> Response:
    return json_bytes(await models.models_body(gateway_of(request)))


async def retrieve_model(request: Request) -> Response:
    model_id: str = request.path_params["model_id"]
    return json_bytes(await models.model_body(gateway_of(request), model_id))


routes = [
    Route("/v1/chat/completions", chat_completions, methods=["POST"]),
    Route("/chat/completions", chat_completions, methods=["POST"]),
    Route("/v1/embeddings", embeddings, methods=["POST"]),
    Route("/embeddings", embeddings, methods=["POST"]),
    Route("/v1/models", list_models, methods=["GET"]),
    Route("/v1/models/{model_id:path}", retrieve_model, methods=["GET"]),
]
