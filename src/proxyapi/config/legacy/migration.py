"""Migrating a legacy file and rolling it back, changing nothing when either fails.

A migration converts and validates first, in memory. Only then does it write:
the original is kept as ``<file>.legacy`` (a hard link, else a copy, so its
bytes are untouched) and the new file replaces the old in one ``os.replace``.
If a step fails, the steps before it are undone. A rollback moves the
``.legacy`` file back over the migrated one, byte for byte, and removes the
migrated file when the migration created it (``config.yaml`` beside a Python
settings module). Every operation, failed ones too, is appended to the history.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from proxyapi.config.legacy.formats import (
    FORMAT_NAMES,
    FORMATS,
    FormatName,
    LegacyFormat,
    Locations,
    backup_of,
    locate,
)
from proxyapi.config.legacy.history import Action, MigrationHistory
from proxyapi.config.legacy.presence import inspect_format
from proxyapi.errors import ConfigError

__all__ = [
    "Migration",
    "Rollback",
    "migrate_legacy_formats",
    "migrate_specific_format",
    "rollback_format",
]


@dataclass(frozen=True, slots=True)
class Migration:
    """A migration done (or, with ``dry_run``, what it would write)."""

    format: FormatName
    source: Path  # the legacy file
    target: Path  # the migrated file (the same path, or config.yaml for a Python module)
    backup: Path  # where the original is kept
    content: bytes  # the migrated file's bytes
    dry_run: bool = False
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Rollback:
    format: FormatName
    restored: Path  # the original, back in place
    removed: Path | None  # the migrated file, when the migration had created it


def migrate_specific_format(
    name: str,
    cwd: Path | None = None,
    *,
    dry_run: bool = False,
    environ: Mapping[str, str] | None = None,
    config_file: str | Path | None = None,
    selections_file: str | Path | None = None,
    history_dir: str | Path | None = None,
) -> Migration:
    """Migrate one format (``model_selections``, ``yaml`` or ``python``); ConfigError if not.

    The paths default to the working directory's: ``config/model_selections.json``,
    the config file the loader would read, ``production_config.py`` / ``settings.py``;
    the history goes to ``<history_dir>/.migration_history.jsonl`` (``config/``).
    """
    where = locate(
        cwd,
        environ=environ,
        config_file=config_file,
        selections_file=selections_file,
        history_dir=history_dir,
    )
    legacy = _format(name)
    history = MigrationHistory(where.history_file)
    action: Action = "dry-run" if dry_run else "migrate"
    try:
        migration = _prepare(legacy, where, dry_run=dry_run)
    except ConfigError as error:
        history.record(action, legacy.name, _looked_for(legacy, where), error)
        raise
    if not dry_run:
        _write_logged(migration, history)
    history.record(action, legacy.name, _files(migration))
    return migration


def migrate_legacy_formats(
    cwd: Path | None = None,
    *,
    dry_run: bool = False,
    environ: Mapping[str, str] | None = None,
    config_file: str | Path | None = None,
    selections_file: str | Path | None = None,
    history_dir: str | Path | None = None,
) -> list[Migration]:
    """Migrate every format found in the legacy form: all of them, or none.

    Each is converted and validated before any is written; if writing one
    fails, the ones written before it are rolled back.
    """
    where = locate(
        cwd,
        environ=environ,
        config_file=config_file,
        selections_file=selections_file,
        history_dir=history_dir,
    )
    history = MigrationHistory(where.history_file)
    action: Action = "dry-run" if dry_run else "migrate"
    found = [FORMATS[name] for name in FORMAT_NAMES]
    found = [legacy for legacy in found if inspect_format(legacy, where).needs_migration]
    migrations: list[Migration] = []
    for legacy in found:
        try:
            migrations.append(_prepare(legacy, where, dry_run=dry_run))
        except ConfigError as error:
            history.record(action, legacy.name, _looked_for(legacy, where), error)
            raise
    done: list[Migration] = []
    for migration in migrations:
        if not dry_run:
            try:
                _write_logged(migration, history)
            except ConfigError:
                for earlier in reversed(done):
                    _restore(earlier)
                    history.record("rollback", earlier.format, _files(earlier))
                raise
        history.record(action, migration.format, _files(migration))
        done.append(migration)
    return migrations


def rollback_format(
    name: str,
    cwd: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config_file: str | Path | None = None,
    selections_file: str | Path | None = None,
    history_dir: str | Path | None = None,
) -> Rollback:
    """Put a format's ``.legacy`` original back, byte for byte; ConfigError if there is none."""
    where = locate(
        cwd,
        environ=environ,
        config_file=config_file,
        selections_file=selections_file,
        history_dir=history_dir,
    )
    legacy = _format(name)
    history = MigrationHistory(where.history_file)
    candidates = legacy.candidates(where)
    originals = [path for path in candidates if backup_of(path).is_file()]
    if not originals:
        looked = ", ".join(str(backup_of(path)) for path in candidates) or "nothing"
        error = ConfigError(
            [f"no {legacy.title} backup to restore (looked for {looked})"],
            source=str(candidates[0]) if candidates else legacy.name,
        )
        history.record("rollback", legacy.name, _looked_for(legacy, where), error)
        raise error
    original = originals[0]
    migrated = _migrated_file(legacy, original)
    files = {"restored": original, "backup": backup_of(original), "removed": migrated}
    try:
        result = _restore_file(legacy.name, original, migrated)
    except ConfigError as error:
        history.record("rollback", legacy.name, files, error)
        raise
    history.record("rollback", legacy.name, files)
    return result


