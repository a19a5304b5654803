"""The migration status (a dict, as seed 004 reads it) and a report for people."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypedDict

from proxyapi.config.legacy.formats import FORMAT_NAMES, FORMATS, Locations, locate
from proxyapi.config.legacy.history import MigrationHistory
from proxyapi.config.legacy.migration import Migration, Rollback
from proxyapi.config.legacy.presence import FormatPresence, inspect_format

__all__ = [
    "MigrationStatus",
    "describe_migration",
    "describe_presence",
    "describe_rollback",
    "get_migration_report",
    "get_migration_status",
]


class MigrationStatus(TypedDict):
    migration_enabled: bool  # legacy files are always loaded through the migration
    legacy_formats_detected: list[str]
    migration_needed: bool
    formats: dict[str, dict[str, str | None]]  # name -> state, path, backup, problem
    history_file: str
    operations: int
    last_operation: dict[str, Any] | None


def get_migration_status(
    cwd: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config_file: str | Path | None = None,
    selections_file: str | Path | None = None,
    history_dir: str | Path | None = None,
) -> MigrationStatus:
    where = locate(
        cwd,
        environ=environ,
        config_file=config_file,
        selections_file=selections_file,
        history_dir=history_dir,
    )
    found = _inspect_all(where)
    records = MigrationHistory(where.history_file).read()
    detected = [name for name, presence in found.items() if presence.state == "legacy"]
    return {
        "migration_enabled": True,
        "legacy_formats_detected": detected,
        "migration_needed": any(presence.needs_migration for presence in found.values()),
        "formats": {name: _as_dict(presence) for name, presence in found.items()},
        "history_file": str(where.history_file),
        "operations": len(records),
        "last_operation": records[-1] if records else None,
    }


def get_migration_report(
    cwd: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config_file: str | Path | None = None,
    selections_file: str | Path | None = None,
    history_dir: str | Path | None = None,
) -> str:
    """Each format's state, then every operation in the history, oldest first."""
    where = locate(
        cwd,
        environ=environ,
        config_file=config_file,
        selections_file=selections_file,
        history_dir=history_dir,
    )
    found = _inspect_all(where)
    records = MigrationHistory(where.history_file).read()
    needed = [name for name, presence in found.items() if presence.needs_migration]
    lines = [f"Legacy configuration in {where.cwd}:"]
    lines += [f"  {describe_presence(presence, where.cwd)}" for presence in found.values()]
    lines.append(f"Migration needed: {'yes (' + ', '.join(needed) + ')' if needed else 'no'}")
    history = _shown(where.history_file, where.cwd)
    lines.append(f"History ({history}): {len(records)} operation(s)")
    lines += [f"  {_describe_record(record, where.cwd)}" for record in records]
    return "\n".join(lines)


def describe_presence(presence: FormatPresence, cwd: Path) -> str:
    """``yaml  legacy  config.yaml -> proxyapi config migrate --format yaml``."""
    name = f"{presence.format:<16} {presence.state:<7}"
    if presence.path is None:
        looked = ", ".join(_shown(path, cwd) for path in presence.looked_for) or "nothing"
        text = f"{name} (looked for {looked})"
    else:
        text = f"{name} {_shown(presence.path, cwd)}"
    if presence.state == "legacy":
        text += f": `proxyapi config migrate --format {presence.format}` converts it"
    elif presence.state == "invalid":
        text += f": {presence.problem}"
    if presence.backup is not None:
        text += (
            f" (backup {_shown(presence.backup, cwd)}: "
            f"`proxyapi config migrate --rollback {presence.format}` restores it)"
        )
    return text


def describe_migration(migration: Migration) -> str:
    """One line saying what was (or, in a dry run, would be) written, and how to undo it."""
    name, source, target = migration.format, migration.source, migration.target
    done = "would be" if migration.dry_run else "is"
    if source == target:
        what = f"{target} {'would be' if migration.dry_run else 'was'} migrated in place"
    else:
        what = f"{target} {'would be' if migration.dry_run else 'was'} written from {source}"
    return (
        f"{name}: {what}; the original {done} kept as {migration.backup} "
        f"(`proxyapi config migrate --rollback {name}` restores it)"
    )


def describe_rollback(rollback: Rollback) -> str:
    text = f"{rollback.format}: {rollback.restored} restored from its .legacy backup"
    return f"{text}; {rollback.removed} removed" if rollback.removed else text


def _inspect_all(where: Locations) -> dict[str, FormatPresence]:
    return {name: inspect_format(FORMATS[name], where) for name in FORMAT_NAMES}


def _as_dict(presence: FormatPresence) -> dict[str, str | None]:
    return {
        "state": presence.state,
        "path": None if presence.path is None else str(presence.path),
        "backup": None if presence.backup is None else str(presence.backup),
        "problem": presence.problem,
    }


def _describe_record(record: Mapping[str, Any], cwd: Path) -> str:
    files = record.get("files")
    paths = files.values() if isinstance(files, dict) else []
    shown = ", ".join(_shown(Path(str(path)), cwd) for path in dict.fromkeys(paths) if path)
    text = (
        f"{record.get('time', '?')}  {record.get('action', '?'):<8} "
        f"{record.get('format', '?'):<16} {record.get('result', '?'):<6} {shown}"
    )
    return f"{text}: {record['error']}" if record.get("error") else text


def _shown(path: Path, cwd: Path) -> str:
    """A path relative to the working directory when it is inside it."""
    try:
        return str(path.relative_to(cwd))
    except ValueError:
        return str(path)
