"""Finding, reading and validating the configuration.

Precedence, highest first: environment variables, then the first file found
(an explicit path or ``PROXY_API_CONFIG_FILE``, else ``./config.yaml``, else
``./config.json``, else a legacy ``production_config.py`` / ``settings.py``),
else the bundled ``default.yaml``, else a default built in code. A legacy file
is read through the migration in memory, with a warning (``config.legacy``).
Every step that can fail raises :class:`~proxyapi.errors.ConfigError`
with all the problems found, never just the first.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Final

import orjson
import yaml
from dotenv import load_dotenv
from pydantic import ValidationError

from proxyapi.config.advice import find_advice
from proxyapi.config.defaults import apply_environment_defaults, generated_default
from proxyapi.config.env import apply_env_overrides, read_env_overrides
from proxyapi.config.legacy.python_module import find_settings_module, read_settings_module
from proxyapi.config.legacy.startup import adopt_legacy
from proxyapi.config.messages import ROOT, describe_validation_error, format_config_error, show
from proxyapi.config.models import Config
from proxyapi.config.schema import config_json_schema
from proxyapi.config.substitution import substitute_variables
from proxyapi.config.unknown_keys import find_unknown_keys
from proxyapi.errors import ConfigError

__all__ = [
    "BUNDLED_SOURCE",
    "GENERATED_SOURCE",
    "LoadedConfig",
    "bundled_default_file",
    "config_json_schema",
    "format_config_error",
    "load_config",
    "parse_document",
    "validate_config",
]

BUNDLED_SOURCE: Final = "bundled default"
GENERATED_SOURCE: Final = "generated default"
DISCOVERED_NAMES: Final = ("config.yaml", "config.json")


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """A validated config, where it came from, and what looked wrong but was not fatal."""

    config: Config
    source: str
    warnings: list[str] = field(default_factory=list)


def load_config(
    path: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> LoadedConfig:
    """Load the configuration the gateway should run with.

    ``environ`` defaults to the process environment, after loading ``cwd/.env``
    into it without overriding what is already set (so provider keys written
    there reach the providers too). Pass a mapping to keep the process out of it.
    """
    cwd = Path.cwd() if cwd is None else cwd
    env = _read_environment(environ, cwd)
    overrides = read_env_overrides(env)
    source, raw = _read_source(path if path is not None else overrides.config_file, cwd)
    warnings: list[str] = []
    raw = adopt_legacy(source, raw, cwd, warnings)  # legacy formats: migrated in memory
    data: dict[str, Any] = substitute_variables(raw, env, warnings)
    apply_env_overrides(data, overrides)
    apply_environment_defaults(data)
    config = validate_config(data, source)
    warnings += find_unknown_keys(config)
    warnings += find_advice(config)
    return LoadedConfig(config, source, warnings)


def validate_config(data: Mapping[str, Any], source: str = "configuration") -> Config:
    """Validate an already-parsed config tree; every problem lands in one ConfigError."""
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc), source=source) from None


def bundled_default_file() -> Traversable:
    """``default.yaml`` shipped inside the package."""
    return files("proxyapi.config") / "default.yaml"


def _read_environment(environ: Mapping[str, str] | None, cwd: Path) -> Mapping[str, str]:
    if environ is not None:
        return environ
    dotenv = cwd / ".env"
    if dotenv.is_file():
        load_dotenv(dotenv, override=False)
    return os.environ


def _read_source(path: str | Path | None, cwd: Path) -> tuple[str, dict[str, Any]]:
    if path is not None:
        file = cwd / path  # an absolute path stays as it is
        if not file.is_file():
            raise ConfigError([f"{file}: file not found"], source=str(file))
        return str(file), _read_file(file)
    for name in DISCOVERED_NAMES:
        if (cwd / name).is_file():
            return str(cwd / name), _read_file(cwd / name)
    settings_module = find_settings_module(cwd)  # legacy production_config.py / settings.py
    if settings_module is not None:
        return str(settings_module), _read_file(settings_module)
    bundled = bundled_default_file()
    if bundled.is_file():
        return BUNDLED_SOURCE, parse_document(bundled.read_text("utf-8"), BUNDLED_SOURCE)
    return GENERATED_SOURCE, generated_default()


def _read_file(file: Path) -> dict[str, Any]:
    if file.suffix.lower() == ".py":
        return read_settings_module(file)  # parsed, never run
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{file}: cannot be read: {exc}"], source=str(file)) from None
    return parse_document(text, str(file), is_json=file.suffix.lower() == ".json")


def parse_document(text: str, source: str, *, is_json: bool = False) -> dict[str, Any]:
    """Parse YAML (or JSON) text into the raw top-level mapping.

    Empty top-level blocks (``server:`` with everything commented out) count as absent.
    """
    try:
        data = orjson.loads(text) if is_json else yaml.safe_load(text)
    except orjson.JSONDecodeError as exc:
        problem = f"line {exc.lineno}, column {exc.colno}: invalid JSON: {exc.msg}"
        raise ConfigError([problem], source=source) from None
    except yaml.YAMLError as exc:
        raise ConfigError([_describe_yaml_error(exc)], source=source) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([f"{ROOT}: {show(data)} is not of type 'object'"], source=source)
    return {str(key): value for key, value in data.items() if value is not None}


def _describe_yaml_error(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}"
        return f"{where}: invalid YAML: {exc.problem or exc.context}"
    return f"invalid YAML: {exc}"
