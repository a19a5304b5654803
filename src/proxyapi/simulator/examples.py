"""Example JSON values generated from a JSON Schema (tool arguments, structured output).

Strings become "example", numbers 1, booleans true; objects carry their required
properties only, the smallest value that a strict validator of the schema accepts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_MAX_DEPTH = 12
_SCALARS: Mapping[str, Any] = {
    "string": "example",
    "integer": 1,
    "number": 1,
    "boolean": True,
    "null": None,
}


def example_value(schema: Any, root: Any = None, depth: int = 0) -> Any:
    """Return a value valid for ``schema`` (``root`` resolves local ``$ref``)."""
    root = schema if root is None else root
    if not isinstance(schema, Mapping) or depth > _MAX_DEPTH:
        return None
    if "$ref" in schema:
        return example_value(_resolve(root, schema["$ref"]), root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for combinator in ("anyOf", "oneOf", "allOf"):
        options = schema.get(combinator)
        if isinstance(options, list) and options:
            return example_value(_first_non_null(options), root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((name for name in kind if name != "null"), "null")
    if kind == "array":
        return _example_array(schema, root, depth)
    if kind == "object" or (kind is None and "properties" in schema):
        return _example_object(schema, root, depth)
    return _SCALARS.get(kind, "example") if isinstance(kind, str) else "example"


def _first_non_null(options: list[Any]) -> Any:
    for option in options:
        if not (isinstance(option, Mapping) and option.get("type") == "null"):
            return option
    return options[0]


def _example_array(schema: Mapping[str, Any], root: Any, depth: int) -> list[Any]:
    count = max(1, int(schema.get("minItems", 1)))
    return [example_value(schema.get("items", {}), root, depth + 1)] * count


def _example_object(schema: Mapping[str, Any], root: Any, depth: int) -> dict[str, Any]:
    properties = schema.get("properties") or {}
    required = schema.get("required") or []
    return {
        name: example_value(properties.get(name, {}), root, depth + 1)
        for name in required
        if isinstance(name, str)
    }


def _resolve(root: Any, ref: Any) -> Any:
    """Follow a local JSON pointer such as ``#/$defs/Unit``; anything else gives {}."""
    if not isinstance(ref, str) or not ref.startswith("#"):
        return {}
    node = root
    for part in ref[1:].split("/")[1:]:
        key = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or key not in node:
            return {}
        node = node[key]
    return node
