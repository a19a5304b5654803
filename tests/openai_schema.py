"""Validate JSON against OpenAI's published response schemas.

The schemas come from tests/fixtures/openai_schemas.json, an extract of
OpenAI's openai-openapi document (MIT; regenerate it with
scripts/extract_openai_schemas.py). The spec mixes OpenAPI 3.0's
``nullable: true`` into 3.1 JSON Schema (``CreateChatCompletionStreamResponse``
declares ``finish_reason`` as a nullable string, ``usage`` as a nullable
``$ref``), so the loader rewrites ``nullable`` into real ``null`` alternatives;
unknown keywords (``x-oaiMeta``, ``discriminator``) and unknown formats
(``unixtime``) are ignored as annotations, as JSON Schema allows.

Usage from any test (tests/conftest.py puts this folder on ``sys.path``)::

    from openai_schema import validate
    validate("CreateChatCompletionResponse", body)
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

FIXTURE = Path(__file__).parent / "fixtures" / "openai_schemas.json"
BASE_URI = "urn:openai-openapi"


def _allow_null(node: dict[str, Any]) -> dict[str, Any]:
    """Turn one ``nullable: true`` schema into an equivalent that accepts null."""
    node = {key: value for key, value in node.items() if key != "nullable"}
    kind = node.get("type")
    if "enum" in node and None not in node["enum"]:
        node["enum"] = [*node["enum"], None]
    if isinstance(kind, str):
        node["type"] = [kind, "null"]
        return node
    if isinstance(kind, list):
        node["type"] = [*kind, "null"] if "null" not in kind else kind
        return node
    return {"anyOf": [node, {"type": "null"}]}


def _normalise(node: Any) -> Any:
    if isinstance(node, list):
        return [_normalise(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _normalise(value) for key, value in node.items()}
    return _allow_null(node) if node.get("nullable") is True else node


@functools.cache
def _registry() -> Registry[Any]:
    document = _normalise(json.loads(FIXTURE.read_text(encoding="utf-8")))
    resource: Resource[Any] = Resource.from_contents(document, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(BASE_URI, resource)
    return registry


@functools.cache
def validator_for(schema_name: str) -> Draft202012Validator:
    """A validator for one schema of the extract, e.g. ``"ErrorResponse"``."""
    registry = _registry()
    if schema_name not in registry.contents(BASE_URI)["components"]["schemas"]:
        raise KeyError(f"{schema_name} is not in {FIXTURE.name}; add it to the extract script")
    schema = {"$ref": f"{BASE_URI}#/components/schemas/{schema_name}"}
    return Draft202012Validator(schema, registry=registry)


def validate(schema_name: str, instance: object) -> None:
    """Raise ``jsonschema.ValidationError`` (the most relevant one) on mismatch."""
    validator_for(schema_name).validate(instance)
