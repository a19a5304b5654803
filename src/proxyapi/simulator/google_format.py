"""Google's Gemini API (v1beta) on its real paths.

``models/{model}:generateContent``, ``:streamGenerateContent`` (``alt=sse`` or a
JSON array), ``:embedContent``, ``:batchEmbedContents`` and the models list. A
request is read as Gemini's ``GenerateContentRequest``, restated as an OpenAI
body and answered by the same planner as the OpenAI routes (``plan_chat``), so
tool calls follow the same deterministic rule; the plan is then rendered in
Gemini's shapes. Failures use Google's ``{"error": {code, message, status}}``
with the statuses and wordings the real API sends (see the adapter's sources).
Like the real API, unknown request fields and JSON-Schema keys outside Gemini's
``Schema`` are refused with a 400, so a sloppy translation fails loudly here.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import re
import secrets
from collections.abc import Iterator
from typing import Any

import orjson
from aiohttp import web

from .knobs import DEFAULT_MODELS, KnobError, RequestKnobs
from .openai_chat import ChatPlan, ChoicePlan, plan_chat
from .openai_errors import SimulatedError
from .openai_request import content_text, prompt_tokens
from .pacing import stream_paced
from .prelude import Endpoint, Handler, endpoint, read_knobs
from .state import SIM_STATE, SimulatorState
from .text import compose_reply, digest, estimate_tokens, snippet
from .vectors import embedding_vector

GEMINI_MODELS = (
    "gemini-2.5-flash",
    "gemini-2.5-pro",
    "gemini-2.0-flash",
    "gemini-3-pro-preview",
    "gemini-embedding-001",
    "text-embedding-004",
)
_MODEL = "{model:[^/:]+}"
_SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
_DIMENSIONS = {"gemini-embedding-001": 3072}
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_REQUEST_FIELDS = frozenset(
    "contents systemInstruction tools toolConfig safetySettings generationConfig "
    "cachedContent labels".split()
)
_CONFIG_FIELDS = frozenset(
    "stopSequences responseMimeType responseSchema responseJsonSchema responseModalities "
    "candidateCount maxOutputTokens temperature topP topK seed presencePenalty "
    "frequencyPenalty responseLogprobs logprobs enableEnhancedCivicAnswers speechConfig "
    "thinkingConfig mediaResolution imageConfig".split()
)
_SCHEMA_FIELDS = frozenset(
    "type format title description nullable enum maxItems minItems properties required "
    "minProperties maxProperties minLength maxLength pattern example anyOf "
    "propertyOrdering default items minimum maximum".split()
)
_SNAKE = re.compile(r"_([a-z])")
_INTERNAL = (
    "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting"
)


class GoogleError(Exception):
    """A Google-shaped error response, raised anywhere and rendered at the route."""

    def __init__(
        self, code: int, message: str, *, details: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.body: dict[str, Any] = {
            "code": code,
            "message": message,
            "status": _STATUS_NAMES.get(code, "UNKNOWN"),
        }
        if details:
            self.body["details"] = details

    def to_response(self) -> web.Response:
        return web.Response(
            status=self.code,
            body=orjson.dumps({"error": self.body}),
            content_type="application/json",
            charset="UTF-8",
        )

    def to_sse_event(self) -> bytes:
        """How a Gemini stream that fails after it started ends."""
        return b"data: " + orjson.dumps({"error": self.body}) + b"\r\n\r\n"


def invalid(message: str) -> GoogleError:
    return GoogleError(400, message)


def _camel(name: str) -> str:
    """REST accepts proto names too: ``max_output_tokens`` is ``maxOutputTokens``."""
    return _SNAKE.sub(lambda match: match.group(1).upper(), name)


def _check_fields(value: Any, allowed: frozenset[str], where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid(f"Invalid JSON payload received. Expected an object at '{where}'.")
    for name in value:
        if _camel(name) not in allowed:
            raise invalid(
                f"Invalid JSON payload received. Unknown name \"{name}\" at '{where}': "
                "Cannot find field."
            )
    return {_camel(name): item for name, item in value.items()}


def _check_schema(schema: Any, where: str) -> None:
    """Gemini's ``parameters`` is an OpenAPI subset: other keys are a 400."""
    fields = _check_fields(schema, _SCHEMA_FIELDS, where)
    properties = fields.get("properties")
    if str(fields.get("type", "")).upper() == "OBJECT" and properties == {}:
        raise invalid(
            f"* GenerateContentRequest.{where}.properties: should be non-empty for OBJECT type\n"
        )
    for name, sub in (properties or {}).items():
        _check_schema(sub, f"{where}.properties[{name}]")
    if isinstance(fields.get("items"), dict):
        _check_schema(fields["items"], f"{where}.items")
    for number, sub in enumerate(fields.get("anyOf") or []):
        _check_schema(sub, f"{where}.any_of[{number}]")


