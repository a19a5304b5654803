"""The migration history: one JSON line per operation, appended, never rewritten.

```json
{"time": "2025-09-12T03:54:29.931051+00:00", "action": "migrate", "format": "yaml",
 "files": {"source": "config.yaml", "target": "config.yaml", "backup": "config.yaml.legacy"},
 "result": "ok", "error": null}
```

``action`` is ``migrate``, ``dry-run`` or ``rollback``; ``result`` is ``ok``
or ``failed`` (then ``error`` says why). The history is the one file a
failed operation writes to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import orjson

from proxyapi.errors import ConfigError

__all__ = ["Action", "MigrationHistory"]

Action = Literal["migrate", "dry-run", "rollback"]


@dataclass(frozen=True, slots=True)
class MigrationHistory:
    path: Path

    def record(
        self,
        action: Action,
        format_name: str,
        files: Mapping[str, Path | None],
        error: ConfigError | None = None,
    ) -> dict[str, Any]:
        """Append one operation; an unwritable history is itself a ConfigError."""
        entry: dict[str, Any] = {
            "time": datetime.now(UTC).isoformat(),
            "action": action,
            "format": format_name,
            "files": {role: None if path is None else str(path) for role, path in files.items()},
            "result": "ok" if error is None else "failed",
            "error": None if error is None else "; ".join(error.problems),
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("ab") as sink:
                sink.write(orjson.dumps(entry) + b"\n")
        except OSError as exc:
            problem = f"{self.path}: the migration history cannot be written: {exc}"
            raise ConfigError([problem], source=str(self.path)) from None
        return entry

    def read(self) -> list[dict[str, Any]]:
        """Every record, oldest first; lines that are not records are skipped."""
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            return []
        except OSError as exc:
            problem = f"{self.path}: the migration history cannot be read: {exc}"
            raise ConfigError([problem], source=str(self.path)) from None
        records: list[dict[str, Any]] = []
        for line in lines:
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(record, dict):
                records.append(record)
        return records
