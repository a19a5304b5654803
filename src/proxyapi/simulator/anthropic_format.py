"""Anthropic's Messages API on its real paths: POST /v1/messages, GET /v1/models.

Requests are checked the way Anthropic checks them (``x-api-key`` when the
simulator has a key, ``anthropic-version``, ``max_tokens``, thinking rules,
thinking blocks sent back first and with a valid signature); answers are a
``message`` or its SSE event sequence (message_start, content blocks for
thinking, text and tool_use, message_delta, message_stop, a ping). Every
failure is rendered in Anthropic's error shape with its status codes.

GET /v1/models belongs to the OpenAI format too: a request carrying an
``anthropic-version`` header gets Anthropic's list shape (a middleware answers
it, so the OpenAI route stays untouched), any other gets OpenAI's.

Tool use follows the OpenAI simulator's rule (``pick_tool``), so both formats
answer the same conversation the same way.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import secrets
from collections.abc import Iterator, Mapping
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from .examples import example_value
from .knobs import KnobError, RequestKnobs
from .openai_errors import SimulatedError
from .openai_request import content_text, pick_tool
from .pacing import as_is, stream_paced
from .prelude import read_knobs
from .state import SIM_STATE, SimulatorState
from .text import (
    compose_reply,
    cut_to_tokens,
    digest,
    estimate_tokens,
    group_pieces,
    snippet,
    split_arguments,
    split_words,
)

_SIGNING_KEY = b"proxyapi-simulator-thinking"
_MIN_THINKING_BUDGET = 1024
_MODEL_CREATED_AT = "2025-02-19T00:00:00Z"
# What Anthropic answers for each status (docs.claude.com/en/api/errors).
_ERRORS: Mapping[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request (simulated error)."),
    401: ("authentication_error", "invalid x-api-key"),
    403: (
        "permission_error",
        "Your API key does not have permission to use the specified resource.",
    ),
    404: ("not_found_error", "Not found (simulated error)."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: (
        "rate_limit_error",
        "This request would exceed the rate limit for your organization of 50 requests "
        "per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits.",
    ),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}


class AnthropicError(Exception):
    """An Anthropic-shaped error response, raised anywhere and rendered at the route."""

    def __init__(self, status: int, error_type: str, message: str, **headers: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = {"type": error_type, "message": message}
        self.headers = {name.replace("_", "-"): value for name, value in headers.items()}

    def to_response(self) -> web.Response:
        request_id = f"req_sim{secrets.token_hex(10)}"
        body = {"type": "error", "error": self.error, "request_id": request_id}
        return web.Response(
            status=self.status,
            body=orjson.dumps(body),
            content_type="application/json",
            headers={**self.headers, "request-id": request_id},
        )

    def to_sse_event(self) -> bytes:
        """The ``event: error`` Anthropic sends when a stream fails after it started."""
        return _event("error", {"type": "error", "error": self.error})


def status_error(status: int, retry_after_s: int = 1) -> AnthropicError:
    """The error Anthropic sends with ``status``, for error injection."""
    error_type, message = _ERRORS.get(
        status,
        ("api_error", "Internal server error")
        if status >= 500
        else ("invalid_request_error", f"Simulated error with status {status}."),
    )
    if status == 429:
        return AnthropicError(status, error_type, message, retry_after=str(retry_after_s))
    return AnthropicError(status, error_type, message)


def invalid_request(message: str) -> AnthropicError:
    return AnthropicError(400, "invalid_request_error", message)


def add_anthropic_routes(app: web.Application) -> None:
    app.router.add_post("/v1/messages", create_message)
    app.middlewares.append(anthropic_models)


async def _prelude(request: web.Request, state: SimulatorState) -> RequestKnobs:
    """Authenticate, check the version header, read the knobs, wait, maybe fail."""
    key = state.settings.api_key
    if key is not None:
        presented = _presented_key(request.headers)
        if not presented:
            raise AnthropicError(401, "authentication_error", "x-api-key header is required")
        if not secrets.compare_digest(presented.encode(), key.encode()):
            raise AnthropicError(401, "authentication_error", "invalid x-api-key")
    if "anthropic-version" not in request.headers:
        raise invalid_request("anthropic-version: header is required")
    knobs = await read_knobs(request, state, _invalid_knob)
    if state.should_fail(knobs.error_rate):
        raise status_error(knobs.error_status, knobs.retry_after_s)
    return knobs


def _invalid_knob(exc: KnobError) -> AnthropicError:
    return invalid_request(str(exc))


def _presented_key(headers: Mapping[str, str]) -> str:
    """The key from ``x-api-key``, or from ``Authorization: Bearer`` as SDK 2.x sends it."""
    key = headers.get("x-api-key", "")
    if key:
        return key
    scheme, _, token = headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


@web.middleware
async def anthropic_models(request: web.Request, handler: Handler) -> web.StreamResponse:
    """GET /v1/models in Anthropic's shape when the caller speaks Anthropic."""
    if request.path != "/v1/models" or "anthropic-version" not in request.headers:
        return await handler(request)
    state = request.app[SIM_STATE]
    try:
        await _prelude(request, state)
    except AnthropicError as exc:
        return exc.to_response()
    data = [
        {"type": "model", "id": model, "display_name": model, "created_at": _MODEL_CREATED_AT}
        for model in state.settings.models
    ]
    body = {
        "data": data,
        "has_more": False,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }
    return web.Response(body=orjson.dumps(body), content_type="application/json")