def _lower_types(schema: Any) -> Any:
    """Gemini's ``"STRING"`` types as JSON Schema's ``"string"``, for the example maker."""
    if isinstance(schema, list):
        return [_lower_types(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    return {
        key: value.lower() if key == "type" and isinstance(value, str) else _lower_types(value)
        for key, value in schema.items()
    }


# --- reading a GenerateContentRequest ------------------------------------------------


def _part_text(part: dict[str, Any], where: str) -> str:
    if isinstance(part.get("text"), str):
        return str(part["text"])
    blob = part.get("inlineData") or part.get("inline_data")
    if isinstance(blob, dict):
        try:
            base64.b64decode(str(blob.get("data", "")), validate=True)
        except (binascii.Error, ValueError):
            raise invalid(
                f"Invalid value at '{where}.inline_data.data' (TYPE_BYTES), Base64 decoding failed."
            ) from None
        return f"[{blob.get('mimeType') or blob.get('mime_type')}]"
    reference = part.get("fileData") or part.get("file_data")
    if isinstance(reference, dict):
        return f"[{reference.get('mimeType') or reference.get('mime_type')}]"
    return ""


def _parts(content: Any, where: str) -> list[dict[str, Any]]:
    parts = content.get("parts") if isinstance(content, dict) else None
    if not isinstance(parts, list) or not parts:
        raise invalid(
            f"* GenerateContentRequest.{where}.parts: contents.parts must not be empty.\n"
        )
    return [part for part in parts if isinstance(part, dict)]


def _function_call(part: dict[str, Any]) -> dict[str, Any] | None:
    call = part.get("functionCall") or part.get("function_call")
    return call if isinstance(call, dict) else None


def _model_message(
    parts: list[dict[str, Any]], where: str, needs_signature: bool
) -> dict[str, Any]:
    calls = [(number, call) for number, part in enumerate(parts) if (call := _function_call(part))]
    if needs_signature and calls:
        number, call = calls[0]
        part = parts[number]
        if not (part.get("thoughtSignature") or part.get("thought_signature")):
            raise invalid(
                "Function call is missing a thought_signature in functionCall parts. This is "
                "required for tools to work correctly, and missing thought_signature may lead "
                "to degraded model performance. Additional data, function call "
                f"`default_api:{call.get('name')}` , position {number + 1}. Please refer to "
                "https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
            )
    text = "".join(_part_text(p, where) for p in parts if not p.get("thought"))
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = [
            {
                "id": f"call_{number}",
                "type": "function",
                "function": {
                    "name": call.get("name"),
                    "arguments": orjson.dumps(call.get("args") or {}).decode(),
                },
            }
            for number, call in calls
        ]
    return message


def _user_messages(parts: list[dict[str, Any]], where: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for part in parts:
        result = part.get("functionResponse") or part.get("function_response")
        if isinstance(result, dict):
            content = orjson.dumps(result.get("response") or {}).decode()
            messages.append({"role": "tool", "tool_call_id": "call_0", "content": content})
    text = " ".join(
        filter(None, (_part_text(part, f"{where}.parts[{n}]") for n, part in enumerate(parts)))
    )
    if text or not messages:
        messages.append({"role": "user", "content": text})
    return messages


def read_messages(body: dict[str, Any], model: str) -> list[dict[str, Any]]:
    """The conversation as OpenAI messages (text, tool calls, tool results)."""
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise invalid("* GenerateContentRequest.contents: contents is not specified\n")
    messages: list[dict[str, Any]] = []
    system = body.get("systemInstruction")
    if system is not None:
        text = "".join(
            _part_text(part, "system_instruction") for part in _parts(system, "system_instruction")
        )
        messages.append({"role": "system", "content": text})
    needs_signature = model.startswith("gemini-3")
    for number, content in enumerate(contents):
        where = f"contents[{number}]"
        parts = _parts(content, where)
        role = content.get("role", "user")
        if role == "model":
            messages.append(_model_message(parts, where, needs_signature))
        elif role in ("user", "function"):
            messages.extend(_user_messages(parts, where))
        else:
            raise invalid(f"Please use a valid role: user, model. Got: {role}.")
    return messages


def _read_tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    tools: list[dict[str, Any]] = []
    for number, tool in enumerate(body.get("tools") or []):
        tool = tool if isinstance(tool, dict) else {}
        declarations = tool.get("functionDeclarations") or tool.get("function_declarations") or []
        for index, declaration in enumerate(declarations):
            where = f"tools[{number}].function_declarations[{index}]"
            parameters = declaration.get("parameters")
            if parameters is not None:
                _check_schema(parameters, f"{where}.parameters")
            schema = parameters or declaration.get("parametersJsonSchema") or {}
            function = {"name": declaration.get("name"), "parameters": _lower_types(schema)}
            tools.append({"type": "function", "function": function})
    return tools


def _tool_choice(body: dict[str, Any]) -> Any:
    config = _check_fields(
        body.get("toolConfig"), frozenset({"functionCallingConfig"}), "tool_config"
    )
    calling = config.get("functionCallingConfig") or {}
    mode = str(calling.get("mode", "AUTO")).upper()
    allowed = calling.get("allowedFunctionNames") or calling.get("allowed_function_names") or []
    if mode == "NONE":
        return "none"
    if mode == "ANY" and len(allowed) == 1:
        return {"type": "function", "function": {"name": allowed[0]}}
    return "required" if mode == "ANY" else "auto"


@dataclasses.dataclass(frozen=True, slots=True)
class Request:
    """A generateContent request, restated for the planner."""

    openai_body: dict[str, Any]
    thinking: bool
    signs_calls: bool


def read_request(body: dict[str, Any], model: str) -> Request:
    body = _check_fields(body, _REQUEST_FIELDS, "")
    config = _check_fields(body.get("generationConfig"), _CONFIG_FIELDS, "generation_config")
    openai_body: dict[str, Any] = {"model": model, "messages": read_messages(body, model)}
    tools = _read_tools(body)
    if tools:
        openai_body["tools"] = tools
        openai_body["tool_choice"] = _tool_choice(body)
    for field, name in (("maxOutputTokens", "max_tokens"), ("candidateCount", "n")):
        if config.get(field) is not None:
            openai_body[name] = config[field]
    if config.get("stopSequences"):
        openai_body["stop"] = config["stopSequences"]
    if config.get("responseMimeType") == "application/json":
        schema = config.get("responseJsonSchema") or config.get("responseSchema")
        openai_body["response_format"] = (
            {"type": "json_schema", "json_schema": {"name": "out", "schema": _lower_types(schema)}}
            if isinstance(schema, dict)
            else {"type": "json_object"}
        )
    thinking = _check_fields(
        config.get("thinkingConfig"),
        frozenset({"includeThoughts", "thinkingBudget", "thinkingLevel"}),
        "generation_config.thinking_config",
    )
    wants_thoughts = thinking.get("includeThoughts") is True and thinking.get("thinkingBudget") != 0
    return Request(openai_body, wants_thoughts, wants_thoughts or model.startswith("gemini-3"))


# --- rendering -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Answer:
    """A plan plus what Gemini adds to it: thoughts and call signatures."""

    plan: ChatPlan
    response_id: str
    thoughts: list[str | None]
    signs_calls: bool

    @property
    def thought_tokens(self) -> int:
        return sum(estimate_tokens(thought) for thought in self.thoughts if thought)


def plan_answer(request: Request, model: str, knobs: RequestKnobs) -> Answer:
    messages = request.openai_body["messages"]
    prompt = prompt_tokens(messages)
    if prompt > knobs.context_window:
        raise invalid(
            f"The input token count ({prompt}) exceeds the maximum number of tokens "
            f"allowed ({knobs.context_window})."
        )
    # The window is checked above, Gemini's way (input only); the planner must not recheck.
    unbounded = dataclasses.replace(knobs, context_window=1 << 62)
    try:
        plan = plan_chat(request.openai_body, model, unbounded)
    except SimulatedError as exc:
        raise GoogleError(exc.status, str(exc.body["message"])) from None
    thoughts: list[str | None] = [None] * len(plan.choices)
    if request.thinking:
        said = snippet(content_text(messages[-1].get("content")), 40)
        thoughts = [
            compose_reply(f"Thinking about: {said}. ", digest(b"thought%d" % c.index), 12)
            for c in plan.choices
        ]
    return Answer(plan, secrets.token_urlsafe(16), thoughts, request.signs_calls)


def _signature(choice: ChoicePlan) -> str:
    call = choice.tool_call
    seed = f"{call.name}:{call.arguments}" if call is not None else ""
    return base64.b64encode(digest(seed.encode()) * 2).decode("ascii")


def _call_part(answer: Answer, choice: ChoicePlan) -> dict[str, Any]:
    assert choice.tool_call is not None
    call = {"name": choice.tool_call.name, "args": orjson.loads(choice.tool_call.arguments)}
    part: dict[str, Any] = {"functionCall": call}
    if answer.signs_calls:
        part["thoughtSignature"] = _signature(choice)
    return part


def _finish(choice: ChoicePlan) -> str:
    return "MAX_TOKENS" if choice.finish_reason == "length" else "STOP"


def _usage(answer: Answer, completion: int) -> dict[str, Any]:
    prompt = answer.plan.prompt_tokens
    thoughts = answer.thought_tokens
    usage: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": completion,
        "totalTokenCount": prompt + completion + thoughts,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
    }
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    return usage


def _response(answer: Answer, candidates: list[dict[str, Any]], completion: int) -> dict[str, Any]:
    return {
        "candidates": candidates,
        "usageMetadata": _usage(answer, completion),
        "modelVersion": answer.plan.model,
        "responseId": answer.response_id,
    }


def render_response(answer: Answer) -> dict[str, Any]:
    candidates = []
    for choice, thought in zip(answer.plan.choices, answer.thoughts, strict=True):
        parts: list[dict[str, Any]] = [{"text": thought, "thought": True}] if thought else []
        if choice.tool_call is not None:
            parts.append(_call_part(answer, choice))
        else:
            parts.append({"text": choice.content or ""})
        candidates.append(
            {
                "content": {"parts": parts, "role": "model"},
                "finishReason": _finish(choice),
                "index": choice.index,
            }
        )
    return _response(answer, candidates, answer.plan.completion_tokens)


def iter_chunks(answer: Answer) -> Iterator[tuple[dict[str, Any], int]]:
    """The stream's chunks (whole ``GenerateContentResponse``s) with the tokens each carries."""
    sent = 0
    for choice, thought in zip(answer.plan.choices, answer.thoughts, strict=True):
        pieces: list[tuple[dict[str, Any], int]] = []
        if thought:
            pieces.append(({"text": thought, "thought": True}, 0))
        if choice.tool_call is not None:
            pieces.append((_call_part(answer, choice), choice.completion_tokens))
        else:
            fragments = ["".join(group) for group in choice.groups] or [""]
            pieces.extend(({"text": text}, estimate_tokens(text)) for text in fragments)
        for number, (part, tokens) in enumerate(pieces):
            sent += tokens
            candidate: dict[str, Any] = {
                "content": {"parts": [part], "role": "model"},
                "index": choice.index,
            }
            if number == len(pieces) - 1:
                candidate["finishReason"] = _finish(choice)
            yield _response(answer, [candidate], sent), tokens


# --- routes --------------------------------------------------------------------------


def add_google_routes(app: web.Application) -> None:
    prefix = f"/v1beta/models/{_MODEL}"
    app.router.add_post(f"{prefix}:generateContent", _endpoint(generate_content))
    app.router.add_post(f"{prefix}:streamGenerateContent", _endpoint(stream_generate_content))
    app.router.add_post(f"{prefix}:embedContent", _endpoint(embed_content))
    app.router.add_post(f"{prefix}:batchEmbedContents", _endpoint(batch_embed_contents))
    app.router.add_get("/v1beta/models", _endpoint(list_models))
    app.router.add_get(prefix, _endpoint(get_model))


def _endpoint(handler: Handler) -> Endpoint:
    return endpoint(handler, _prelude, GoogleError, GoogleError.to_response)


def _invalid_knob(exc: KnobError) -> GoogleError:
    return invalid(str(exc))


async def _prelude(request: web.Request, state: SimulatorState) -> RequestKnobs:
    """Authenticate, read the knobs, wait the fixed latency, maybe inject an error."""
    if state.settings.api_key is not None:
        presented = request.headers.get("x-goog-api-key") or request.query.get("key")
        _authenticate(presented, state.settings.api_key)
    knobs = await read_knobs(request, state, _invalid_knob)
    model = request.match_info.get("model", "")
    if state.settings.strict_models and model and model not in _known_models(state):
        raise GoogleError(
            404,
            f"models/{model} is not found for API version v1beta, or is not supported for "
            "generateContent. Call ListModels to see the list of available models and their "
            "supported methods.",
        )
    if state.should_fail(knobs.error_rate):
        raise injected_error(knobs.error_status, knobs.retry_after_s)
    return knobs


def _authenticate(presented: str | None, api_key: str) -> None:
    if not presented:
        raise GoogleError(
            403,
            "Method doesn't allow unregistered callers (callers without established identity)."
            " Please use API Key or other form of API consumer identity to call this API.",
        )
    if not secrets.compare_digest(presented.encode(), api_key.encode()):
        raise GoogleError(
            400,
            "API key not valid. Please pass a valid API key.",
            details=[
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                }
            ],
        )


def injected_error(status: int, retry_after_s: int) -> GoogleError:
    """The error Gemini would send with ``status``, for error injection."""
    if status == 429:
        return GoogleError(
            429,
            "You exceeded your current quota, please check your plan and billing details. "
            "For more information on this error, head to: "
            f"https://ai.google.dev/gemini-api/docs/rate-limits. Please retry in {retry_after_s}s.",
            details=[
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [
                        {
                            "quotaMetric": "generativelanguage.googleapis.com/"
                            "generate_content_free_tier_requests",
                            "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                            "quotaValue": "10",
                        }
                    ],
                },
                {
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": f"{retry_after_s}s",
                },
            ],
        )
    messages = {
        400: "Request contains an invalid argument.",
        401: "Request had invalid authentication credentials. Expected OAuth 2 access token, "
        "login cookie or other valid authentication credential.",
        403: "The caller does not have permission",
        404: "Requested entity was not found.",
        500: _INTERNAL,
        503: "The model is overloaded. Please try again later.",
        504: "Deadline expired before operation could complete.",
    }
    return GoogleError(status, messages.get(status, f"Simulated error with status {status}."))


