"""Reading an OpenAI request body: typed parameters and OpenAI's 400s for bad ones."""

from __future__ import annotations

from typing import Any

import orjson

from . import openai_errors as errors
from .text import estimate_tokens


def parse_body(raw: bytes) -> dict[str, Any]:
    """The JSON object of a request body, or OpenAI's "could not parse" 400."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise errors.invalid_json() from None
    if not isinstance(body, dict):
        raise errors.invalid_json()
    return body


def require_model(body: dict[str, Any], known: frozenset[str], is_strict: bool) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise errors.missing_model()
    if is_strict and model not in known:
        raise errors.model_not_found(model)
    return model


def require_messages(body: dict[str, Any]) -> list[Any]:
    messages = body.get("messages")
    if messages is None:
        raise errors.missing_parameter("messages")
    if not isinstance(messages, list) or not messages:
        raise errors.invalid_value(
            "messages", "Invalid 'messages': expected a non-empty array of messages."
        )
    if not all(isinstance(message, dict) for message in messages):
        raise errors.invalid_value("messages", "Invalid 'messages': expected objects.")
    return messages


def int_param(body: dict[str, Any], name: str, low: int, high: int | None) -> int | None:
    """An optional integer parameter within bounds; null counts as absent."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise errors.invalid_value(name, f"Invalid type for '{name}': expected an integer.")
    if value < low or (high is not None and value > high):
        bounds = f"at least {low}" if high is None else f"between {low} and {high}"
        raise errors.invalid_value(name, f"Invalid '{name}': must be {bounds}, got {value}.")
    return int(value)


def stop_sequences(body: dict[str, Any]) -> tuple[str, ...]:
    stop = body.get("stop")
    if isinstance(stop, str):
        return (stop,) if stop else ()
    if isinstance(stop, list):
        return tuple(item for item in stop if isinstance(item, str) and item)
    return ()


def content_text(content: Any) -> str:
    """The text of a message's content: a string or a list of ``text`` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def prompt_tokens(messages: list[Any]) -> int:
    return estimate_tokens("".join(content_text(message.get("content")) for message in messages))


def _function_tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    tools = body.get("tools")
    if not isinstance(tools, list):
        return []
    return [
        tool["function"]
        for tool in tools
        if isinstance(tool, dict)
        and isinstance(tool.get("function"), dict)
        and isinstance(tool["function"].get("name"), str)
    ]


def pick_tool(body: dict[str, Any], messages: list[Any]) -> dict[str, Any] | None:
    """The function to call, or None to answer in text.

    A forced choice (a named function, or "required") always calls. With "auto",
    the model calls when the last message is the user's and names a tool or
    mentions the weather; a tool result as the last message gets a text answer.
    """
    functions = _function_tools(body)
    choice = body.get("tool_choice", "auto")
    if not functions or choice == "none":
        return None
    if isinstance(choice, dict):
        wanted = (choice.get("function") or {}).get("name")
        for function in functions:
            if function["name"] == wanted:
                return function
        raise errors.invalid_value(
            "tool_choice", f"Invalid value for 'tool_choice': no function named {wanted!r}."
        )
    last = messages[-1]
    said = content_text(last.get("content")).lower() if last.get("role") == "user" else ""
    named = [function for function in functions if function["name"].lower() in said]
    if named:
        return named[0]
    if "weather" in said:
        weather = [function for function in functions if "weather" in function["name"].lower()]
        return (weather or functions)[0]
    return functions[0] if choice == "required" else None
