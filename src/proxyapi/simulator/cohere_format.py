"""Cohere's API v2 on its real paths: ``POST /v2/chat``, ``POST /v2/embed``, ``GET /v1/models``.

Answers are decided by the OpenAI format's planner (same text, same tool-call
rule) and shaped as Cohere sends them: a ``message`` with ``content`` parts or
``tool_plan`` and ``tool_calls``, upper-case finish reasons, ``usage`` with
``billed_units`` and ``tokens``; streams are named SSE events (``event:
content-delta`` with a JSON ``data`` whose ``type`` repeats the name) ended by
``data: [DONE]``. Errors are Cohere's ``{"id", "message"}`` with its statuses
and wording (context length: "too many tokens: size limit exceeded by …").

``GET /v1/models`` is OpenAI's path too. A request is Cohere's when it carries
one of Cohere's list parameters (``page_size``, ``page_token``, ``endpoint``,
``default_only``) or the Cohere SDK's ``X-Fern-SDK-Name: cohere`` header; a
middleware answers those and lets every other request reach OpenAI's route.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler as AiohttpHandler

from .knobs import KnobError, RequestKnobs
from .openai_chat import ChatPlan, ToolCall, plan_chat
from .openai_errors import SimulatedError
from .openai_request import parse_body, prompt_tokens
from .pacing import DONE, as_is, stream_paced
from .prelude import Endpoint, Handler, endpoint, read_knobs
from .state import SIM_STATE, SimulatorState
from .text import estimate_tokens, split_words
from .vectors import embedding_vector, encode_base64

_FINISH = {"stop": "COMPLETE", "length": "MAX_TOKENS", "tool_calls": "TOOL_CALL"}
_LIST_PARAMS = frozenset({"page_size", "page_token", "endpoint", "default_only"})
_EMBED_DIMENSIONS = {"embed-v4.0": 1536, "embed-english-light-v3.0": 384}
_OUTPUT_DIMENSIONS = frozenset({256, 512, 1024, 1536})
_MAX_TEXTS = 96  # Embed (v2): "Maximum number of texts per call is 96."


def add_cohere_routes(app: web.Application) -> None:
    app.router.add_post("/v2/chat", _endpoint(chat))
    app.router.add_post("/v2/embed", _endpoint(embed))
    app.middlewares.append(_cohere_models)


# -- errors ----------------------------------------------------------------------------


class CohereError(Exception):
    """Cohere's error body: ``{"id": <uuid>, "message": ...}`` with the given status."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}

    def to_response(self) -> web.Response:
        body = {"id": str(uuid.uuid4()), "message": self.message}
        return web.Response(
            status=self.status,
            body=orjson.dumps(body),
            content_type="application/json",
            headers=self.headers,
        )


def invalid(message: str) -> CohereError:
    return CohereError(400, f"invalid request: {message}")


def too_many_tokens(requested: int, window: int) -> CohereError:
    return CohereError(
        400,
        f"too many tokens: size limit exceeded by {requested - window} tokens. Try using "
        f"shorter or fewer inputs. The limit for this model is {window} tokens.",
    )


def injected_error(status: int, model: str, retry_after_s: int) -> CohereError:
    messages = {
        400: "invalid request: simulated error.",
        401: "invalid api token",
        404: f"model '{model}' not found, make sure the correct model ID was used and that "
        "you have access to the model.",
        422: "unprocessable entity: simulated error.",
        429: "You are using a Trial key, which is limited to 10 API calls / minute. You can "
        "continue to use the Trial key for free or upgrade to a Production key with higher "
        "rate limits at 'https://dashboard.cohere.com/api-keys'.",
        500: "internal server error, this has been reported to our developers",
        503: "service unavailable, please try again later",
    }
    message = messages.get(status, f"simulated error with status {status}")
    headers = {"retry-after": str(retry_after_s)} if status == 429 else None
    return CohereError(status, message, headers)


# -- the shared prelude ----------------------------------------------------------------


def _endpoint(handler: Handler) -> Endpoint:
    return endpoint(handler, _prelude, (CohereError, SimulatedError), _render)


def _render(exc: Exception) -> web.Response:
    """Cohere's own errors as they are; the OpenAI helpers' with their status, in Cohere's shape."""
    if isinstance(exc, CohereError):
        return exc.to_response()
    assert isinstance(exc, SimulatedError)
    return CohereError(exc.status, str(exc)).to_response()


def _invalid_knob(exc: KnobError) -> CohereError:
    return invalid(str(exc))


async def _prelude(request: web.Request, state: SimulatorState) -> RequestKnobs:
    key = state.settings.api_key
    if key is not None:
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise CohereError(401, "no api key supplied")
        if not secrets.compare_digest(presented.strip().encode(), key.encode()):
            raise CohereError(401, "invalid api token")
    knobs = await read_knobs(request, state, _invalid_knob)
    if state.should_fail(knobs.error_rate):
        model = await _peek_model(request)
        raise injected_error(knobs.error_status, model, knobs.retry_after_s)
    return knobs


