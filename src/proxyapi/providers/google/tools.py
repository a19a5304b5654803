"""OpenAI ``tools`` and ``tool_choice`` as Gemini function declarations and tool config.

Gemini's ``parameters`` is an OpenAPI 3.0 subset (https://ai.google.dev/api/caching#Schema),
so ``gemini_schema`` strips unknown JSON-Schema keys, inlines local ``$ref``s and
turns ``["T", "null"]`` types into ``nullable``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from proxyapi.errors import InvalidRequest
from proxyapi.providers.base import Deployment, JSONObject
from proxyapi.providers.google.errors import refuse

_TOOL_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
# Gemini's Schema object (an OpenAPI 3.0 subset); anything else is stripped.
_SCHEMA_KEYS = frozenset(
    "type format title description nullable enum maxItems minItems minProperties "
    "maxProperties minLength maxLength pattern example propertyOrdering default "
    "minimum maximum required".split()
)
_MAX_SCHEMA_DEPTH = 32


def _resolve_ref(ref: str, defs: Mapping[str, Any]) -> Any:
    for prefix in ("#/$defs/", "#/definitions/"):
        if ref.startswith(prefix):
            return defs.get(ref[len(prefix) :])
    return None


def _schema_type(value: list[Any], out: JSONObject) -> None:
    """``["string", "null"]`` (JSON Schema) as ``type`` + ``nullable`` (OpenAPI 3.0)."""
    kinds = [kind for kind in value if kind != "null"]
    if len(kinds) != len(value):
        out["nullable"] = True
    if len(kinds) == 1:
        out["type"] = kinds[0]
    elif kinds:
        out["anyOf"] = [{"type": kind} for kind in kinds]


def gemini_schema(schema: JSONObject, defs: Mapping[str, Any], depth: int = 0) -> JSONObject:
    """A JSON Schema reduced to what Gemini's ``parameters`` accepts."""
    if depth > _MAX_SCHEMA_DEPTH:
        return {"type": "string"}  # a cyclic $ref, cut where Gemini would give up anyway
    ref = schema.get("$ref")
    target = _resolve_ref(ref, defs) if isinstance(ref, str) else None
    if isinstance(target, dict):
        merged = {**target, **{key: value for key, value in schema.items() if key != "$ref"}}
        return gemini_schema(merged, defs, depth + 1)
    out: JSONObject = {}
    for key, value in schema.items():
        if key == "properties" and isinstance(value, dict):
            properties = {
                name: gemini_schema(sub, defs, depth + 1)
                for name, sub in value.items()
                if isinstance(sub, dict)
            }
            if properties:  # "properties: should be non-empty for OBJECT type"
                out["properties"] = properties
        elif key == "items" and isinstance(value, dict):
            out["items"] = gemini_schema(value, defs, depth + 1)
        elif key in ("anyOf", "oneOf") and isinstance(value, list):
            out["anyOf"] = [
                gemini_schema(sub, defs, depth + 1) for sub in value if isinstance(sub, dict)
            ]
        elif key == "type" and isinstance(value, list):
            _schema_type(value, out)
        elif key == "const":
            out["enum"] = [value]
        elif key == "enum" and isinstance(value, list):
            if None in value:  # JSON Schema's nullable enum; Gemini's enum holds strings only
                out["nullable"] = True
            out["enum"] = [item for item in value if item is not None]
        elif key in _SCHEMA_KEYS:
            out[key] = value
    return out


def _function_declaration(function: JSONObject) -> JSONObject:
    declaration: JSONObject = {"name": function["name"]}
    if isinstance(function.get("description"), str):
        declaration["description"] = function["description"]
    parameters = function.get("parameters")
    if isinstance(parameters, dict):
        defs = {**parameters.get("definitions", {}), **parameters.get("$defs", {})}
        cleaned = gemini_schema(parameters, defs)
        # Gemini rejects an OBJECT with no properties: a parameterless tool sends none.
        if cleaned.get("properties") or str(cleaned.get("type", "object")).lower() != "object":
            declaration["parameters"] = cleaned
    return declaration


def function_tools(body: JSONObject, deployment: Deployment) -> list[JSONObject]:
    declarations: list[JSONObject] = []
    for number, tool in enumerate(body.get("tools") or []):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or tool.get("type", "function") != "function":
            refuse(f"tools[{number}]", deployment, " (only function tools are)")
            continue
        if not isinstance(function.get("name"), str):
            raise InvalidRequest("A function tool needs a name.", param=f"tools[{number}]")
        declarations.append(_function_declaration(function))
    return [{"functionDeclarations": declarations}] if declarations else []


def tool_config_of(choice: Any, deployment: Deployment) -> JSONObject | None:
    """``tool_choice`` as ``functionCallingConfig`` (modes AUTO / NONE / ANY)."""
    if isinstance(choice, str) and choice in _TOOL_MODES:
        return {"functionCallingConfig": {"mode": _TOOL_MODES[choice]}}
    function = choice.get("function") if isinstance(choice, dict) else None
    if isinstance(function, dict) and isinstance(function.get("name"), str):
        config = {"mode": "ANY", "allowedFunctionNames": [function["name"]]}
        return {"functionCallingConfig": config}
    refuse("tool_choice", deployment, " in this form")
    return None
