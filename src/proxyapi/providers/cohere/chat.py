"""OpenAI chat requests as Cohere ``/v2/chat`` requests, and the answers back."""

from __future__ import annotations

import logging
from typing import Any

from proxyapi.errors import InvalidRequest
from proxyapi.providers._openai_shape import (
    assistant_message,
    choice,
    completion,
    new_completion_id,
    tool_call,
    usage,
)
from proxyapi.providers.base import Deployment, JSONObject
from proxyapi.providers.cohere.errors import FAILED, failure

logger = logging.getLogger("proxyapi.providers.cohere")

FINISH_REASONS = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
}
# reasoning_effort -> thinking.token_budget; Cohere's "Reasoning" guide leaves the
# budget to the caller (a positive integer), these follow OpenAI's effort ladder.
REASONING_BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576}
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


def usage_of(counts: Any) -> JSONObject | None:
    """OpenAI usage from Cohere's: real ``tokens`` first, ``billed_units`` otherwise."""
    if not isinstance(counts, dict):
        return None
    tokens = counts.get("tokens") or counts.get("billed_units") or {}
    cached = counts.get("cached_tokens")
    return usage(
        int(tokens.get("input_tokens") or 0),
        int(tokens.get("output_tokens") or 0),
        cached=None if cached is None else int(cached),
    )


def finish_reason(finish: Any) -> str:
    return FINISH_REASONS.get(str(finish), "stop")


def _tool_calls(calls: Any) -> list[JSONObject]:
    return [
        tool_call(
            call.get("id"),
            (call.get("function") or {}).get("name"),
            (call.get("function") or {}).get("arguments") or "{}",
        )
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
    return assistant_message(
        "".join(texts) if texts or not calls else None,
        reasoning="".join(thoughts) if thoughts else None,
        tool_calls=calls,
    )


def chat_completion(data: JSONObject, request: JSONObject) -> JSONObject:
    """An OpenAI ``chat.completion`` from a ``/v2/chat`` answer."""
    finish = data.get("finish_reason")
    if str(finish) in FAILED:
        raise failure(finish, data.get("error"))
    completion_id = f"chatcmpl-{data['id']}" if data.get("id") else new_completion_id()
    message = _chat_message(data.get("message") or {})
    return completion(
        completion_id,
        request.get("model"),
        [choice(message, finish_reason(finish))],
        usage_of(data.get("usage")),
    )
