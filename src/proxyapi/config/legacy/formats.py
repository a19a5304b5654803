"""The three legacy formats: where each is looked for, how it is recognised and converted.

| name               | legacy file                                  | migrated to            |
| ------------------ | -------------------------------------------- | ---------------------- |
| ``model_selections`` | ``config/model_selections.json``, bare names | the same file          |
| ``yaml``           | the config file in use, flat layout          | the same file          |
| ``python``         | ``production_config.py`` / ``settings.py``   | ``config.yaml`` beside |

A format's :meth:`LegacyFormat.convert` returns the migrated bytes only after
they have been parsed back and validated, so nothing invalid is ever written.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal, Protocol

import orjson
import yaml
from dotenv import dotenv_values

from proxyapi.config.defaults import apply_environment_defaults
from proxyapi.config.legacy.flat import convert_flat_document, is_flat_document
from proxyapi.config.legacy.model_selections import (
    check_selections,
    convert_selections,
    is_legacy_selections,
    parse_selections_file,
    render_selections,
)
from proxyapi.config.legacy.python_module import (
    SETTINGS_MODULE_NAMES,
    assigns_settings,
    read_settings_module,
)
from proxyapi.config.substitution import substitute_variables
from proxyapi.config.unknown_keys import find_unknown_keys
from proxyapi.errors import ConfigError

__all__ = [
    "BACKUP_SUFFIX",
    "FORMATS",
    "FORMAT_NAMES",
    "Converted",
    "FormatName",
    "LegacyFormat",
    "Locations",
    "backup_of",
    "locate",
]

FormatName = Literal["model_selections", "yaml", "python"]
FORMAT_NAMES: Final[tuple[FormatName, ...]] = ("model_selections", "yaml", "python")
BACKUP_SUFFIX: Final = ".legacy"
HISTORY_NAME: Final = ".migration_history.jsonl"
SELECTIONS_PATH: Final = Path("config") / "model_selections.json"


@dataclass(frozen=True, slots=True)
class Locations:
    """Where to look: the working directory and what overrides its defaults."""

    cwd: Path
    environ: Mapping[str, str]  # for ${VAR} when validating, and PROXY_API_CONFIG_FILE
    config_file: Path | None  # --config or PROXY_API_CONFIG_FILE; None: discovery
    selections_file: Path
    history_file: Path


def locate(
    cwd: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config_file: str | Path | None = None,
    selections_file: str | Path | None = None,
    history_dir: str | Path | None = None,
) -> Locations:
    """Resolve the defaults: ``cwd/.env`` under the process environment, as the loader does."""
    cwd = Path.cwd() if cwd is None else Path(cwd)
    if environ is None:
        dotenv = cwd / ".env"
        from_file = dotenv_values(dotenv) if dotenv.is_file() else {}
        environ = {**{k: v for k, v in from_file.items() if v is not None}, **os.environ}
    chosen = config_file if config_file is not None else environ.get("PROXY_API_CONFIG_FILE")
    return Locations(
        cwd=cwd,
        environ=environ,
        config_file=cwd / chosen if chosen else None,
        selections_file=cwd / (selections_file or SELECTIONS_PATH),
        history_file=cwd / (history_dir or "config") / HISTORY_NAME,
    )


def backup_of(path: Path) -> Path:
    return path.with_name(path.name + BACKUP_SUFFIX)


@dataclass(frozen=True, slots=True)
class Converted:
    """A validated migration result, not yet written."""

    target: Path
    content: bytes
    warnings: list[str] = field(default_factory=list)


class LegacyFormat(Protocol):
    @property
    def name(self) -> FormatName: ...

    @property
    def title(self) -> str:
        """``legacy flat YAML configuration``."""
        ...

    def candidates(self, where: Locations) -> list[Path]:
        """The files this format is looked for in, first found in use."""
        ...

    def in_use(self, where: Locations) -> Path | None:
        """The candidate the gateway would read, if any."""
        ...

    def is_legacy(self, path: Path) -> bool:
        """Whether the file needs migrating; ConfigError when it cannot be read."""
        ...

    def convert(self, path: Path, where: Locations) -> Converted:
        """The migrated file, validated; ConfigError with every problem otherwise."""
        ...


class SelectionsFormat:
    name: Final = "model_selections"
    title: Final = 'legacy model selections ({"provider": "model_name"})'

    def candidates(self, where: Locations) -> list[Path]:
        return [where.selections_file]

    def in_use(self, where: Locations) -> Path | None:
        return where.selections_file if where.selections_file.is_file() else None

    def is_legacy(self, path: Path) -> bool:
        return is_legacy_selections(parse_selections_file(_read(path), str(path)))

    def convert(self, path: Path, where: Locations) -> Converted:
        selections = parse_selections_file(_read(path), str(path))
        stamp = datetime.now(UTC).isoformat()
        content = render_selections(convert_selections(selections, str(path), stamp))
        check_selections(parse_selections_file(content, str(path)), str(path))
        return Converted(path, content)


class FlatYamlFormat:
    name: Final = "yaml"
    title: Final = "legacy flat YAML configuration"

    def candidates(self, where: Locations) -> list[Path]:
        if where.config_file is not None:
            return [] if _is_python(where.config_file) else [where.config_file]
        return [where.cwd / "config.yaml", where.cwd / "config.json"]

    def in_use(self, where: Locations) -> Path | None:
        return next((path for path in self.candidates(where) if path.is_file()), None)

    def is_legacy(self, path: Path) -> bool:
        return is_flat_document(_parse(_read(path), path))

    def convert(self, path: Path, where: Locations) -> Converted:
        tree = convert_flat_document(_parse(_read(path), path), str(path))
        content = _render(tree, path, f"{path.name} (flat layout)", self.name)
        return Converted(path, content, _validate(content, path, where))


class PythonModuleFormat:
    name: Final = "python"
    title: Final = "legacy Python settings module"

    def candidates(self, where: Locations) -> list[Path]:
        if where.config_file is not None:
            return [where.config_file] if _is_python(where.config_file) else []
        return [where.cwd / name for name in SETTINGS_MODULE_NAMES]

    def in_use(self, where: Locations) -> Path | None:
        if where.config_file is None and any(
            (where.cwd / name).is_file() for name in ("config.yaml", "config.json")
        ):
            return None  # the loader reads those instead
        return next(
            (path for path in self.candidates(where) if path.is_file() and assigns_settings(path)),
            None,
        )

    def is_legacy(self, path: Path) -> bool:
        read_settings_module(path)
        return True

    def convert(self, path: Path, where: Locations) -> Converted:
        target = path.with_name("config.yaml")
        for existing in (target, path.with_name("config.json")):
            if existing.exists():
                problem = f"{existing} already exists and is read instead of {path.name}"
                raise ConfigError([f"{problem}: merge the two by hand"], source=str(path))
        tree = convert_flat_document(read_settings_module(path), str(path))
        content = _render(tree, target, f"{path.name} (Python settings module)", self.name)
        return Converted(target, content, _validate(content, target, where))


FORMATS: Final[Mapping[FormatName, LegacyFormat]] = {
    "model_selections": SelectionsFormat(),
    "yaml": FlatYamlFormat(),
    "python": PythonModuleFormat(),
}


def _is_python(path: Path) -> bool:
    return path.suffix.lower() == ".py"


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError([f"{path}: cannot be read: {exc}"], source=str(path)) from None


def _parse(data: bytes, path: Path) -> dict[str, Any]:
    from proxyapi.config.loader import parse_document  # the loader imports this package

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: cannot be read: {exc}"], source=str(path)) from None
    return parse_document(text, str(path), is_json=path.suffix.lower() == ".json")


def _render(tree: Mapping[str, Any], target: Path, origin: str, name: FormatName) -> bytes:
    if target.suffix.lower() == ".json":
        return orjson.dumps(tree, option=orjson.OPT_INDENT_2) + b"\n"
    header = (
        f"# Migrated from {origin} by `proxyapi config migrate`;\n"
        f"# `proxyapi config migrate --rollback {name}` restores the original.\n"
    )
    body = yaml.safe_dump(dict(tree), sort_keys=False, allow_unicode=True)
    return (header + body).encode("utf-8")


def _validate(content: bytes, target: Path, where: Locations) -> list[str]:
    """Check the bytes about to be written as startup would read them; its warnings."""
    from proxyapi.config.loader import validate_config  # the loader imports this package

    source = f"{target} (migrated)"
    warnings: list[str] = []
    data: dict[str, Any] = substitute_variables(_parse(content, target), where.environ, warnings)
    apply_environment_defaults(data)
    return warnings + find_unknown_keys(validate_config(data, source))
