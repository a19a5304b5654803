"""OpenAI chat requests to Anthropic Messages requests, and Messages answers back.

Wire format sources: the Messages API reference (platform.claude.com/docs/en/api/messages)
and the official SDK's own types (``anthropic`` 2.x: ``MessageCreateParams``,
``ToolChoice*Param``, ``URLImageSourceParam``, ``Base64ImageSourceParam``,
``ThinkingConfigEnabledParam``, ``OutputConfigParam``, ``Message``, ``Usage``).

Decisions a reader needs (also in the README's provider table):

- ``max_tokens`` is required by Anthropic; without ``max_tokens`` /
  ``max_completion_tokens`` (and no ``model_overrides`` default) it is ``DEFAULT_MAX_TOKENS``.
- ``reasoning_effort`` becomes extended thinking with ``THINKING_BUDGETS`` tokens;
  ``max_tokens`` is raised to budget + requested when it would not exceed the budget,
  and ``temperature`` / ``top_k`` (and ``top_p`` below 0.95) are not sent with thinking,
  which Anthropic rejects ("Extended thinking", "Feature compatibility").
- ``response_format`` ``json_schema`` uses Anthropic structured outputs
  (``output_config.format``); ``json_object`` has no schema-less equivalent: 400
  unless ``drop_params``.
- Thinking blocks come back as ``message.reasoning_content`` (text) and
  ``message.thinking_blocks`` (the blocks, signatures included); an assistant
  message carrying them is sent back with those blocks first, as Anthropic
  requires for tool use with thinking.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from proxyapi.errors import InvalidRequest
from proxyapi.providers._openai_shape import (
    assistant_message,
    choice,
    completion,
    tool_call,
    usage,
)
from proxyapi.providers.base import JSONObject

logger = logging.getLogger("proxyapi.providers.anthropic")

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
# reasoning_effort -> thinking budget_tokens; Anthropic's minimum budget is 1024
# (ThinkingConfigEnabledParam.budget_tokens: "Must be >= 1024 and less than max_tokens").
THINKING_BUDGETS: Mapping[str, int] = {
    "minimal": 1024,
    "low": 1024,
    "medium": 4096,
    "high": 16384,
    "xhigh": 32768,
}
# With thinking, top_p may only be between 0.95 and 1 ("Extended thinking", compatibility).
_THINKING_MIN_TOP_P = 0.95
# Base64ImageSourceParam.media_type accepts exactly these.
_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_THINKING_TYPES = frozenset({"thinking", "redacted_thinking"})

# OpenAI parameters with no Messages API counterpart; a value for which the check
# is true changes nothing and passes silently.
_HARMLESS: Mapping[str, Callable[[Any], bool]] = {
    "n": lambda value: value is None or value == 1,
    "presence_penalty": lambda value: not value,
    "frequency_penalty": lambda value: not value,
    "logit_bias": lambda value: not value,
    "logprobs": lambda value: not value,
    "top_logprobs": lambda value: not value,
    "seed": lambda value: value is None,
    "audio": lambda value: value is None,
    "modalities": lambda value: value is None or value == ["text"],
    "prediction": lambda value: value is None,
    "web_search_options": lambda value: value is None,
    "functions": lambda value: not value,
    "function_call": lambda value: value is None,
}

_FINISH_REASONS: Mapping[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def finish_reason(stop_reason: Any) -> str:
    return _FINISH_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def unsupported(param: str, message: str, drop_params: bool) -> None:
    """Refuse a parameter Anthropic cannot honour, or drop it when the provider allows."""
    if drop_params:
        logger.debug("drop_params: not sending %s to Anthropic (%s)", param, message)
        return
    raise InvalidRequest(message, param=param, code="unsupported_parameter")


# --- request -------------------------------------------------------------------------


def build_messages_body(body: JSONObject, drop_params: bool) -> JSONObject:
    """The Messages API request for an OpenAI chat request (which is left unchanged)."""
    for name, is_harmless in _HARMLESS.items():
        value = body.get(name)
        if value is not None and not is_harmless(value):
            unsupported(name, f"Anthropic's Messages API does not support '{name}'.", drop_params)
    system, messages = translate_messages(body["messages"], drop_params)
    out: JSONObject = {"model": body["model"], "messages": messages}
    if system:
        out["system"] = system
    thinking = thinking_config(body)
    out["max_tokens"] = max_tokens_for(body, thinking)
    _add_sampling(out, body, thinking, drop_params)
    _add_tools(out, body, thinking, drop_params)
    output_config = _output_config(body.get("response_format"), drop_params)
    if output_config is not None:
        out["output_config"] = output_config
    user = body.get("user") or body.get("safety_identifier")
    if isinstance(user, str) and user:
        out["metadata"] = {"user_id": user}
    if body.get("stream") is True:
        out["stream"] = True
    return out


def thinking_config(body: JSONObject) -> JSONObject | None:
    """Anthropic's ``thinking`` from ``reasoning_effort`` (or passed as it is, if given)."""
    explicit = body.get("thinking")
    if isinstance(explicit, dict):
        return explicit
    effort = body.get("reasoning_effort")
    if effort is None or effort == "none":
        return None
    budget = THINKING_BUDGETS.get(effort) if isinstance(effort, str) else None
    if budget is None:
        raise InvalidRequest(
            f"Invalid value for 'reasoning_effort': {effort!r}. Supported values are: "
            + ", ".join(f"'{name}'" for name in ("none", *THINKING_BUDGETS))
            + ".",
            param="reasoning_effort",
            code="invalid_value",
        )
    return {"type": "enabled", "budget_tokens": budget}


