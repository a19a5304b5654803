"""Finding keys the schema does not know, so typos are reported instead of silently ignored."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from proxyapi.config._fields import Section
from proxyapi.config.messages import format_path


def find_unknown_keys(model: BaseModel, loc: tuple[int | str, ...] = ()) -> list[str]:
    """``providers[0].timout: unknown key (ignored)`` for every extra key in the tree.

    Free-form mappings (``headers``, ``model_overrides``, ...) hold plain dicts,
    not models, so their keys are never reported.
    """
    tolerated = model.tolerated_keys if isinstance(model, Section) else frozenset()
    found = [
        f"{format_path((*loc, key))}: unknown key (ignored)"
        for key in (model.__pydantic_extra__ or {})
        if key not in tolerated
    ]
    for name in type(model).model_fields:
        found += _walk(getattr(model, name), (*loc, name))
    return found


def _walk(value: Any, loc: tuple[int | str, ...]) -> list[str]:
    if isinstance(value, BaseModel):
        return find_unknown_keys(value, loc)
    if isinstance(value, list):
        return [found for i, item in enumerate(value) for found in _walk(item, (*loc, i))]
    if isinstance(value, dict):
        return [found for k, item in value.items() for found in _walk(item, (*loc, str(k)))]
    return []
