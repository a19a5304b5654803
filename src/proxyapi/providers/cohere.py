"""Cohere's API v2: ``POST /v2/chat`` (streamed with ``"stream": true``), ``POST /v2/embed``,
``GET /v1/models``; ``Authorization: Bearer``.

Field names and the streamed event union follow Cohere's API reference ("Chat
(v2)", "Chat with streaming", "Embed (v2)", "List Models") and the ``cohere``
SDK's generated types (``cohere/v2/types``, ``cohere/types``), which are the
schema Cohere publishes. The translation, both ways:

- messages map nearly one to one: ``developer`` becomes ``system``; content
  parts keep their shape (``text``, ``image_url`` with a URL or a data URL);
  an assistant turn with ``tool_calls`` carries its text (or its
  ``reasoning_content``) as Cohere's ``tool_plan``, the way Cohere's tool-use
  guide hands the plan back with the calls;
- ``top_p`` is ``p``, ``stop`` is ``stop_sequences``, ``max_completion_tokens``
  is ``max_tokens``; ``tools`` have OpenAI's function shape already (ToolV2),
  a function's ``strict`` becomes the request-wide ``strict_tools``;
  ``tool_choice`` ``required``/``none`` are ``REQUIRED``/``NONE``;
  ``response_format`` is ``{"type": "json_object", "json_schema": schema}``;
  ``reasoning_effort`` is ``thinking`` with a token budget (reasoning models);
- Cohere cannot honour ``n > 1``, a forced specific function, ``parallel_tool_calls:
  false``, ``logprobs`` or other OpenAI-only parameters: a 400 naming the
  parameter, or dropped (logged at debug) when the provider sets ``drop_params``.
  ``user``, ``metadata``, ``store`` and ``service_tier: auto`` change no answer and
  are left out silently;
- answers: text parts joined; ``thinking`` parts and the ``tool_plan`` come back
  as ``reasoning_content`` (both are the model's reasoning, not its answer);
  ``finish_reason`` COMPLETE/STOP_SEQUENCE -> stop, MAX_TOKENS -> length,
  TOOL_CALL -> tool_calls, ERROR/TIMEOUT -> an upstream error; usage from
  ``usage.tokens`` (else ``billed_units``), ``cached_tokens`` as OpenAI's.
"""

from __future__ import annotations

import base64
import logging
import secrets
import sys
import time
from array import array
from collections.abc import Mapping
from typing import Any

import orjson

from proxyapi.errors import (
    ContextLengthExceeded,
    InvalidRequest,
    UpstreamAuthError,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamStatusError,
    UpstreamTimeout,
)
from proxyapi.providers.base import Deployment, JSONObject, UpstreamRequest
from proxyapi.providers.openai import parse_retry_after, read_error
from proxyapi.transport.sse import DONE, DONE_EVENT, SSEEvent, encode_data

logger = logging.getLogger("proxyapi.providers.cohere")

FINISH_REASONS = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
}
# ChatFinishReason's failures; any other (future) reason reads as a normal stop.
FAILED = frozenset({"ERROR", "TIMEOUT"})
# reasoning_effort -> thinking.token_budget; Cohere's "Reasoning" guide leaves the
# budget to the caller (a positive integer), these follow OpenAI's effort ladder.
REASONING_BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576}
# Cohere embeds v3+ need an input_type; a gateway mostly embeds documents to index.
# A client may say otherwise with an extra body field "input_type".
DEFAULT_INPUT_TYPE = "search_document"
# Cohere-native parameters a client may send as extra body fields, passed as they are.
NATIVE_PARAMS = frozenset(
    {"k", "safety_mode", "documents", "citation_options", "priority", "thinking", "strict_tools"}
)
# Parameters that change no answer; Cohere has no field for them.
_SILENT = frozenset({"model", "messages", "stream_options", "user", "metadata", "store"})
_SILENT_IF = {
    "n": 1,
    "parallel_tool_calls": True,
    "logprobs": False,
    "stream": False,
    "service_tier": "auto",
}
_RENAMED = {
    "max_tokens": "max_tokens",
    "max_completion_tokens": "max_tokens",
    "temperature": "temperature",
    "top_p": "p",
    "seed": "seed",
    "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty",
}
# Cohere's context-length 400 reads "too many tokens: size limit exceeded by N
# tokens. Try using shorter or fewer inputs. The limit for this model is M tokens."
_CONTEXT_MARKERS = ("size limit exceeded", "too many tokens: total number of tokens")


