"""The ``logging`` block decides level, format and the rotating file."""

from __future__ import annotations

import logging
import logging.handlers
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from proxyapi.config import validate_config
from proxyapi.observability.logging import configure_logging


@pytest.fixture(autouse=True)
def restore_logger() -> Iterator[None]:
    root = logging.getLogger("proxyapi")
    level, propagate = root.level, root.propagate
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)
    root.propagate = propagate


def logging_block(**values: object) -> object:
    return validate_config({"providers": [], "logging": values}).logging


def test_json_format_writes_one_object_per_line_to_the_file(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "proxy.log"
    configure_logging(logging_block(format="json", file=str(log_file), level="info"))  # type: ignore[arg-type]
    logging.getLogger("proxyapi.test").info("hello %s", "world")
    record = orjson.loads(log_file.read_text().splitlines()[-1])
    assert record["message"] == "hello world" and record["level"] == "INFO"


def test_the_file_rotates_at_max_file_size_keeping_max_files(tmp_path: Path) -> None:
    log_file = tmp_path / "proxy.log"
    configure_logging(logging_block(file=str(log_file), max_file_size="1KB", max_files=2))  # type: ignore[arg-type]
    handler = next(
        h
        for h in logging.getLogger("proxyapi").handlers
        if isinstance(h, logging.handlers.RotatingFileHandler)
    )
    assert handler.maxBytes == 1024 and handler.backupCount == 2


def test_the_level_filters_records() -> None:
    configure_logging(logging_block(level="ERROR"))  # type: ignore[arg-type]
    assert not logging.getLogger("proxyapi.x").isEnabledFor(logging.WARNING)
