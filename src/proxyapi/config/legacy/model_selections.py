"""The legacy model selections file: ``{"provider": "model_name"}``.

Seed 004's current form keeps more per provider::

    {"openai": {"model_name": "gpt-3.5-turbo", "editable": true,
                "last_updated": "2025-09-12T03:54:29.931051+00:00"}}

Migration rewrites each legacy entry in the current form (editable, stamped
with the time of the migration) and keeps current entries as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from proxyapi.config.messages import ROOT, format_path, show
from proxyapi.errors import ConfigError

__all__ = [
    "check_selections",
    "convert_selections",
    "is_legacy_selections",
    "parse_selections_file",
    "render_selections",
]


def parse_selections_file(data: bytes, source: str) -> dict[str, Any]:
    """The file's top-level object; ConfigError when it is not JSON or not an object."""
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        problem = f"line {exc.lineno}, column {exc.colno}: invalid JSON: {exc.msg}"
        raise ConfigError([problem], source=source) from None
    if not isinstance(parsed, dict):
        problem = f"{ROOT}: {show(parsed)} is not an object of provider -> selection"
        raise ConfigError([problem], source=source)
    return parsed


def is_legacy_selections(selections: Mapping[str, Any]) -> bool:
    """Any entry written as a bare model name."""
    return any(isinstance(entry, str) for entry in selections.values())


def convert_selections(
    selections: Mapping[str, Any], source: str, last_updated: str
) -> dict[str, Any]:
    """Every ``"provider": "model"`` entry in the current form; others checked and kept."""
    converted = {
        provider: (
            {"model_name": entry, "editable": True, "last_updated": last_updated}
            if isinstance(entry, str)
            else entry
        )
        for provider, entry in selections.items()
    }
    check_selections(converted, source)
    return converted


def check_selections(selections: Mapping[str, Any], source: str) -> None:
    """Raise ConfigError listing every entry that is not in the current form."""
    problems: list[str] = []
    for provider, entry in selections.items():
        where = format_path((provider,))
        if not isinstance(entry, dict):
            problems.append(f"{where}: {show(entry)} is not a model name or a selection object")
            continue
        model_name, editable = entry.get("model_name"), entry.get("editable", True)
        last_updated = entry.get("last_updated")
        if not isinstance(model_name, str) or not model_name:
            problems.append(f"{where}.model_name: {show(model_name)} is not a model name")
        if not isinstance(editable, bool):
            problems.append(f"{where}.editable: {show(editable)} is not of type 'boolean'")
        if last_updated is not None and not isinstance(last_updated, str):
            problems.append(f"{where}.last_updated: {show(last_updated)} is not of type 'string'")
    if problems:
        raise ConfigError(problems, source=source)


def render_selections(selections: Mapping[str, Any]) -> bytes:
    return orjson.dumps(selections, option=orjson.OPT_INDENT_2) + b"\n"