def build_headers(deployment: Deployment, *, is_json: bool = True) -> dict[str, str]:
    headers = {"Content-Type": "application/json"} if is_json else {}
    headers.update(deployment.headers)
    if deployment.api_key:
        headers["Authorization"] = f"Bearer {deployment.api_key}"
    return headers


# -- request ---------------------------------------------------------------------------


class _Params:
    """Where each OpenAI parameter goes in Cohere's request, or why it cannot."""

    def __init__(self, body: JSONObject, deployment: Deployment) -> None:
        self.drop_params = deployment.drop_params
        self.out: JSONObject = {"model": body.get("model")}

    def refuse(self, name: str, reason: str) -> None:
        if not self.drop_params:
            raise InvalidRequest(f"Cohere {reason}", param=name, code="unsupported_parameter")
        logger.debug("dropping '%s' for cohere: %s", name, reason)

    def take(self, name: str, value: Any) -> None:
        if name in _RENAMED:
            self.out[_RENAMED[name]] = value
        elif name in NATIVE_PARAMS:
            self.out[name] = value
        elif name in _SILENT or _SILENT_IF.get(name, ...) == value:
            return
        elif name == "stream":
            self.out["stream"] = value is True
        elif name == "stop":
            self.out["stop_sequences"] = [value] if isinstance(value, str) else list(value)
        elif name == "tools":
            self.take_tools(value)
        elif name == "tool_choice":
            self.take_tool_choice(value)
        elif name == "response_format":
            self.take_response_format(value)
        elif name == "reasoning_effort":
            self.take_reasoning_effort(value)
        elif name == "n":
            self.refuse(name, "returns one choice per request: 'n' must be 1.")
        else:
            self.refuse(name, f"does not support the parameter '{name}'.")

    def take_tools(self, tools: list[Any]) -> None:
        converted: list[JSONObject] = []
        for tool in tools:
            function = tool.get("function") if isinstance(tool, dict) else None
            if not isinstance(tool, dict) or tool.get("type") != "function" or not function:
                self.refuse("tools", "supports only tools of type 'function'.")
                continue
            spec = {k: v for k, v in function.items() if k in ("name", "description")}
            # ToolV2Function requires parameters; OpenAI allows leaving them out.
            spec["parameters"] = function.get("parameters") or {"type": "object", "properties": {}}
            if function.get("strict") is True:
                self.out["strict_tools"] = True
            converted.append({"type": "function", "function": spec})
        if converted:
            self.out["tools"] = converted

    def take_tool_choice(self, choice: Any) -> None:
        if choice in ("required", "none"):
            self.out["tool_choice"] = str(choice).upper()
        elif choice != "auto":
            # V2ChatRequestToolChoice is "REQUIRED" | "NONE"; no named function.
            self.refuse("tool_choice", "cannot force one named function; use 'required'.")

    def take_response_format(self, spec: Any) -> None:
        kind = spec.get("type") if isinstance(spec, dict) else None
        if kind == "json_object":
            self.out["response_format"] = {"type": "json_object"}
        elif kind == "json_schema":
            schema = (spec.get("json_schema") or {}).get("schema")
            self.out["response_format"] = {"type": "json_object", "json_schema": schema or {}}
        elif kind != "text":
            self.refuse("response_format", f"does not support response_format type {kind!r}.")

    def take_reasoning_effort(self, effort: Any) -> None:
        # Only Cohere's reasoning models (command-a-reasoning-*) accept "thinking".
        if "reasoning" not in str(self.out.get("model", "")):
            self.refuse("reasoning_effort", f"model {self.out.get('model')!r} does not reason.")
        elif effort == "none":
            self.out["thinking"] = {"type": "disabled"}
        else:
            budget = REASONING_BUDGETS.get(str(effort), REASONING_BUDGETS["medium"])
            self.out["thinking"] = {"type": "enabled", "token_budget": budget}


