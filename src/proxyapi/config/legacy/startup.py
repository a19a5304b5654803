"""Legacy files at startup: loaded through the migration, in memory, with a warning.

Nothing is written at startup: ``proxyapi config migrate`` does that.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from proxyapi.config.legacy.flat import convert_flat_document, is_flat_document
from proxyapi.config.legacy.formats import SELECTIONS_PATH, backup_of
from proxyapi.config.legacy.model_selections import is_legacy_selections, parse_selections_file
from proxyapi.errors import ConfigError

if TYPE_CHECKING:
    from proxyapi.config.loader import LoadedConfig

__all__ = ["adopt_legacy", "load_config_with_legacy_support", "legacy_selections_warning"]


def adopt_legacy(
    source: str, raw: dict[str, Any], cwd: Path, warnings: list[str]
) -> dict[str, Any]:
    """The current config tree for what the loader read from ``source``.

    A Python settings module (read as a flat document) or a flat YAML file is
    converted as ``proxyapi config migrate`` would, and a deprecation warning
    naming the file is added; a current tree is returned as it is.
    """
    if Path(source).suffix.lower() == ".py":
        kind, written = "Python settings module", "writes config.yaml from it"
    elif is_flat_document(raw):
        kind, written = "flat configuration", "rewrites it in the current format"
    else:
        kind = written = ""
    if kind:
        raw = convert_flat_document(raw, source)
        warnings.append(
            f"{source} is a legacy {kind} (deprecated): loaded through the migration; "
            f"`proxyapi config migrate --config {source}` {written} "
            f"(the original is kept as {backup_of(Path(source)).name})"
        )
    selections = legacy_selections_warning(cwd / SELECTIONS_PATH)
    if selections:
        warnings.append(selections)
    return raw


def legacy_selections_warning(path: Path) -> str | None:
    """A warning when the selections file is in the legacy form; anything else is silent.

    The selections store reads both forms and reports its own read errors.
    """
    try:
        is_legacy = path.is_file() and is_legacy_selections(
            parse_selections_file(path.read_bytes(), str(path))
        )
    except (OSError, ConfigError):
        return None
    if not is_legacy:
        return None
    return (
        f'{path} holds legacy model selections ({{"provider": "model_name"}}, deprecated): '
        "`proxyapi config migrate --format model_selections` rewrites it"
    )


def load_config_with_legacy_support(
    path: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> LoadedConfig:
    """Seed 004's name for :func:`~proxyapi.config.load_config`, which always does this."""
    from proxyapi.config.loader import load_config  # the loader imports this package

    return load_config(path, environ=environ, cwd=cwd)
