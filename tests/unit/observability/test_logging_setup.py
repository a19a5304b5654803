"""The ``logging`` block decides level, format and the rotating file."""

from __future__ import annotations

import asyncio
import logging
import logging.handlers
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from proxyapi.config import validate_config
from proxyapi.observability.handlers import FLUSH_SECONDS
from proxyapi.observability.logging import configure_logging, log_format, request_id_var


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
    logging.getLogger("proxyapi.test").info("hello %s", "world")  # no event loop: at once
    record = orjson.loads(log_file.read_text().splitlines()[-1])
    assert record["message"] == "hello world" and record["level"] == "INFO"


async def test_in_the_event_loop_lines_are_flushed_together_shortly_after(
    tmp_path: Path,
) -> None:
    log_file = tmp_path / "proxy.log"
    configure_logging(logging_block(format="json", file=str(log_file)))  # type: ignore[arg-type]
    for n in range(3):
        logging.getLogger("proxyapi.test").info("line %d", n)
    assert log_file.read_text() == ""  # buffered: a write per line would cost the request
    await asyncio.sleep(FLUSH_SECONDS * 3)
    assert len(log_file.read_text().splitlines()) == 3


def test_warnings_are_written_at_once(tmp_path: Path) -> None:
    log_file = tmp_path / "proxy.log"
    configure_logging(logging_block(format="json", file=str(log_file)))  # type: ignore[arg-type]
    logging.getLogger("proxyapi.test").warning("now")
    assert orjson.loads(log_file.read_text())["message"] == "now"


def test_the_size_is_counted_in_memory_and_the_file_rotates_past_it(tmp_path: Path) -> None:
    log_file = tmp_path / "proxy.log"
    configure_logging(logging_block(file=str(log_file), max_file_size="1KB", max_files=2))  # type: ignore[arg-type]
    for i in range(60):
        logging.getLogger("proxyapi.test").warning("line %d %s", i, "x" * 40)
    assert log_file.stat().st_size <= 1024
    assert (tmp_path / "proxy.log.1").exists() and (tmp_path / "proxy.log.2").exists()
    assert not (tmp_path / "proxy.log.3").exists()


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


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    return lines[-1]


def test_lines_written_during_a_request_carry_its_request_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(logging_block(format="json"))  # type: ignore[arg-type]
    token = request_id_var.set("req-123")
    try:
        logging.getLogger("proxyapi.test").info("inside")
    finally:
        request_id_var.reset(token)
    assert orjson.loads(one_line(capsys))["request_id"] == "req-123"
    logging.getLogger("proxyapi.test").info("outside")
    assert "request_id" not in orjson.loads(one_line(capsys))


def test_text_lines_show_the_request_id_and_fields(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(logging_block(format="text"))  # type: ignore[arg-type]
    token = request_id_var.set("req-9")
    try:
        logging.getLogger("proxyapi.access").info("GET /x 200", extra={"fields": {"status": 200}})
    finally:
        request_id_var.reset(token)
    assert one_line(capsys).endswith("proxyapi.access [req-9]: GET /x 200 status=200")


def test_trace_and_span_ids_are_added_when_tracing_is_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ids = ("a" * 32, "b" * 16)
    configure_logging(logging_block(format="json"), trace_ids=lambda: ids)  # type: ignore[arg-type]
    logging.getLogger("proxyapi.test").info("traced")
    entry = orjson.loads(one_line(capsys))
    assert (entry["trace_id"], entry["span_id"]) == ids
    quiet = logging_block(format="json", structured={"include_span_id": False})
    configure_logging(quiet, trace_ids=lambda: ids)  # type: ignore[arg-type]
    logging.getLogger("proxyapi.test").info("traced")
    assert "span_id" not in orjson.loads(one_line(capsys))


@pytest.mark.parametrize(
    "secret",
    [
        "Bearer sk-live-0123456789abcdef",
        "sk-proj-0123456789abcdefghij",
        "pxy-0123456789abcdef0123",
        "AIzaSyA0123456789abcdefghijklmnopqrst",
        "x-api-key: 0123456789abcdef",
    ],
)
def test_key_shaped_text_is_redacted(secret: str, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(logging_block(format="json"))  # type: ignore[arg-type]
    logging.getLogger("proxyapi.test").warning("upstream said: %s", secret)
    line = one_line(capsys)
    assert "0123456789" not in line and "***" in line


def test_known_provider_keys_are_redacted_whatever_their_shape(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(logging_block(), secrets=["plainsecretvalue"])  # type: ignore[arg-type]
    logging.getLogger("proxyapi.test").error("echo plainsecretvalue back")
    assert "plainsecretvalue" not in one_line(capsys)


def test_json_lines_by_default_in_production_text_elsewhere() -> None:
    production = validate_config({"providers": [], "app": {"environment": "production"}})
    assert log_format(production) == "json"
    assert log_format(validate_config({"providers": []})) == "text"
    chosen = validate_config(
        {"providers": [], "app": {"environment": "production"}, "logging": {"format": "text"}}
    )
    assert log_format(chosen) == "text"