def _text_parts(content: Any, param: str) -> str | list[JSONObject]:
    if isinstance(content, str) or content is None:
        return content or ""
    parts: list[JSONObject] = []
    for index, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") != "text":
            kind = part.get("type") if isinstance(part, dict) else part
            raise InvalidRequest(
                f"Cohere accepts only text here, not {kind!r}.",
                param=f"{param}.content[{index}]",
            )
        parts.append({"type": "text", "text": part.get("text", "")})
    return parts


def _user_content(content: Any, param: str) -> str | list[JSONObject]:
    if not isinstance(content, list):
        return _text_parts(content, param)
    parts: list[JSONObject] = []
    for index, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            parts.append({"type": "text", "text": part.get("text", "")})
        elif kind == "image_url":
            image = part.get("image_url")
            image = image if isinstance(image, dict) else {"url": image}
            # ImageUrl: a web URL or a base64 data URI, with an optional detail.
            parts.append({"type": "image_url", "image_url": dict(image)})
        else:
            raise InvalidRequest(
                f"Cohere does not accept content parts of type {kind!r}.",
                param=f"{param}.content[{index}]",
            )
    return parts


def _joined_text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def _assistant_message(message: JSONObject) -> JSONObject:
    out: JSONObject = {"role": "assistant"}
    text = _joined_text(message.get("content"))
    calls = message.get("tool_calls")
    if not calls:
        out["content"] = text
        return out
    out["tool_calls"] = _tool_calls(calls)
    plan = message.get("reasoning_content") or text
    if plan:
        out["tool_plan"] = plan
    return out


def _message(message: JSONObject, index: int) -> JSONObject:
    role = message.get("role")
    param = f"messages[{index}]"
    content = message.get("content")
    if role in ("system", "developer"):
        return {"role": "system", "content": _text_parts(content, param)}
    if role == "user":
        return {"role": "user", "content": _user_content(content, param)}
    if role == "assistant":
        return _assistant_message(message)
    if role == "tool":
        return {
            "role": "tool",
            "tool_call_id": message.get("tool_call_id", ""),
            "content": _text_parts(content, param),
        }
    raise InvalidRequest(f"Cohere does not accept messages of role {role!r}.", param=param)


def build_chat_payload(body: JSONObject, deployment: Deployment) -> JSONObject:
    """The ``/v2/chat`` body for an OpenAI chat request."""
    params = _Params(body, deployment)
    params.out["messages"] = [_message(m, i) for i, m in enumerate(body.get("messages") or ())]
    for name, value in body.items():
        if value is not None:
            params.take(name, value)
    return params.out


# -- response --------------------------------------------------------------------------


def _usage(usage: Any) -> JSONObject | None:
    """OpenAI usage from Cohere's: real ``tokens`` first, ``billed_units`` otherwise."""
    if not isinstance(usage, dict):
        return None
    counts = usage.get("tokens") or usage.get("billed_units") or {}
    prompt = int(counts.get("input_tokens") or 0)
    completion = int(counts.get("output_tokens") or 0)
    out: JSONObject = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if usage.get("cached_tokens") is not None:
        out["prompt_tokens_details"] = {"cached_tokens": int(usage["cached_tokens"])}
    return out


def _failure(finish: Any, detail: Any, provider: str = "cohere") -> UpstreamError:
    """A 200 answer that says the generation failed (finish_reason ERROR or TIMEOUT)."""
    message = str(detail) if detail else f"Cohere ended the generation with {finish}."
    if finish == "TIMEOUT":
        return UpstreamTimeout(message, provider=provider)
    return UpstreamStatusError(
        message, provider=provider, upstream_status=502, error_type="server_error"
    )