def _thinking_budget(thinking: JSONObject | None) -> int | None:
    if thinking is None or thinking.get("type") != "enabled":
        return None
    budget = thinking.get("budget_tokens")
    return budget if isinstance(budget, int) else None


def max_tokens_for(body: JSONObject, thinking: JSONObject | None) -> int:
    requested = body.get("max_completion_tokens") or body.get("max_tokens")
    tokens = requested if isinstance(requested, int) else DEFAULT_MAX_TOKENS
    budget = _thinking_budget(thinking)
    if budget is not None and tokens <= budget:
        # budget_tokens must be below max_tokens; keep the requested room for the answer.
        tokens += budget
    return tokens


def _add_sampling(
    out: JSONObject, body: JSONObject, thinking: JSONObject | None, drop_params: bool
) -> None:
    is_thinking = thinking is not None and thinking.get("type") != "disabled"
    temperature = body.get("temperature")
    top_p = body.get("top_p")
    top_k = body.get("top_k")
    if is_thinking:
        # Thinking requires the default temperature and top_k, and top_p >= 0.95.
        if temperature is not None or top_k is not None:
            logger.debug("not sending temperature/top_k with extended thinking")
        temperature = top_k = None
        if isinstance(top_p, int | float) and top_p < _THINKING_MIN_TOP_P:
            top_p = None
    elif isinstance(temperature, int | float) and temperature > 1:
        # Anthropic's temperature range is [0, 1]; OpenAI's is [0, 2].
        unsupported("temperature", "Anthropic's temperature must be between 0 and 1.", drop_params)
        temperature = None
    if thinking is not None:
        out["thinking"] = thinking
    if temperature is not None:
        out["temperature"] = temperature
    if top_p is not None:
        out["top_p"] = top_p
    if top_k is not None:
        out["top_k"] = top_k
    stop = body.get("stop")
    if isinstance(stop, str) and stop:
        out["stop_sequences"] = [stop]
    elif isinstance(stop, list) and stop:
        out["stop_sequences"] = [item for item in stop if isinstance(item, str) and item]


