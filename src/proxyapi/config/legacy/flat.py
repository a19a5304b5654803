"""The legacy flat layout: one top-level key per setting, named like its environment variable.

A flat document (a legacy YAML file, or a Python settings module read as one)
has top-level keys named like the documented variables without the
``PROXY_API_`` prefix, in either case (``host``, ``PORT``, ``api_keys``,
``rate_limit_requests``, ``environment``, ``redis_url``, ...), and
``providers`` as a mapping from provider name to its settings. Keys that name
a current block (``logging:``, ``model_overrides:``, ...) are kept as they are.

Each flat key goes exactly where its variable goes: the values are handed to
the environment-variable reader (:mod:`proxyapi.config.env`), which coerces
them and writes them into the tree, so a flat key and its variable can never
disagree.
"""

from __future__ import annotations

import copy
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from proxyapi.config.env import (
    _TARGETS,
    ENV_PREFIX,
    EnvOverrides,
    apply_env_overrides,
    read_env_overrides,
    set_path,
)
from proxyapi.config.messages import format_path, show
from proxyapi.config.models import Config
from proxyapi.config.provider import PROVIDER_TYPES
from proxyapi.errors import ConfigError

__all__ = [
    "FLAT_KEYS",
    "FlatKey",
    "convert_flat_document",
    "describe_destination",
    "is_flat_document",
]


@dataclass(frozen=True, slots=True)
class FlatKey:
    """A top-level key of the flat layout and the variable it stands for."""

    key: str  # lower case; a file may write it in either case
    field: str  # the EnvOverrides field
    variable: str  # the environment variable


def _build_table() -> dict[str, FlatKey]:
    table: dict[str, FlatKey] = {}
    for field, info in EnvOverrides.model_fields.items():
        if field == "config_file":  # where to find a file means nothing inside one
            continue
        alias = info.validation_alias
        variable = alias if isinstance(alias, str) else ENV_PREFIX + field.upper()
        key = alias.lower() if isinstance(alias, str) else field
        # PROXY_API_LOG_LEVEL comes before LOG_LEVEL: the prefixed one names `log_level`.
        table.setdefault(key, FlatKey(key, field, variable))
    table["api_keys"] = FlatKey("api_keys", "proxy_api_keys", ENV_PREFIX + "PROXY_API_KEYS")
    return dict(sorted(table.items()))


FLAT_KEYS: Final[Mapping[str, FlatKey]] = _build_table()
_VARIABLES: Final = {entry.field: entry.variable for entry in FLAT_KEYS.values()}
_BLOCKS: Final = frozenset(Config.model_fields) | Config.tolerated_keys
_ORDER: Final = {name: index for index, name in enumerate(Config.model_fields)}

# Where each variable lands: env._TARGETS, plus the few apply_env_overrides handles itself.
_SPECIAL_TARGETS: Final[Mapping[str, tuple[str, ...]]] = {
    "log_json_format": ("logging", "format"),
    "log_max_size": ("logging", "max_file_size"),
    "otlp_endpoint": ("telemetry", "otlp", "endpoint"),
}
_TARGETS_OF: Final[Mapping[str, tuple[tuple[str, ...], ...]]] = {
    field: tuple(path for name, path in _TARGETS if name == field)
    or ((_SPECIAL_TARGETS[field],) if field in _SPECIAL_TARGETS else ())
    for field in _VARIABLES
}
_NOTES: Final[Mapping[str, str]] = {
    "log_json_format": "true: json, false: text",
    "log_max_size": "in MB",
    "otlp_endpoint": "also turns telemetry.otlp.enabled and telemetry.enabled on",
    "redis_url": "also turns redis.enabled on",
    "provider_timeout": "and every provider's timeout",
    "provider_retries": "and every provider's retry_attempts",
}


def _is_list_field(field: str) -> bool:
    annotation = EnvOverrides.model_fields[field].annotation
    return any(typing.get_origin(arg) is list for arg in typing.get_args(annotation))


# A "${VAR}" in one of these is written verbatim where the key goes, to be
# substituted at load time like any other; the others must hold their value.
_VERBATIM_FIELDS: Final = frozenset(
    field
    for field, paths in _TARGETS_OF.items()
    if paths
    and field not in _SPECIAL_TARGETS
    and field not in ("provider_timeout", "provider_retries")
    and not _is_list_field(field)
)


def describe_destination(flat: FlatKey) -> str:
    """``server.host``; ``app.debug, server.debug``; ``logging.format (true: json, ...)``."""
    paths = ", ".join(format_path(path) for path in _TARGETS_OF[flat.field])
    note = _NOTES.get(flat.field)
    return f"{paths} ({note})" if note else paths