def _tool_calls(calls: Any) -> list[JSONObject]:
    return [
        {
            "id": call.get("id"),
            "type": "function",
            "function": {
                "name": (call.get("function") or {}).get("name"),
                "arguments": (call.get("function") or {}).get("arguments") or "{}",
            },
        }
        for call in calls or ()
        if isinstance(call, dict)
    ]


def _chat_message(message: JSONObject) -> JSONObject:
    texts: list[str] = []
    thoughts: list[str] = []
    for part in message.get("content") or ():
        if not isinstance(part, dict):
            continue
        if part.get("type") == "text":
            texts.append(part.get("text", ""))
        elif part.get("type") == "thinking":
            thoughts.append(part.get("thinking", ""))
    if message.get("tool_plan"):
        thoughts.append(message["tool_plan"])
    calls = _tool_calls(message.get("tool_calls"))
    out: JSONObject = {
        "role": "assistant",
        "content": "".join(texts) if texts or not calls else None,
        "refusal": None,
    }
    if thoughts:
        out["reasoning_content"] = "".join(thoughts)
    if calls:
        out["tool_calls"] = calls
    return out


def chat_completion(data: JSONObject, request: JSONObject) -> JSONObject:
    """An OpenAI ``chat.completion`` from a ``/v2/chat`` answer."""
    finish = data.get("finish_reason")
    if str(finish) in FAILED:
        raise _failure(finish, data.get("error"))
    completion: JSONObject = {
        "id": f"chatcmpl-{data.get('id') or secrets.token_hex(12)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model"),
        "choices": [
            {
                "index": 0,
                "message": _chat_message(data.get("message") or {}),
                "logprobs": None,
                "finish_reason": FINISH_REASONS.get(str(finish), "stop"),
            }
        ],
    }
    usage = _usage(data.get("usage"))
    if usage is not None:
        completion["usage"] = usage
    return completion


# -- stream ----------------------------------------------------------------------------