def _add_tools(
    out: JSONObject, body: JSONObject, thinking: JSONObject | None, drop_params: bool
) -> None:
    tools = body.get("tools")
    if not tools:
        return
    converted = (_tool(tool, index, drop_params) for index, tool in enumerate(tools))
    out["tools"] = [tool for tool in converted if tool is not None]
    choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
    if choice is not None and choice["type"] in ("any", "tool") and _thinking_budget(thinking):
        # "Tool use with extended thinking only supports tool_choice auto or none."
        unsupported(
            "tool_choice",
            "Anthropic does not allow forcing a tool call with extended thinking "
            "(reasoning_effort); use tool_choice 'auto'.",
            drop_params,
        )
        choice = {"type": "auto", **_parallel_flag(choice)}
    if choice is not None:
        out["tool_choice"] = choice


def _parallel_flag(choice: JSONObject) -> JSONObject:
    flag = choice.get("disable_parallel_tool_use")
    return {} if flag is None else {"disable_parallel_tool_use": flag}


def _tool(tool: Any, index: int, drop_params: bool) -> JSONObject | None:
    function = tool.get("function") if isinstance(tool, dict) else None
    if (
        not isinstance(tool, dict)
        or tool.get("type") != "function"
        or not isinstance(function, dict)
    ):
        unsupported(
            f"tools[{index}]", "Anthropic supports only tools of type 'function'.", drop_params
        )
        return None
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidRequest(
            f"Missing required parameter: 'tools[{index}].function.name'.",
            param=f"tools[{index}].function.name",
            code="missing_required_parameter",
        )
    parameters = function.get("parameters")
    schema = parameters if isinstance(parameters, dict) else {"type": "object", "properties": {}}
    converted: JSONObject = {"name": name, "input_schema": schema}
    description = function.get("description")
    if isinstance(description, str) and description:
        converted["description"] = description
    if function.get("strict") is True:
        converted["strict"] = True  # ToolParam.strict (structured outputs for tool inputs)
    return converted


def _tool_choice(choice: Any, parallel: Any) -> JSONObject | None:
    """OpenAI ``tool_choice`` + ``parallel_tool_calls`` as Anthropic's ``tool_choice``."""
    result: JSONObject | None
    if choice is None:
        result = {"type": "auto"} if parallel is False else None
    elif choice == "auto":
        result = {"type": "auto"}
    elif choice == "none":
        return {"type": "none"}
    elif choice == "required":
        result = {"type": "any"}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        result = {"type": "tool", "name": choice["function"].get("name")}
    else:
        raise InvalidRequest(
            f"Invalid value for 'tool_choice': {choice!r}.",
            param="tool_choice",
            code="invalid_value",
        )
    if result is not None and parallel is False:
        result["disable_parallel_tool_use"] = True
    return result


def _output_config(response_format: Any, drop_params: bool) -> JSONObject | None:
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind is None or kind == "text":
        return None
    if kind == "json_schema":
        spec = response_format.get("json_schema") if isinstance(response_format, dict) else None
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if isinstance(schema, dict):
            # Structured outputs: OutputConfigParam.format = JSONOutputFormatParam.
            return {"format": {"type": "json_schema", "schema": schema}}
    unsupported(
        "response_format",
        f"Anthropic cannot honour response_format '{kind}'; "
        "use 'json_schema' with a schema instead.",
        drop_params,
    )
    return None


def translate_messages(messages: list[Any], drop_params: bool) -> tuple[str | None, list[Any]]:
    """(system, messages): system/developer lifted out, turns merged to alternate roles.

    Anthropic takes the system prompt as a top-level ``system`` and wants user and
    assistant turns to alternate; a ``tool`` message is a ``tool_result`` block of a
    user turn, so consecutive tool results (and a user message after them) share one.
    """
    system: list[str] = []
    turns: list[JSONObject] = []
    for index, message in enumerate(messages):
        role = message.get("role")
        if role in ("system", "developer"):
            text = _text_of(message.get("content"))
            if text:
                system.append(text)
            continue
        if role == "user":
            blocks = _user_blocks(message.get("content"), index, drop_params)
        elif role == "assistant":
            blocks = _assistant_blocks(message, index, drop_params)
        elif role == "tool":
            blocks = [_tool_result(message, index)]
            role = "user"
        else:
            raise InvalidRequest(
                f"Anthropic's Messages API does not support messages with role '{role}'.",
                param=f"messages[{index}].role",
                code="invalid_value",
            )
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    if not turns:
        raise InvalidRequest(
            "Anthropic needs at least one user or assistant message besides the system prompt.",
            param="messages",
            code="invalid_value",
        )
    for turn in turns:
        _finish_turn(turn)
    return "\n\n".join(system) or None, turns