async def _peek_model(request: web.Request) -> str:
    try:
        body = parse_body(await request.read()) if request.body_exists else {}
    except SimulatedError:
        body = {}
    model = body.get("model")
    return model if isinstance(model, str) else "command-a-03-2025"


def _json(payload: Any) -> web.Response:
    return web.Response(body=orjson.dumps(payload), content_type="application/json")


# -- chat ------------------------------------------------------------------------------


def _openai_view(body: dict[str, Any]) -> dict[str, Any]:
    """The request as the OpenAI planner reads it (messages and tools are alike)."""
    view: dict[str, Any] = {"messages": body["messages"]}
    for name, target in (("max_tokens", "max_tokens"), ("stop_sequences", "stop")):
        if body.get(name) is not None:
            view[target] = body[name]
    if body.get("tools") is not None:
        view["tools"] = body["tools"]
    choice = body.get("tool_choice")
    if choice is not None:
        if choice not in ("REQUIRED", "NONE"):
            raise invalid(f"tool_choice must be one of REQUIRED, NONE, got {choice!r}")
        view["tool_choice"] = choice.lower()
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") == "json_object":
        schema = response_format.get("json_schema")
        view["response_format"] = (
            {"type": "json_schema", "json_schema": {"schema": schema}}
            if schema
            else {"type": "json_object"}
        )
    return view


def _plan(body: dict[str, Any], knobs: RequestKnobs) -> ChatPlan:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("model must be specified")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid("messages must be a non-empty list")
    if not all(isinstance(m, dict) for m in messages):
        raise invalid("each message must be an object")
    max_tokens = body.get("max_tokens")
    requested = prompt_tokens(messages) + (max_tokens if isinstance(max_tokens, int) else 0)
    if requested > knobs.context_window:
        raise too_many_tokens(requested, knobs.context_window)
    return plan_chat(_openai_view(body), model, knobs)


def _call_id(call: ToolCall) -> str:
    """Cohere's ids read ``<function>_<random>``; derived from the plan's id."""
    return f"{call.name}_{call.id[-12:]}"


def _tool_plan(call: ToolCall) -> str:
    """Cohere plans aloud before calling a tool (``tool_plan``)."""
    return f"I will use the {call.name} tool to answer this."


def _usage(plan: ChatPlan) -> dict[str, Any]:
    counts = {"input_tokens": plan.prompt_tokens, "output_tokens": plan.completion_tokens}
    return {"billed_units": counts, "tokens": counts}