def is_flat_document(document: Mapping[str, Any]) -> bool:
    """A flat key at the top, or ``providers`` written as a mapping rather than a list."""
    keys = {str(key).lower() for key in document}
    providers = next((v for k, v in document.items() if str(k).lower() == "providers"), None)
    return bool(keys & FLAT_KEYS.keys()) or isinstance(providers, dict)


def convert_flat_document(document: Mapping[str, Any], source: str) -> dict[str, Any]:
    """The current config tree for a flat document; every problem in one ConfigError."""
    problems: list[str] = []
    tree: dict[str, Any] = {}
    settings: dict[str, tuple[str, Any]] = {}  # field -> (key as written, value)
    seen: dict[str, str] = {}  # lower-case key or field -> key as written
    for key, value in copy.deepcopy(dict(document)).items():  # the caller's stays as it is
        written, lower = str(key), str(key).lower()
        flat = FLAT_KEYS.get(lower)
        identity = flat.field if flat else lower
        if identity in seen:
            problems.append(f"{written}: the same setting as {seen[identity]!r}; keep one")
            continue
        seen[identity] = written
        if lower == "providers":
            tree["providers"] = _convert_providers(value, written, problems)
        elif flat is not None:
            settings[flat.field] = (written, value)
        else:
            tree[lower if lower in _BLOCKS else written] = value
    problems += _conflicts(settings, tree)
    overrides = _read_settings(settings, problems)
    if problems or overrides is None:
        raise ConfigError(problems, source=source)
    apply_env_overrides(tree, overrides)
    for field, (_, value) in settings.items():
        if _is_reference(field, value):
            for path in _TARGETS_OF[field]:
                set_path(tree, path, value)
    return dict(sorted(tree.items(), key=lambda item: _ORDER.get(item[0], len(_ORDER))))


def _convert_providers(value: Any, written: str, problems: list[str]) -> Any:
    if isinstance(value, list):  # already the current form
        return value
    if not isinstance(value, dict):
        problems.append(f"{written}: {show(value)} is not a mapping of provider name -> settings")
        return value
    providers: list[dict[str, Any]] = []
    for name, settings in value.items():
        where = format_path((written, str(name)))
        if not isinstance(settings, dict):
            problems.append(f"{where}: {show(settings)} is not a mapping of provider settings")
            continue
        if settings.get("name", name) != name:
            problems.append(f"{where}.name: {show(settings['name'])} differs from the key")
            continue
        entry: dict[str, Any] = {"name": str(name)}
        if "type" not in settings and name in PROVIDER_TYPES:
            entry["type"] = name  # `openai: {...}` is an openai provider
        entry.update((k, v) for k, v in settings.items() if k != "name")
        providers.append(entry)
    return providers


def _conflicts(settings: Mapping[str, tuple[str, Any]], tree: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    for field, (written, _) in settings.items():
        for path in _TARGETS_OF[field]:
            if _has_path(tree, path):
                found.append(f"{written}: also set as {format_path(path)}; keep one")
    return found


def _has_path(tree: Mapping[str, Any], path: tuple[str, ...]) -> bool:
    node: Any = tree
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return False
        node = node[key]
    return True


def _read_settings(
    settings: Mapping[str, tuple[str, Any]], problems: list[str]
) -> EnvOverrides | None:
    """Coerce the flat values exactly as their environment variables would be."""
    environ: dict[str, str] = {}
    written_as: dict[str, str] = {}
    for field, (written, value) in settings.items():
        if _is_reference(field, value):
            continue
        text = _as_variable(value)
        if text is None:
            problems.append(f"{written}: {show(value)} is not a single value or a list")
            continue
        environ[_VARIABLES[field]] = text
        written_as[_VARIABLES[field]] = written
    try:
        return read_env_overrides(environ)
    except ConfigError as error:
        problems += [_rename(problem, written_as) for problem in error.problems]
        return None


def _is_reference(field: str, value: Any) -> bool:
    return field in _VERBATIM_FIELDS and isinstance(value, str) and "${" in value


def _as_variable(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    if isinstance(value, list):
        return orjson.dumps(value).decode()
    return None


def _rename(problem: str, written_as: Mapping[str, str]) -> str:
    """``PROXY_API_PORT: 'x' is not ...`` -> ``port: 'x' is not ...``, as the file spells it."""
    variable, colon, rest = problem.partition(":")
    return f"{written_as[variable]}{colon}{rest}" if variable in written_as else problem