def _finish_turn(turn: JSONObject) -> None:
    blocks: list[JSONObject] = turn["content"]
    if turn["role"] == "assistant" and len(blocks) > 1:
        # Thinking blocks open the assistant turn (stable sort keeps their order).
        blocks.sort(key=lambda block: block["type"] not in _THINKING_TYPES)
    if len(blocks) == 1 and blocks[0]["type"] == "text" and len(blocks[0]) == 2:
        turn["content"] = blocks[0]["text"]


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str) and part["text"]
        )
    return ""


def _user_blocks(content: Any, index: int, drop_params: bool) -> list[JSONObject]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        return []
    blocks: list[JSONObject] = []
    for position, part in enumerate(content):
        param = f"messages[{index}].content[{position}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if part.get("text"):
                blocks.append({"type": "text", "text": part["text"]})
        elif kind == "image_url":
            blocks.append(_image_block(part.get("image_url"), param))
        else:
            unsupported(
                param, f"Anthropic does not accept content parts of type {kind!r}.", drop_params
            )
    return blocks


def _image_block(image: Any, param: str) -> JSONObject:
    """An ``image_url`` part as an image block: URL source, or base64 from a data URL."""
    url = image.get("url") if isinstance(image, dict) else image
    if isinstance(url, str) and url.startswith("data:"):
        header, comma, data = url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        if not comma or encoding != "base64" or media_type not in _IMAGE_TYPES:
            raise InvalidRequest(
                "Anthropic accepts base64 data URLs of JPEG, PNG, GIF or WebP images only.",
                param=param,
                code="invalid_value",
            )
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }
    if isinstance(url, str) and url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise InvalidRequest(
        "An image_url must be an http(s) URL or a base64 data URL.",
        param=param,
        code="invalid_value",
    )


def _assistant_blocks(message: JSONObject, index: int, drop_params: bool) -> list[JSONObject]:
    blocks = _thinking_blocks(message)
    content = message.get("content")
    if isinstance(content, str):
        if content:
            blocks.append({"type": "text", "text": content})
    elif isinstance(content, list):
        text = _text_of(content)
        if text:
            blocks.append({"type": "text", "text": text})
    calls = message.get("tool_calls")
    if isinstance(calls, list):
        blocks.extend(_tool_use(call, index) for call in calls)
    return blocks


def _thinking_blocks(message: JSONObject) -> list[JSONObject]:
    """The thinking blocks an assistant message carries back, signatures intact."""
    saved = message.get("thinking_blocks")
    blocks: list[JSONObject] = []
    if isinstance(saved, list):
        for block in saved:
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "thinking" and isinstance(block.get("signature"), str):
                blocks.append(
                    {
                        "type": "thinking",
                        "thinking": block.get("thinking") or "",
                        "signature": block["signature"],
                    }
                )
            elif kind == "redacted_thinking" and isinstance(block.get("data"), str):
                blocks.append({"type": "redacted_thinking", "data": block["data"]})
        if blocks:
            return blocks
    reasoning = message.get("reasoning_content")
    signature = message.get("signature")
    if isinstance(reasoning, str) and isinstance(signature, str) and signature:
        return [{"type": "thinking", "thinking": reasoning, "signature": signature}]
    if reasoning:
        # Unsigned thinking cannot be verified by Anthropic, so it is not sent back.
        logger.debug("assistant reasoning_content without a signature is not sent to Anthropic")
    return blocks


