"""OpenAI's API on its real paths: /v1/chat/completions, /v1/embeddings, /v1/models.

Each handler runs the same prelude (auth, knobs, latency, error injection) and
answers with OpenAI's wire format; every failure is a ``SimulatedError``
rendered once, in OpenAI's error shape.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import orjson
from aiohttp import web

from . import openai_errors as errors
from .knobs import KnobError, RequestKnobs
from .openai_chat import ChatPlan, build_completion, iter_chunks, plan_chat
from .openai_errors import SimulatedError
from .openai_request import int_param, parse_body, require_messages, require_model
from .pacing import DONE, as_is, stream_paced
from .prelude import Endpoint, Handler, endpoint, read_knobs
from .state import SIM_STATE, SimulatorState
from .text import estimate_tokens
from .vectors import embedding_vector, encode_base64

MODEL_CREATED = 1_700_000_000
_EMBEDDING_DIMENSIONS = {"text-embedding-3-large": 3072}


def add_openai_routes(app: web.Application) -> None:
    app.router.add_post("/v1/chat/completions", _endpoint(chat_completions))
    app.router.add_post("/v1/embeddings", _endpoint(embeddings))
    app.router.add_get("/v1/models", _endpoint(list_models))
    app.router.add_get("/v1/models/{model_id:.+}", _endpoint(retrieve_model))


def _endpoint(handler: Handler) -> Endpoint:
    return endpoint(handler, _prelude, SimulatedError, SimulatedError.to_response)


async def _prelude(request: web.Request, state: SimulatorState) -> RequestKnobs:
    """Authenticate, read the knobs, wait the fixed latency, maybe inject an error."""
    if state.settings.api_key is not None:
        _authenticate(request.headers.get("Authorization", ""), state.settings.api_key)
    knobs = await read_knobs(request, state, _invalid_knob)
    if state.should_fail(knobs.error_rate):
        model = request.match_info.get("model_id") or await _peek_model(request)
        raise errors.injected_error(knobs.error_status, model, knobs.retry_after_s)
    return knobs


def _invalid_knob(exc: KnobError) -> SimulatedError:
    return errors.invalid_value(exc.header, str(exc))


async def _peek_model(request: web.Request) -> str:
    """The requested model, for an injected error's message (off the hot path)."""
    try:
        model = parse_body(await request.read()).get("model") if request.body_exists else None
    except SimulatedError:
        model = None
    return model if isinstance(model, str) else "gpt-4o-mini"


def _authenticate(authorization: str, api_key: str) -> None:
    scheme, _, presented = authorization.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise errors.missing_api_key()
    if not secrets.compare_digest(presented.strip().encode(), api_key.encode()):
        raise errors.invalid_api_key(presented.strip())


def _json(payload: Any) -> web.Response:
    return web.Response(body=orjson.dumps(payload), content_type="application/json")


async def chat_completions(request: web.Request, knobs: RequestKnobs) -> web.StreamResponse:
    state = request.app[SIM_STATE]
    body = parse_body(await request.read())
    model = require_model(body, state.models, state.settings.strict_models)
    require_messages(body)
    plan = plan_chat(body, model, knobs)
    if body.get("stream") is True:
        return await _stream_chat(request, plan, knobs)
    delay = knobs.delay_for(plan.completion_tokens)
    if delay > 0:
        await asyncio.sleep(delay)
    return _json(build_completion(plan))


async def _stream_chat(
    request: web.Request, plan: ChatPlan, knobs: RequestKnobs
) -> web.StreamResponse:
    """Send the chunks paced at ``tokens_per_second`` after ``ttft_ms``, as OpenAI does."""
    return await stream_paced(
        request,
        iter_chunks(plan),
        knobs,
        encode=as_is,
        failure=lambda: errors.server_error().to_sse_event(),
        done=DONE,
    )


async def embeddings(request: web.Request, knobs: RequestKnobs) -> web.StreamResponse:
    state = request.app[SIM_STATE]
    body = parse_body(await request.read())
    model = require_model(body, state.models, state.settings.strict_models)
    return await embedding_list(body, knobs, model, _EMBEDDING_DIMENSIONS.get(model, 1536))


async def embedding_list(
    body: dict[str, Any], knobs: RequestKnobs, model: str, default_dimensions: int
) -> web.Response:
    """OpenAI's embeddings ``list`` for ``body`` (Azure answers the same shape)."""
    items = _embedding_inputs(body.get("input"))
    dimensions = int_param(body, "dimensions", 1, 8192) or default_dimensions
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise errors.invalid_value(
            "encoding_format", "Invalid 'encoding_format': use float or base64."
        )
    data = []
    for index, (raw, _) in enumerate(items):
        vector = embedding_vector(raw, dimensions)
        encoded = encode_base64(vector) if encoding == "base64" else vector.tolist()
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    tokens = sum(count for _, count in items)
    if knobs.ttft_ms > 0:
        await asyncio.sleep(knobs.ttft_ms / 1000)
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return _json({"object": "list", "data": data, "model": model, "usage": usage})


def _embedding_inputs(value: Any) -> list[tuple[bytes, int]]:
    """Each input as (bytes to hash, tokens): a string, strings, tokens, token lists."""
    if value is None:
        raise errors.missing_parameter("input")
    if isinstance(value, str) or (value and _is_token_list(value)):
        value = [value]
    if isinstance(value, list) and value:
        items = [_embedding_input(item) for item in value]
        if all(item is not None for item in items):
            return [item for item in items if item is not None]
    raise errors.invalid_value(
        "input", "Invalid 'input': expected a non-empty string, array of strings or of tokens."
    )


def _is_token_list(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(item, int) and not isinstance(item, bool) for item in value
    )


def _embedding_input(item: Any) -> tuple[bytes, int] | None:
    if isinstance(item, str) and item:
        return item.encode(), estimate_tokens(item)
    if item and _is_token_list(item):
        return orjson.dumps(item), len(item)
    return None


def _model_object(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": MODEL_CREATED, "owned_by": "simulator"}


async def list_models(request: web.Request, knobs: RequestKnobs) -> web.StreamResponse:
    models = request.app[SIM_STATE].settings.models
    return _json({"object": "list", "data": [_model_object(model) for model in models]})


async def retrieve_model(request: web.Request, knobs: RequestKnobs) -> web.StreamResponse:
    model_id = request.match_info["model_id"]
    if model_id not in request.app[SIM_STATE].models:
        raise errors.model_not_found(model_id)
    return _json(_model_object(model_id))
