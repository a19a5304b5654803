"""Seed 004's legacy configuration formats: detected, loaded, migrated, rolled back.

```
model_selections  config/model_selections.json  {"openai": "gpt-4o"}      -> same file, current form
yaml              the config file in use        host: / port: / providers: {name: {...}}
                                                                          -> same file, current form
python            production_config.py, else settings.py (read, never run)
                                                                          -> config.yaml beside it
```

At startup the loader reads a legacy flat file or settings module through the
migration, in memory, and warns (:mod:`.startup`). ``proxyapi config migrate``
writes: the original is kept as ``<file>.legacy``, the migrated file replaces
it only once it validates, and every operation lands in
``config/.migration_history.jsonl`` (:mod:`.migration`, :mod:`.history`).
"""

from proxyapi.config.legacy.flat import FLAT_KEYS, FlatKey, describe_destination
from proxyapi.config.legacy.formats import FORMAT_NAMES, FormatName
from proxyapi.config.legacy.migration import (
    Migration,
    Rollback,
    migrate_legacy_formats,
    migrate_specific_format,
    rollback_format,
)
from proxyapi.config.legacy.presence import FormatPresence, check_legacy_presence
from proxyapi.config.legacy.report import (
    MigrationStatus,
    describe_migration,
    describe_presence,
    describe_rollback,
    get_migration_report,
    get_migration_status,
)
from proxyapi.config.legacy.startup import load_config_with_legacy_support

__all__ = [
    "FLAT_KEYS",
    "FORMAT_NAMES",
    "FlatKey",
    "FormatName",
    "FormatPresence",
    "Migration",
    "MigrationStatus",
    "Rollback",
    "check_legacy_presence",
    "describe_destination",
    "describe_migration",
    "describe_presence",
    "describe_rollback",
    "get_migration_report",
    "get_migration_status",
    "load_config_with_legacy_support",
    "migrate_legacy_formats",
    "migrate_specific_format",
    "rollback_format",
]