def _tool_use(call: Any, index: int) -> JSONObject:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict):
        raise InvalidRequest(
            "Each tool call needs a 'function'.",
            param=f"messages[{index}].tool_calls",
            code="invalid_value",
        )
    raw = function.get("arguments") or "{}"
    try:
        arguments = orjson.loads(raw)
    except orjson.JSONDecodeError:
        arguments = None
    if not isinstance(arguments, dict):
        # Anthropic's tool_use.input must be an object.
        raise InvalidRequest(
            "Tool call arguments must be a JSON object for Anthropic.",
            param=f"messages[{index}].tool_calls",
            code="invalid_value",
        )
    return {
        "type": "tool_use",
        "id": call.get("id"),
        "name": function.get("name"),
        "input": arguments,
    }


def _tool_result(message: JSONObject, index: int) -> JSONObject:
    tool_call_id = message.get("tool_call_id")
    if not isinstance(tool_call_id, str) or not tool_call_id:
        raise InvalidRequest(
            f"Missing required parameter: 'messages[{index}].tool_call_id'.",
            param=f"messages[{index}].tool_call_id",
            code="missing_required_parameter",
        )
    block: JSONObject = {"type": "tool_result", "tool_use_id": tool_call_id}
    text = _text_of(message.get("content"))
    if text:
        block["content"] = text
    return block


# --- response ------------------------------------------------------------------------


def openai_usage(
    input_tokens: int, output_tokens: int, cache_read: int, cache_creation: int
) -> JSONObject:
    """OpenAI usage: its prompt_tokens counts cached tokens, Anthropic's input_tokens does not.

    (Usage: "Total input tokens ... is the summation of input_tokens,
    cache_creation_input_tokens, and cache_read_input_tokens".)
    """
    prompt = input_tokens + cache_read + cache_creation
    return usage(prompt, output_tokens, cached=cache_read)


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


def usage_of(counts: Any) -> JSONObject:
    counts = counts if isinstance(counts, dict) else {}
    return openai_usage(
        _int(counts.get("input_tokens")),
        _int(counts.get("output_tokens")),
        _int(counts.get("cache_read_input_tokens")),
        _int(counts.get("cache_creation_input_tokens")),
    )


def _read_content(content: Any) -> tuple[list[str], list[str], list[JSONObject], list[JSONObject]]:
    """(text pieces, thinking pieces, thinking blocks, tool calls) of a message's content."""
    texts: list[str] = []
    reasoning: list[str] = []
    thinking: list[JSONObject] = []
    calls: list[JSONObject] = []
    for block in content or ():
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "tool_use":
            arguments = orjson.dumps(block.get("input") or {}).decode()
            calls.append(tool_call(block.get("id"), block.get("name"), arguments))
        elif kind == "thinking":
            reasoning.append(block.get("thinking") or "")
            thinking.append(
                {
                    "type": "thinking",
                    "thinking": block.get("thinking") or "",
                    "signature": block.get("signature"),
                }
            )
        elif kind == "redacted_thinking":
            thinking.append({"type": "redacted_thinking", "data": block.get("data")})
    return texts, reasoning, thinking, calls


def parse_message(raw: bytes, request: JSONObject) -> bytes:
    """A Messages API ``message`` as an OpenAI ``chat.completion`` (JSON bytes)."""
    message = orjson.loads(raw)
    texts, reasoning, thinking, calls = _read_content(message.get("content"))
    answer = assistant_message(
        "".join(texts) if texts or not calls else None,
        reasoning="".join(reasoning) if thinking else None,
        tool_calls=calls,
    )
    if thinking:
        answer["thinking_blocks"] = thinking
    stop = finish_reason(message.get("stop_reason"))
    return orjson.dumps(
        completion(
            f"chatcmpl-{message.get('id', '')}",
            request.get("model"),
            [choice(answer, stop)],
            usage_of(message.get("usage")),
        )
    )