def _format(name: str) -> LegacyFormat:
    for known in FORMAT_NAMES:
        if known == name:
            return FORMATS[known]
    problem = f"{name!r} is not a legacy format ({', '.join(FORMAT_NAMES)})"
    raise ConfigError([problem], source="migration")


def _prepare(legacy: LegacyFormat, where: Locations, *, dry_run: bool) -> Migration:
    """Convert and validate in memory; ConfigError with the reason if it cannot be done."""
    presence = inspect_format(legacy, where)
    path = presence.path
    if path is None:
        looked = ", ".join(str(p) for p in presence.looked_for) or "nothing"
        source = str(presence.looked_for[0]) if presence.looked_for else legacy.name
        raise ConfigError([f"no {legacy.title} found (looked for {looked})"], source=source)
    if presence.state == "current":
        raise ConfigError([f"{path} is already in the current format"], source=str(path))
    backup = backup_of(path)
    if backup.exists():
        problem = (
            f"{backup} already exists (an earlier migration): "
            f"`proxyapi config migrate --rollback {legacy.name}` or remove it first"
        )
        raise ConfigError([problem], source=str(path))
    converted = legacy.convert(path, where)
    return Migration(
        legacy.name, path, converted.target, backup, converted.content, dry_run, converted.warnings
    )


def _write_logged(migration: Migration, history: MigrationHistory) -> None:
    try:
        _write(migration)
    except ConfigError as error:
        history.record("migrate", migration.format, _files(migration), error)
        raise


def _write(migration: Migration) -> None:
    """Keep the original as ``.legacy`` and put the migrated file in place; undo on failure."""
    source, target, backup = migration.source, migration.target, migration.backup
    try:
        if source == target:
            _keep_copy(source, backup)
            try:
                _write_atomically(target, migration.content)
            except BaseException:
                backup.unlink(missing_ok=True)
                raise
        else:
            _write_atomically(target, migration.content)
            try:
                os.replace(source, backup)
            except BaseException:
                target.unlink(missing_ok=True)
                raise
    except OSError as exc:
        problem = f"{exc.filename or source}: cannot be written: {exc.strerror or exc}"
        raise ConfigError([problem], source=str(source)) from None


def _restore(migration: Migration) -> Rollback:
    migrated = None if migration.source == migration.target else migration.target
    return _restore_file(migration.format, migration.source, migrated)


def _restore_file(name: FormatName, original: Path, migrated: Path | None) -> Rollback:
    backup = backup_of(original)
    try:
        os.replace(backup, original)  # the same bytes (the same inode, even)
        if migrated is not None:
            try:
                migrated.unlink(missing_ok=True)
            except BaseException:
                os.replace(original, backup)
                raise
    except OSError as exc:
        problem = f"{exc.filename or original}: cannot be restored: {exc.strerror or exc}"
        raise ConfigError([problem], source=str(original)) from None
    return Rollback(name, original, migrated)


def _migrated_file(legacy: LegacyFormat, original: Path) -> Path | None:
    """The file a migration created beside the original (``config.yaml`` for a module)."""
    return original.with_name("config.yaml") if legacy.name == "python" else None


def _keep_copy(source: Path, backup: Path) -> None:
    """``backup`` with ``source``'s exact bytes; fails if it exists."""
    try:
        os.link(source, backup)
    except FileExistsError:
        raise
    except OSError:  # a filesystem without hard links: a copy, renamed into place
        fd, temporary = tempfile.mkstemp(prefix=f".{backup.name}.", dir=backup.parent)
        os.close(fd)
        try:
            shutil.copy2(source, temporary)
            os.replace(temporary, backup)
        finally:
            Path(temporary).unlink(missing_ok=True)


def _write_atomically(path: Path, data: bytes) -> None:
    """A temporary file beside ``path`` (with its mode, if it exists), then one rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as sink:
            sink.write(data)
            sink.flush()
            os.fsync(sink.fileno())
        if path.exists():
            shutil.copymode(path, temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _files(migration: Migration) -> dict[str, Path | None]:
    return {"source": migration.source, "target": migration.target, "backup": migration.backup}


def _looked_for(legacy: LegacyFormat, where: Locations) -> dict[str, Path | None]:
    found = legacy.in_use(where)
    return {"source": found if found is not None else next(iter(legacy.candidates(where)), None)}
