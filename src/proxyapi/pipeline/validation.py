"""Checks of the fields the gateway itself relies on, with OpenAI's error wording.

Everything else is passed through untouched for the provider to judge: the
gateway must not reject parameters it does not know (new OpenAI features land
every month). Mistyped fields answer 400 naming the ``param``.
"""

from __future__ import annotations

from typing import Any

from proxyapi.errors import InvalidRequest

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_INT_FIELDS = ("max_tokens", "max_completion_tokens", "n", "top_logprobs", "seed")
_NUMBER_RANGES = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "presence_penalty": (-2.0, 2.0),
    "frequency_penalty": (-2.0, 2.0),
}


def _invalid(param: str, message: str) -> InvalidRequest:
    return InvalidRequest(message, param=param, code="invalid_value")


def _type_error(param: str, expected: str, value: Any) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid type for '{param}': expected {expected}, but got {_json_type(value)}.",
        param=param,
        code="invalid_type",
    )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def require_model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if model is None:
        raise InvalidRequest(
            "Missing required parameter: 'model'.", param="model", code="missing_required_parameter"
        )
    if not isinstance(model, str) or not model:
        raise _type_error("model", "a non-empty string", model)
    return model


def validate_chat(body: dict[str, Any]) -> str:
    """Validate a chat completion request; returns its model."""
    model = require_model(body)
    _validate_messages(body.get("messages"))
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _type_error("stream", "a boolean", stream)
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise _type_error("stream_options", "an object", options)
    for name in _INT_FIELDS:
        _check_int(body, name)
    for name, (low, high) in _NUMBER_RANGES.items():
        _check_number(body, name, low, high)
    for name in ("tools", "stop"):
        value = body.get(name)
        if name == "tools" and value is not None and not isinstance(value, list):
            raise _type_error("tools", "an array", value)
        if name == "stop" and value is not None and not isinstance(value, str | list):
            raise _type_error("stop", "a string or an array", value)
    return model


def _validate_messages(messages: Any) -> None:
    if messages is None:
        raise InvalidRequest(
            "Missing required parameter: 'messages'.",
            param="messages",
            code="missing_required_parameter",
        )
    if not isinstance(messages, list):
        raise _type_error("messages", "an array", messages)
    if not messages:
        raise _invalid("messages", "'messages' must contain at least one message.")
    for index, message in enumerate(messages):
        param = f"messages[{index}]"
        if not isinstance(message, dict):
            raise _type_error(param, "an object", message)
        role = message.get("role")
        if role is None:
            raise InvalidRequest(
                f"Missing required parameter: '{param}.role'.",
                param=f"{param}.role",
                code="missing_required_parameter",
            )
        if role not in _ROLES:
            raise _invalid(
                f"{param}.role",
                f"Invalid value for '{param}.role': '{role}'. Supported values are: "
                + ", ".join(f"'{r}'" for r in sorted(_ROLES))
                + ".",
            )
        content = message.get("content")
        if content is not None and not isinstance(content, str | list):
            raise _type_error(f"{param}.content", "a string or an array", content)


def _check_int(body: dict[str, Any], name: str) -> None:
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise _type_error(name, "an integer", value)
    if name in ("max_tokens", "max_completion_tokens", "n") and value < 1:
        raise _invalid(
            name,
            f"Invalid '{name}': integer below minimum value. "
            f"Expected a value >= 1, but got {value} instead.",
        )


def _check_number(body: dict[str, Any], name: str, low: float, high: float) -> None:
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _type_error(name, "a number", value)
    if not low <= value <= high:
        raise _invalid(
            name,
            f"Invalid '{name}': expected a value between {low:g} and {high:g}, "
            f"but got {value} instead.",
        )


def validate_embeddings(body: dict[str, Any]) -> str:
    """Validate an embeddings request; returns its model."""
    model = require_model(body)
    _validate_embedding_input(body.get("input"))
    fmt = body.get("encoding_format")
    if fmt is not None and fmt not in ("float", "base64"):
        raise _invalid(
            "encoding_format",
            f"Invalid value for 'encoding_format': '{fmt}'. "
            "Supported values are: 'float' and 'base64'.",
        )
    return model


def _validate_embedding_input(value: Any) -> None:
    if value is None:
        raise InvalidRequest(
            "Missing required parameter: 'input'.", param="input", code="missing_required_parameter"
        )
    if isinstance(value, str):
        return
    if not isinstance(value, list) or not value:
        raise _type_error("input", "a string or a non-empty array", value)
    if not _is_token_input(value) and not all(isinstance(item, str) for item in value):
        raise _type_error("input", "a string, an array of strings or of token arrays", value)


def _is_token_input(value: list[Any]) -> bool:
    if all(isinstance(t, int) and not isinstance(t, bool) for t in value):
        return True
    return all(
        isinstance(row, list)
        and row
        and all(isinstance(t, int) and not isinstance(t, bool) for t in row)
        for row in value
    )
