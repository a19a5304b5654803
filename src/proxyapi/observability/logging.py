"""Logging set-up from the ``logging`` block: level, text or JSON lines, optional file.

JSON lines are built with orjson, one object per record, so a log shipper can
read them without a grok pattern. Secrets are never passed to the logger in the
first place; this module does not try to scrub them after the fact.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path
from typing import Any

import orjson

from proxyapi.config.observability import LoggingConfig

_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and exception text."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def configure_logging(settings: LoggingConfig) -> None:
    """Apply the ``logging`` block to the ``proxyapi`` logger tree (idempotent)."""
    formatter: logging.Formatter = (
        JsonFormatter() if settings.format == "json" else logging.Formatter(_TEXT_FORMAT)
    )
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if settings.file:
        path = Path(settings.file)
        path.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(
            logging.handlers.RotatingFileHandler(
                path,
                maxBytes=settings.max_file_size,
                backupCount=settings.max_files,
                encoding=settings.encoding or "utf-8",
            )
        )
    root = logging.getLogger("proxyapi")
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(settings.level)
    root.propagate = False