def build_response(plan: ChatPlan, message_id: str) -> dict[str, Any]:
    """The non-streamed ``/v2/chat`` answer (V2ChatResponse)."""
    choice = plan.choices[0]
    call = choice.tool_call
    message: dict[str, Any] = {"role": "assistant"}
    if call is None:
        message["content"] = [{"type": "text", "text": choice.content or ""}]
    else:
        message["tool_plan"] = _tool_plan(call)
        message["tool_calls"] = [
            {
                "id": _call_id(call),
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
        ]
    return {
        "id": message_id,
        "message": message,
        "finish_reason": _FINISH[choice.finish_reason],
        "usage": _usage(plan),
    }


def _event(kind: str, payload: dict[str, Any]) -> bytes:
    data = orjson.dumps({"type": kind, **payload})
    return b"event: " + kind.encode() + b"\ndata: " + data + b"\n\n"


def _message_delta(**message: Any) -> dict[str, Any]:
    return {"delta": {"message": message}}


def iter_events(plan: ChatPlan, message_id: str) -> Iterator[tuple[bytes, int]]:
    """The stream's events (without ``[DONE]``) with the tokens each carries."""
    choice = plan.choices[0]
    empty = {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}
    yield _event("message-start", {"id": message_id, "delta": {"message": empty}}), 0
    call = choice.tool_call
    if call is None:
        text_part = {"type": "text", "text": ""}
        yield _event("content-start", {"index": 0, **_message_delta(content=text_part)}), 0
        for group in choice.groups:
            fragment = "".join(group)
            delta = _message_delta(content={"text": fragment})
            yield _event("content-delta", {"index": 0, **delta}), estimate_tokens(fragment)
        yield _event("content-end", {"index": 0}), 0
    else:
        for word in split_words(_tool_plan(call)):
            yield _event("tool-plan-delta", _message_delta(tool_plan=word)), 1
        head = {
            "id": _call_id(call),
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        yield _event("tool-call-start", {"index": 0, **_message_delta(tool_calls=head)}), 0
        for group in choice.groups:
            fragment = "".join(group)
            delta = _message_delta(tool_calls={"function": {"arguments": fragment}})
            yield _event("tool-call-delta", {"index": 0, **delta}), estimate_tokens(fragment)
        yield _event("tool-call-end", {"index": 0}), 0
    end = {"finish_reason": _FINISH[choice.finish_reason], "usage": _usage(plan)}
    yield _event("message-end", {"delta": end}), 0


async def chat(request: web.Request, knobs: RequestKnobs) -> web.StreamResponse:
    body = parse_body(await request.read())
    plan = _plan(body, knobs)
    message_id = str(uuid.uuid4())
    if body.get("stream") is True:
        return await _stream_chat(request, plan, message_id, knobs)
    delay = knobs.delay_for(plan.completion_tokens)
    if delay > 0:
        await asyncio.sleep(delay)
    return _json(build_response(plan, message_id))


async def _stream_chat(
    request: web.Request, plan: ChatPlan, message_id: str, knobs: RequestKnobs
) -> web.StreamResponse:
    """Paced at ``tokens_per_second`` after ``ttft_ms``, as the OpenAI stream is."""
    return await stream_paced(
        request,
        iter_events(plan, message_id),
        knobs,
        encode=as_is,
        failure=_failed_event,
        done=DONE,
    )


def _failed_event() -> bytes:
    # ChatMessageEndEventDelta carries an "error" with finish_reason ERROR.
    failed = {"finish_reason": "ERROR", "error": "internal server error"}
    return _event("message-end", {"delta": failed})


# -- embed -----------------------------------------------------------------------------


def _texts(body: dict[str, Any]) -> list[str]:
    texts = body.get("texts")
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise invalid("texts must be a non-empty list of strings")
    if len(texts) > _MAX_TEXTS:
        raise invalid(f"texts must contain at most {_MAX_TEXTS} items, got {len(texts)}")
    return texts


def _dimensions(body: dict[str, Any], model: str) -> int:
    requested = body.get("output_dimension")
    if requested is None:
        return _EMBED_DIMENSIONS.get(model, 1024)
    if requested not in _OUTPUT_DIMENSIONS:
        raise invalid(f"output_dimension must be one of 256, 512, 1024, 1536, got {requested}")
    return int(requested)


def _encoded(vector: Any, kind: str) -> Any:
    if kind == "float":
        return vector.tolist()
    if kind == "base64":
        return encode_base64(vector)
    if kind == "int8":
        return [max(-128, min(127, round(v * 127))) for v in vector]
    return [max(0, min(255, round((v + 1) * 127.5))) for v in vector]  # uint8


async def embed(request: web.Request, knobs: RequestKnobs) -> web.StreamResponse:
    body = parse_body(await request.read())
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("model must be specified")
    texts = _texts(body)
    if not body.get("input_type"):
        raise invalid("valid input_type must be provided with the provided model")
    kinds = body.get("embedding_types") or ["float"]
    unsupported = [k for k in kinds if k not in ("float", "base64", "int8", "uint8")]
    if unsupported:
        raise invalid(f"embedding_types {unsupported} are not supported by the simulator")
    dimensions = _dimensions(body, model)
    vectors = [embedding_vector(text.encode(), dimensions) for text in texts]
    tokens = sum(estimate_tokens(text) for text in texts)
    if knobs.ttft_ms > 0:
        await asyncio.sleep(knobs.ttft_ms / 1000)
    return _json(
        {
            "id": str(uuid.uuid4()),
            "embeddings": {kind: [_encoded(v, kind) for v in vectors] for kind in kinds},
            "texts": texts,
            "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": tokens}},
            "response_type": "embeddings_by_type",
        }
    )


# -- models ----------------------------------------------------------------------------


def _asks_cohere(request: web.Request) -> bool:
    if request.headers.get("X-Fern-SDK-Name", "").lower() == "cohere":
        return True
    return not _LIST_PARAMS.isdisjoint(request.query)


@web.middleware
async def _cohere_models(request: web.Request, handler: AiohttpHandler) -> web.StreamResponse:
    if request.method == "GET" and request.path == "/v1/models" and _asks_cohere(request):
        return await _list_models_endpoint(request)
    return await handler(request)


def _model_entry(name: str, context_window: int) -> dict[str, Any]:
    endpoints = ["embed"] if "embed" in name else ["chat"]
    return {
        "name": name,
        "endpoints": endpoints,
        "finetuned": False,
        "context_length": context_window,
        "tokenizer_url": None,
        "default_endpoints": [],
        "is_deprecated": False,
    }


async def list_models(request: web.Request, knobs: RequestKnobs) -> web.StreamResponse:
    wanted = request.query.get("endpoint")
    entries = [
        _model_entry(name, knobs.context_window) for name in request.app[SIM_STATE].settings.models
    ]
    if wanted:
        entries = [entry for entry in entries if wanted in entry["endpoints"]]
    return _json({"models": entries, "next_page_token": None})


_list_models_endpoint = _endpoint(list_models)