async def create_message(request: web.Request) -> web.StreamResponse:
    state = request.app[SIM_STATE]
    try:
        knobs = await _prelude(request, state)
        body = _parse_body(await request.read())
        plan = plan_message(body, _require_model(body, state), knobs)
    except AnthropicError as exc:
        return exc.to_response()
    if body.get("stream") is True:
        return await _stream(request, plan, knobs)
    delay = knobs.delay_for(plan.output_tokens)
    if delay > 0:
        await asyncio.sleep(delay)
    return web.Response(body=orjson.dumps(build_message(plan)), content_type="application/json")


# --- reading the request ---------------------------------------------------------------


def _parse_body(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        raise invalid_request("There was an error parsing the body of your request.")
    return body


def _require_model(body: dict[str, Any], state: SimulatorState) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid_request("model: Field required")
    if state.settings.strict_models and model not in state.models:
        raise AnthropicError(404, "not_found_error", f"model: {model}")
    return model


def _check_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid_request("messages: Field required")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise invalid_request(f"messages.{index}.role: Input should be 'user' or 'assistant'")
    return messages


def _thinking_enabled(body: dict[str, Any], max_tokens: int) -> bool:
    """Whether thinking is on, with Anthropic's checks of its budget and companions."""
    thinking = body.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") != "enabled":
        return False
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or budget < _MIN_THINKING_BUDGET:
        raise invalid_request(
            "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
        )
    if max_tokens <= budget:
        raise invalid_request("`max_tokens` must be greater than `thinking.budget_tokens`.")
    if body.get("temperature") not in (None, 1):
        raise invalid_request(
            "`temperature` may only be set to 1 when thinking is enabled. Please consult "
            "our documentation at https://docs.claude.com/en/docs/build-with-claude/"
            "extended-thinking#feature-compatibility"
        )
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") in ("any", "tool"):
        raise invalid_request("Thinking may not be enabled when tool_choice forces tool use.")
    return True


def sign(thinking: str) -> str:
    """The simulator's stand-in for Anthropic's opaque thinking signature."""
    mac = hashlib.blake2b(thinking.encode(), key=_SIGNING_KEY, digest_size=32).digest()
    return base64.b64encode(mac).decode()


def _check_thinking_history(messages: list[dict[str, Any]], is_thinking: bool) -> None:
    """Signatures must verify; with thinking on, the last tool-using turn starts thinking."""
    last_assistant = max(
        (i for i, m in enumerate(messages) if m["role"] == "assistant"), default=None
    )
    for index, message in enumerate(messages):
        blocks = message.get("content")
        if not isinstance(blocks, list):
            continue
        for position, block in enumerate(blocks):
            if isinstance(block, dict) and block.get("type") == "thinking":
                if block.get("signature") != sign(str(block.get("thinking", ""))):
                    raise invalid_request(
                        f"messages.{index}.content.{position}: "
                        "Invalid `signature` in `thinking` block"
                    )
        has_tool_use = any(isinstance(b, dict) and b.get("type") == "tool_use" for b in blocks)
        if is_thinking and index == last_assistant and has_tool_use:
            first = blocks[0].get("type") if isinstance(blocks[0], dict) else None
            if first not in ("thinking", "redacted_thinking"):
                raise invalid_request(
                    f"messages.{index}.content.0.type: Expected `thinking` or "
                    f"`redacted_thinking`, but found `{first}`. When `thinking` is enabled, "
                    "a final `assistant` message must start with a thinking block "
                    "(preceeding the lastmost set of `tool_use` and `tool_result` blocks)."
                )


def _block_text(block: Any) -> str:
    if not isinstance(block, dict):
        return ""
    kind = block.get("type")
    if kind == "text":
        return str(block.get("text", ""))
    if kind == "tool_result":
        return content_text(block.get("content"))
    if kind == "tool_use":
        return orjson.dumps(block.get("input")).decode()
    if kind == "thinking":
        return str(block.get("thinking", ""))
    return ""


def _message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(_block_text(block) for block in content)
    return ""


def _is_tool_result_turn(message: dict[str, Any]) -> bool:
    content = message.get("content")
    return isinstance(content, list) and any(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in content
    )


def _tool_request(body: dict[str, Any], last: dict[str, Any]) -> dict[str, Any] | None:
    """The tool to call, by the OpenAI simulator's rule applied to an OpenAI view."""
    tools = [
        {"type": "function", "function": {"name": t["name"], "parameters": t.get("input_schema")}}
        for t in body.get("tools") or ()
        if isinstance(t, dict) and isinstance(t.get("name"), str)
    ]
    choice = body.get("tool_choice")
    kind = str(choice.get("type")) if isinstance(choice, dict) else "auto"
    openai_choice: Any = {"auto": "auto", "none": "none", "any": "required"}.get(kind, "auto")
    if kind == "tool" and isinstance(choice, dict):
        openai_choice = {"type": "function", "function": {"name": choice.get("name")}}
    role = "tool" if _is_tool_result_turn(last) else last["role"]
    view = {"role": role, "content": _message_text(last.get("content"))}
    try:
        return pick_tool({"tools": tools, "tool_choice": openai_choice}, [view])
    except SimulatedError as exc:
        raise invalid_request(str(exc)) from None


# --- planning the answer -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class ToolUse:
    id: str
    name: str
    arguments: str  # the input as JSON text, streamed in pieces


@dataclasses.dataclass(frozen=True, slots=True)
class MessagePlan:
    id: str
    model: str
    input_tokens: int
    thinking: str | None
    text: str | None
    tool: ToolUse | None
    stop_reason: str
    stop_sequence: str | None
    output_tokens: int
    text_groups: list[list[str]]


def plan_message(body: dict[str, Any], model: str, knobs: RequestKnobs) -> MessagePlan:
    """Decide the whole answer to a Messages request (after Anthropic's checks)."""
    messages = _check_messages(body)
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
        raise invalid_request("max_tokens: Field required")
    if max_tokens < 1:
        raise invalid_request("max_tokens: Input should be greater than or equal to 1")
    is_thinking = _thinking_enabled(body, max_tokens)
    _check_thinking_history(messages, is_thinking)
    prompt = estimate_tokens(
        _message_text(body.get("system"))
        + "".join(_message_text(m.get("content")) for m in messages)
    )
    if prompt > knobs.context_window:
        raise invalid_request(
            f"prompt is too long: {prompt} tokens > {knobs.context_window} maximum"
        )
    if prompt + max_tokens > knobs.context_window:
        raise invalid_request(
            f"input length and `max_tokens` exceed context limit: {prompt} + {max_tokens} > "
            f"{knobs.context_window}, decrease input length or `max_tokens` and try again"
        )
    seed = digest(orjson.dumps(messages, option=orjson.OPT_SORT_KEYS))
    last = messages[-1]
    said = snippet(_message_text(last.get("content")), 40)
    thinking = None
    if is_thinking and not _is_tool_result_turn(last):
        # Like Claude without interleaved thinking: no new thinking after tool results.
        thinking = compose_reply(f"Thinking about: {said}. ", digest(seed + b"think"), 20)
    tool = _tool_request(body, last)
    if tool is not None:
        arguments = orjson.dumps(example_value(tool.get("parameters") or {})).decode()
        call = ToolUse(f"toolu_{secrets.token_hex(12)}", str(tool["name"]), arguments)
        return _plan(model, prompt, thinking, None, call, "tool_use", None, seed)
    text, stop_reason, stop_sequence = _reply(body, last, said, seed, knobs, max_tokens)
    return _plan(model, prompt, thinking, text, None, stop_reason, stop_sequence, seed)


def _plan(
    model: str,
    prompt: int,
    thinking: str | None,
    text: str | None,
    tool: ToolUse | None,
    stop_reason: str,
    stop_sequence: str | None,
    seed: bytes,
) -> MessagePlan:
    output = estimate_tokens((thinking or "") + (text or ""))
    if tool is not None:
        output += estimate_tokens(tool.name + tool.arguments)
    return MessagePlan(
        id=f"msg_sim{secrets.token_hex(10)}",
        model=model,
        input_tokens=prompt,
        thinking=thinking,
        text=text,
        tool=tool,
        stop_reason=stop_reason,
        stop_sequence=stop_sequence,
        output_tokens=max(output, 1),
        text_groups=group_pieces(split_words(text or ""), seed),
    )


def _reply(
    body: dict[str, Any],
    last: dict[str, Any],
    said: str,
    seed: bytes,
    knobs: RequestKnobs,
    max_tokens: int,
) -> tuple[str, str, str | None]:
    """(text, stop_reason, stop_sequence): structured when asked, else echoing prose."""
    output_format = (body.get("output_config") or {}).get("format")
    if isinstance(output_format, dict) and output_format.get("type") == "json_schema":
        text = orjson.dumps(example_value(output_format.get("schema") or {})).decode()
    elif _is_tool_result_turn(last):
        text = compose_reply(f"The tool returned: {snippet(said, 60)}. ", seed, knobs.reply_tokens)
    else:
        text = compose_reply(f"Simulated reply to: {said}. ", seed, knobs.reply_tokens)
    stops = [s for s in body.get("stop_sequences") or () if isinstance(s, str) and s]
    found = sorted((text.find(s), s) for s in stops if s in text)
    if found:
        return text[: found[0][0]], "stop_sequence", found[0][1]
    text, is_cut = cut_to_tokens(text, max_tokens)
    return text, ("max_tokens" if is_cut else "end_turn"), None


# --- rendering ---------------------------------------------------------------------------


def _usage(plan: MessagePlan, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": plan.input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def build_message(plan: MessagePlan) -> dict[str, Any]:
    """The non-streamed ``message`` object."""
    content: list[dict[str, Any]] = []
    if plan.thinking is not None:
        content.append(
            {"type": "thinking", "thinking": plan.thinking, "signature": sign(plan.thinking)}
        )
    if plan.text is not None:
        content.append({"type": "text", "text": plan.text})
    if plan.tool is not None:
        tool = plan.tool
        content.append(
            {
                "type": "tool_use",
                "id": tool.id,
                "name": tool.name,
                "input": orjson.loads(tool.arguments),
            }
        )
    return {
        "id": plan.id,
        "type": "message",
        "role": "assistant",
        "model": plan.model,
        "content": content,
        "stop_reason": plan.stop_reason,
        "stop_sequence": plan.stop_sequence,
        "usage": _usage(plan, plan.output_tokens),
    }


def _event(name: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def _block(
    index: int, start: dict[str, Any], deltas: list[dict[str, Any]]
) -> Iterator[tuple[bytes, int]]:
    yield (
        _event(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": start},
        ),
        0,
    )
    for delta in deltas:
        tokens = estimate_tokens(
            str(delta.get("text") or delta.get("thinking") or delta.get("partial_json") or "")
        )
        yield (
            _event(
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": delta},
            ),
            tokens,
        )
    yield _event("content_block_stop", {"type": "content_block_stop", "index": index}), 0


def _blocks(plan: MessagePlan) -> Iterator[list[Any]]:
    """(start, deltas) of each content block, in order."""
    if plan.thinking is not None:
        pieces = [
            "".join(group)
            for group in group_pieces(split_words(plan.thinking), digest(plan.thinking.encode()))
        ]
        deltas: list[dict[str, Any]] = [{"type": "thinking_delta", "thinking": p} for p in pieces]
        deltas.append({"type": "signature_delta", "signature": sign(plan.thinking)})
        yield [{"type": "thinking", "thinking": "", "signature": ""}, deltas]
    if plan.text is not None:
        texts = [{"type": "text_delta", "text": "".join(group)} for group in plan.text_groups]
        yield [{"type": "text", "text": ""}, texts]
    if plan.tool is not None:
        tool = plan.tool
        fragments = ["", *split_arguments(tool.arguments)]  # Anthropic opens with an empty one
        inputs = [{"type": "input_json_delta", "partial_json": f} for f in fragments]
        yield [{"type": "tool_use", "id": tool.id, "name": tool.name, "input": {}}, inputs]


def iter_events(plan: MessagePlan) -> Iterator[tuple[bytes, int]]:
    """The SSE events of the streamed answer, with the tokens each carries."""
    start = build_message(plan) | {"content": [], "stop_reason": None, "stop_sequence": None}
    start["usage"] = _usage(plan, 1)
    yield _event("message_start", {"type": "message_start", "message": start}), 0
    for index, (block_start, deltas) in enumerate(_blocks(plan)):
        for position, item in enumerate(_block(index, block_start, deltas)):
            yield item
            if index == 0 and position == 0:
                yield _event("ping", {"type": "ping"}), 0
    delta = {"stop_reason": plan.stop_reason, "stop_sequence": plan.stop_sequence}
    usage = {"output_tokens": plan.output_tokens}
    yield _event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}), 0
    yield _event("message_stop", {"type": "message_stop"}), 0


async def _stream(
    request: web.Request, plan: MessagePlan, knobs: RequestKnobs
) -> web.StreamResponse:
    """Send the events paced at ``tokens_per_second`` after ``ttft_ms`` (as openai_format)."""
    return await stream_paced(
        request,
        iter_events(plan),
        knobs,
        encode=as_is,
        failure=lambda: status_error(529).to_sse_event(),
    )