class CohereStreamTranslator:
    """Cohere v2 stream events in, OpenAI ``chat.completion.chunk`` events out.

    Sequence (API reference "Chat with streaming"): message-start, then per text
    block content-start / content-delta* / content-end, or tool-plan-delta* and
    per call tool-call-start / tool-call-delta* / tool-call-end, citation-start /
    -end, and message-end with finish_reason and usage; then ``data: [DONE]``.
    Each SSE event has an ``event:`` name equal to its JSON ``type``.
    """

    __slots__ = ("_calls", "_created", "_done", "_head", "_include_usage", "_started")

    def __init__(self, request: JSONObject) -> None:
        options = request.get("stream_options")
        self._include_usage = isinstance(options, dict) and options.get("include_usage") is True
        self._created = int(time.time())
        self._head: JSONObject = {}
        self._calls: dict[int, int] = {}  # Cohere's event index -> OpenAI tool-call index
        self._started = False
        self._done = False
        self._start(secrets.token_hex(12), request.get("model"))

    def _start(self, upstream_id: str, model: Any) -> None:
        self._head = {
            "id": f"chatcmpl-{upstream_id}",
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": model,
        }

    def _chunk(self, delta: JSONObject, finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        chunk = {**self._head, "choices": [choice]}
        if self._include_usage:
            chunk["usage"] = None
        return encode_data(orjson.dumps(chunk))

    def _opening(self) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        return [self._chunk({"role": "assistant", "content": ""})]

    def feed(self, event: SSEEvent) -> list[bytes]:
        if self._done or event.data == DONE:
            return []
        try:
            data = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            return []
        if not isinstance(data, dict):
            return []
        kind = data.get("type") or event.event
        if kind == "message-start":
            if data.get("id"):
                self._start(str(data["id"]), self._head["model"])
            return self._opening()
        out = self._opening()
        delta = _object(data.get("delta"))
        message = _object(delta.get("message"))
        if kind == "content-delta":
            out.extend(self._content(_object(message.get("content"))))
        elif kind == "tool-plan-delta" and message.get("tool_plan"):
            out.append(self._chunk({"reasoning_content": message["tool_plan"]}))
        elif kind == "tool-call-start":
            out.append(self._call_start(data.get("index"), _object(message.get("tool_calls"))))
        elif kind == "tool-call-delta":
            out.extend(self._call_delta(data.get("index"), _object(message.get("tool_calls"))))
        elif kind == "message-end":
            out.extend(self._end(delta))
        # content-start/-end, tool-call-end, citation-*, debug: nothing to say.
        return out

    def _content(self, content: JSONObject) -> list[bytes]:
        if content.get("text"):
            return [self._chunk({"content": content["text"]})]
        if content.get("thinking"):
            return [self._chunk({"reasoning_content": content["thinking"]})]
        return []

    def _call_start(self, index: Any, call: JSONObject) -> bytes:
        position = len(self._calls)
        self._calls[index if isinstance(index, int) else position] = position
        function = call.get("function") or {}
        head = {
            "index": position,
            "id": call.get("id"),
            "type": "function",
            "function": {"name": function.get("name"), "arguments": function.get("arguments", "")},
        }
        return self._chunk({"tool_calls": [head]})

    def _call_delta(self, index: Any, call: JSONObject) -> list[bytes]:
        fragment = (call.get("function") or {}).get("arguments")
        if not fragment:
            return []
        position = self._calls.get(index) if isinstance(index, int) else None
        if position is None:  # no index: the call started last
            position = max(len(self._calls) - 1, 0)
        piece = {"index": position, "function": {"arguments": fragment}}
        return [self._chunk({"tool_calls": [piece]})]

    def _end(self, delta: JSONObject) -> list[bytes]:
        self._done = True
        finish = delta.get("finish_reason")
        if str(finish) in FAILED:
            return [_error_event(_failure(finish, delta.get("error")))]
        out = [self._chunk({}, FINISH_REASONS.get(str(finish), "stop"))]
        if self._include_usage:
            usage = _usage(delta.get("usage")) or _usage({"tokens": {}})
            chunk = {**self._head, "choices": [], "usage": usage}
            out.append(encode_data(orjson.dumps(chunk)))
        out.append(DONE_EVENT)
        return out

    def close(self) -> list[bytes]:
        if self._done:
            return []
        self._done = True
        cut = UpstreamStatusError(
            "Cohere's stream ended before its message-end event.",
            provider="cohere",
            upstream_status=502,
            error_type="server_error",
        )
        return [_error_event(cut)]


def _object(value: Any) -> JSONObject:
    """``value`` when it is a JSON object, else an empty one: stream fields are optional."""
    return value if isinstance(value, dict) else {}


def _error_event(error: UpstreamError) -> bytes:
    return encode_data(orjson.dumps(error.to_dict()))


# -- embeddings ------------------------------------------------------------------------


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return list(value)
    raise InvalidRequest(
        "Cohere embeds text only: 'input' must be a string or an array of strings, "
        "not token arrays.",
        param="input",
    )


def build_embed_payload(body: JSONObject) -> JSONObject:
    payload: JSONObject = {
        "model": body.get("model"),
        "texts": _texts(body.get("input")),
        "input_type": body.get("input_type") or DEFAULT_INPUT_TYPE,
        # Always floats: Cohere's "base64" type does not document its byte order,
        # OpenAI's is little-endian float32, so base64 is encoded here.
        "embedding_types": ["float"],
    }
    if body.get("dimensions") is not None:
        payload["output_dimension"] = body["dimensions"]
    if body.get("truncate") is not None:
        payload["truncate"] = body["truncate"]
    return payload


def encode_floats(vector: list[float]) -> str:
    """Base64 of little-endian float32s: what OpenAI sends and its SDK decodes."""
    packed = array("f", vector)
    if sys.byteorder != "little":
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode("ascii")


def embedding_list(data: JSONObject, request: JSONObject) -> JSONObject:
    """OpenAI's embeddings list from a ``/v2/embed`` answer (embeddings by type)."""
    embeddings = data.get("embeddings")
    vectors = embeddings.get("float") if isinstance(embeddings, dict) else embeddings
    is_base64 = request.get("encoding_format") == "base64"
    meta = data.get("meta") or {}
    counts = meta.get("billed_units") or meta.get("tokens") or {}
    tokens = int(counts.get("input_tokens") or 0)
    return {
        "object": "list",
        "data": [
            {
                "object": "embedding",
                "index": index,
                "embedding": encode_floats(vector) if is_base64 else vector,
            }
            for index, vector in enumerate(vectors or ())
        ],
        "model": request.get("model"),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


# -- errors ----------------------------------------------------------------------------


def load_object(body: bytes) -> JSONObject:
    """A 2xx body as a JSON object; anything else is the upstream's failure."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise UpstreamStatusError(
            "Cohere answered with a body that is not a JSON object.",
            provider="cohere",
            upstream_status=502,
            error_type="server_error",
        )
    return parsed


def _message_of(body: bytes) -> str:
    """Cohere's errors are ``{"id": ..., "message": ...}``; others are read as OpenAI's."""
    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("message"), str):
        return str(parsed["message"])
    return read_error(body)[0]


def classify(status: int, headers: Mapping[str, str], body: bytes, provider: str) -> UpstreamError:
    message = _message_of(body)
    if status == 429:
        return UpstreamRateLimited(
            message,
            retry_after=parse_retry_after(headers),
            provider=provider,
            upstream_status=status,
        )
    # 498 is Cohere's "invalid token" (the SDK's InvalidTokenError).
    if status in (401, 403, 498):
        return UpstreamAuthError(provider, status)
    lowered = message.lower()
    if status == 400 and any(marker in lowered for marker in _CONTEXT_MARKERS):
        return ContextLengthExceeded(
            message, provider=provider, upstream_status=status, param="messages"
        )
    return UpstreamStatusError(
        message,
        provider=provider,
        upstream_status=status,
        code="model_not_found" if status == 404 else None,
        error_type="server_error" if status >= 500 else "invalid_request_error",
    )


class CohereAdapter:
    """Adapter for Cohere's API v2 (provider ``type: cohere``)."""

    def build_chat(self, body: JSONObject, deployment: Deployment) -> UpstreamRequest:
        payload = build_chat_payload(body, deployment)
        return UpstreamRequest(
            "POST",
            f"{deployment.base_url}/v2/chat",
            build_headers(deployment),
            orjson.dumps(payload),
        )

    def parse_chat(self, status: int, body: bytes, request: JSONObject) -> bytes:
        return orjson.dumps(chat_completion(load_object(body), request))

    def stream_translator(self, request: JSONObject) -> CohereStreamTranslator:
        return CohereStreamTranslator(request)

    def build_embeddings(self, body: JSONObject, deployment: Deployment) -> UpstreamRequest:
        payload = build_embed_payload(body)
        return UpstreamRequest(
            "POST",
            f"{deployment.base_url}/v2/embed",
            build_headers(deployment),
            orjson.dumps(payload),
        )

    def parse_embeddings(self, status: int, body: bytes, request: JSONObject) -> bytes:
        return orjson.dumps(embedding_list(load_object(body), request))

    def build_models(self, deployment: Deployment) -> UpstreamRequest | None:
        # page_size: Cohere pages by 20 by default, 1000 at most.
        url = f"{deployment.base_url}/v1/models?page_size=1000"
        return UpstreamRequest("GET", url, build_headers(deployment, is_json=False))

    def parse_models(self, body: bytes) -> list[str]:
        parsed = orjson.loads(body)
        models = parsed.get("models") if isinstance(parsed, dict) else None
        if not isinstance(models, list):
            return []
        return [str(m["name"]) for m in models if isinstance(m, dict) and m.get("name")]

    def classify_error(
        self, status: int, headers: Mapping[str, str], body: bytes, provider: str
    ) -> UpstreamError:
        return classify(status, headers, body, provider)
