"""What is there: each legacy format's file, its state, and a backup to roll back to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from proxyapi.config.legacy.formats import (
    FORMAT_NAMES,
    FORMATS,
    FormatName,
    LegacyFormat,
    Locations,
    backup_of,
    locate,
)
from proxyapi.errors import ConfigError

__all__ = ["FormatPresence", "State", "check_legacy_presence", "inspect_format"]

State = Literal[
    "absent",  # no file of this kind is in use
    "current",  # the file is in the current format
    "legacy",  # the file is in the legacy format: `proxyapi config migrate` converts it
    "invalid",  # the file cannot be read as either: `problem` says why
]


@dataclass(frozen=True, slots=True)
class FormatPresence:
    format: FormatName
    title: str
    path: Path | None  # the file in use, if any
    state: State
    backup: Path | None  # a `.legacy` backup: `--rollback` restores it
    looked_for: tuple[Path, ...]
    problem: str | None = None

    @property
    def needs_migration(self) -> bool:
        return self.state in ("legacy", "invalid")


def check_legacy_presence(
    cwd: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config_file: str | Path | None = None,
    selections_file: str | Path | None = None,
) -> dict[FormatName, FormatPresence]:
    """Every format's state, keyed by format name (``model_selections``, ``yaml``, ``python``)."""
    where = locate(cwd, environ=environ, config_file=config_file, selections_file=selections_file)
    return {name: inspect_format(FORMATS[name], where) for name in FORMAT_NAMES}


def inspect_format(legacy: LegacyFormat, where: Locations) -> FormatPresence:
    candidates = legacy.candidates(where)
    backup = next((backup_of(p) for p in candidates if backup_of(p).is_file()), None)
    path = legacy.in_use(where)
    found = FormatPresence(legacy.name, legacy.title, path, "absent", backup, tuple(candidates))
    if path is None:
        return found
    try:
        is_legacy = legacy.is_legacy(path)
    except ConfigError as error:
        return replace(found, state="invalid", problem="; ".join(error.problems))
    return replace(found, state="legacy" if is_legacy else "current")