def _known_models(state: SimulatorState) -> tuple[str, ...]:
    return GEMINI_MODELS + tuple(m for m in state.settings.models if m not in GEMINI_MODELS)


def _json(payload: Any) -> web.Response:
    return web.Response(
        body=orjson.dumps(payload), content_type="application/json", charset="UTF-8"
    )


async def _read_json(request: web.Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        raise invalid("Invalid JSON payload received. Unexpected token.")
    return body


async def _answer(request: web.Request, knobs: RequestKnobs) -> Answer:
    model = request.match_info["model"]
    return plan_answer(read_request(await _read_json(request), model), model, knobs)


async def generate_content(request: web.Request, knobs: RequestKnobs) -> web.StreamResponse:
    answer = await _answer(request, knobs)
    delay = knobs.delay_for(answer.plan.completion_tokens + answer.thought_tokens)
    if delay > 0:
        await asyncio.sleep(delay)
    return _json(render_response(answer))


async def stream_generate_content(request: web.Request, knobs: RequestKnobs) -> web.StreamResponse:
    """SSE with ``alt=sse`` (what the SDKs ask for); otherwise one JSON array, as Google does."""
    answer = await _answer(request, knobs)
    if request.query.get("alt") != "sse":
        delay = knobs.delay_for(answer.plan.completion_tokens)
        if delay > 0:
            await asyncio.sleep(delay)
        return _json([chunk for chunk, _ in iter_chunks(answer)])
    return await stream_paced(
        request,
        iter_chunks(answer),
        knobs,
        encode=_sse_event,
        failure=lambda: GoogleError(500, _INTERNAL).to_sse_event(),
        headers=_SSE_HEADERS,
    )


def _sse_event(chunk: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(chunk) + b"\r\n\r\n"


def _embed_one(item: Any, model: str, where: str) -> dict[str, Any]:
    item = item if isinstance(item, dict) else {}
    content = item.get("content")
    text = "".join(_part_text(part, where) for part in _parts(content, where))
    dimensions = item.get("outputDimensionality") or item.get("output_dimensionality")
    dimensions = dimensions or _DIMENSIONS.get(model, 768)
    if not isinstance(dimensions, int) or not 1 <= dimensions <= 3072:
        raise invalid(f"* {where}.output_dimensionality: must be between 1 and 3072\n")
    return {"values": embedding_vector(text.encode(), dimensions).tolist()}


async def embed_content(request: web.Request, knobs: RequestKnobs) -> web.StreamResponse:
    body = await _read_json(request)
    embedding = _embed_one(body, request.match_info["model"], "EmbedContentRequest.content")
    return _json({"embedding": embedding})


async def batch_embed_contents(request: web.Request, knobs: RequestKnobs) -> web.StreamResponse:
    model = request.match_info["model"]
    requests = (await _read_json(request)).get("requests")
    if not isinstance(requests, list) or not requests:
        raise invalid("* BatchEmbedContentsRequest.requests: requests is not specified\n")
    embeddings = [
        _embed_one(item, model, f"BatchEmbedContentsRequest.requests[{number}].content")
        for number, item in enumerate(requests)
    ]
    if knobs.ttft_ms > 0:
        await asyncio.sleep(knobs.ttft_ms / 1000)
    return _json({"embeddings": embeddings})


def _model_object(model: str) -> dict[str, Any]:
    embeds = "embedding" in model
    methods = (
        ["embedContent", "batchEmbedContents"] if embeds else ["generateContent", "countTokens"]
    )
    return {
        "name": f"models/{model}",
        "version": "001",
        "displayName": model,
        "description": "A simulated model.",
        "inputTokenLimit": 2048 if embeds else 1_048_576,
        "outputTokenLimit": 1 if embeds else 65_536,
        "supportedGenerationMethods": methods,
    }


async def list_models(request: web.Request, knobs: RequestKnobs) -> web.StreamResponse:
    models = _known_models(request.app[SIM_STATE])
    listed = [_model_object(model) for model in models if model not in DEFAULT_MODELS]
    return _json({"models": listed})


async def get_model(request: web.Request, knobs: RequestKnobs) -> web.StreamResponse:
    model = request.match_info["model"]
    if model not in _known_models(request.app[SIM_STATE]):
        raise GoogleError(404, f"models/{model} is not found for API version v1beta.")
    return _json(_model_object(model))
