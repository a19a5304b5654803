"""Turning validation failures into the seed's ``path: reason`` lines, and printing them.

Wording follows JSON Schema validators (``'x' is not one of [...]``,
``'abc' is not of type 'integer'``) because that is what the seed documents
and what users search for; paths look like ``providers[0].type``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from proxyapi.errors import ConfigError

ROOT: Final = "(root)"

_JSON_TYPES: Final = {
    "int_type": "integer",
    "int_parsing": "integer",
    "int_from_float": "integer",
    "float_type": "number",
    "float_parsing": "number",
    "string_type": "string",
    "bool_type": "boolean",
    "bool_parsing": "boolean",
    "list_type": "array",
    "tuple_type": "array",
    "set_type": "array",
    "dict_type": "object",
    "model_type": "object",
    "model_attributes_type": "object",
}
# Environment variables are always strings: say what they failed to parse as.
_ENV_TYPES: Final = {"integer": "integer", "number": "number", "boolean": "boolean"}

_BOUNDS: Final = {
    "greater_than_equal": ("ge", "is less than the minimum of"),
    "greater_than": ("gt", "is less than or equal to the minimum of"),
    "less_than_equal": ("le", "is greater than the maximum of"),
    "less_than": ("lt", "is greater than or equal to the maximum of"),
}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def format_path(loc: Sequence[int | str]) -> str:
    """``("providers", 0, "type")`` -> ``providers[0].type``; odd keys as ``routes['/v1/chat']``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif _IDENTIFIER.match(part):
            path += f".{part}" if path else part
        else:
            path += f"[{part!r}]"
    return path or ROOT


def describe_validation_error(exc: ValidationError) -> list[str]:
    """One ``path: reason`` line per error, in pydantic's order (the file's order)."""
    return [describe_error(error) for error in exc.errors()]


def describe_error(error: ErrorDetails) -> str:
    loc = error["loc"]
    if error["type"] == "missing" and loc:
        # Like JSON Schema, a missing key is a problem of the object that lacks it.
        return f"{format_path(loc[:-1])}: {loc[-1]!r} is a required property"
    return f"{format_path(loc)}: {describe_reason(error)}"


def describe_reason(error: ErrorDetails) -> str:
    kind, value = error["type"], error["input"]
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    if kind in _JSON_TYPES:
        return f"{show(value)} is not of type '{_JSON_TYPES[kind]}'"
    if kind in ("literal_error", "enum"):
        return f"{show(value)} is not one of {_expected_values(str(ctx.get('expected', '')))}"
    if kind in _BOUNDS:
        key, words = _BOUNDS[kind]
        return f"{show(value)} {words} {ctx.get(key)}"
    if kind == "too_short":
        if ctx.get("min_length") == 1:
            return f"{show(value)} should be non-empty"
        return f"{show(value)} is too short"
    if kind == "too_long":
        return f"{show(value)} is too long"
    if kind == "string_pattern_mismatch":
        return f"{show(value)} does not match {ctx.get('pattern')!r}"
    if kind == "value_error" and "error" in ctx:
        return str(ctx["error"])
    return error["msg"]


def describe_env_error(error: ErrorDetails, variable: str) -> str:
    """``PROXY_API_PORT: 'abc' is not a valid integer``."""
    json_type = _JSON_TYPES.get(error["type"])
    if json_type in _ENV_TYPES:
        return f"{variable}: {show(error['input'])} is not a valid {_ENV_TYPES[json_type]}"
    return f"{variable}: {describe_reason(error)}"


def show(value: Any) -> str:
    """A value as JSON Schema validators print it, cut short when long."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _expected_values(expected: str) -> str:
    # pydantic writes "'a', 'b' or 'c'"; the seed prints the list ['a', 'b', 'c'].
    head, _, last = expected.rpartition(" or ")
    try:
        values = ast.literal_eval(f"[{head}, {last}]" if head else f"[{last}]")
    except (SyntaxError, ValueError):
        return f"[{expected}]"
    return repr(values)


def format_config_error(err: ConfigError) -> str:
    """The seed's startup error block, ready to print to stderr."""
    lines = [
        "❌ CONFIGURATION ERROR:",
        f"Configuration validation failed for {err.source}:",
        *(f"  {problem}" for problem in err.problems),
        "",
        "🔧 Please fix the configuration file and restart the application.",
    ]
    return "\n".join(lines)
