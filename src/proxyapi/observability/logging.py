"""Logging set-up from the ``logging`` block: level, text or JSON lines, rotating file.

JSON lines are built with orjson, one object per record, so a log shipper can
read them without a grok pattern. Every line written while a request is being
answered carries its ``request_id`` (and the trace and span ids when tracing is
on): the formatter reads them from context variables, so no call site has to
pass them along.

Secrets are not passed to the logger in the first place; as a second line of
defence, every line is scrubbed of anything shaped like a key (``sk-...``,
``Bearer ...``, the gateway's own ``pxy-...``) and of the provider keys this
process knows, before it is written.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Final

import orjson

from proxyapi.config.models import Config
from proxyapi.config.observability import LoggingConfig
from proxyapi.observability.handlers import BufferedRotatingFileHandler, BufferedStreamHandler

request_id_var: ContextVar[str | None] = ContextVar("proxyapi_request_id", default=None)
# (trace id, span id) of the current span, when tracing is on; set by the tracing set-up.
TraceIds = Callable[[], "tuple[str, str] | None"]

FIELDS: Final = "fields"  # LogRecord attribute with a line's structured fields (extra=...)
_FORMATTED: Final = "_proxyapi_formatted"  # (formatter, line) cached on a LogRecord
REDACTED: Final = "***"
_TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_KEY_SHAPES: Final = re.compile(
    r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{6,}"
    r"|\b(?:sk|pxy|pk|rk)-[A-Za-z0-9_-]{8,}"
    r"|\bAIza[0-9A-Za-z_-]{20,}"
    r"|((?:x-)?api[-_]?key[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]{6,}"
)


# A line holds a key shape only if it holds one of these (lower case): the regex,
# which costs tens of microseconds per line, runs only then (measured: bench/observability.py).
_TRIGGERS: Final = ("sk-", "pxy-", "pk-", "rk-", "aiza", "bearer", "api-key", "api_key", "apikey")


class Redactor:
    """Replaces secrets in a finished log line: key shapes, and the known secret values."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._known = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._known:
            if secret in text:
                text = text.replace(secret, REDACTED)
        lowered = text.lower()
        if any(trigger in lowered for trigger in _TRIGGERS):
            text = _KEY_SHAPES.sub(_keep_prefix, text)
        return text


def _keep_prefix(match: re.Match[str]) -> str:
    prefix = match.group(1) or match.group(2) or ""
    return prefix + REDACTED


class _Context:
    """What every formatter adds to a line: request id, trace ids, redaction."""

    def __init__(
        self,
        redact: Redactor,
        trace_ids: TraceIds | None,
        with_request_id: bool,
        with_span_id: bool = True,
    ) -> None:
        self.redact = redact
        self.trace_ids = trace_ids
        self.with_request_id = with_request_id
        self.with_span_id = with_span_id


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, context, fields."""

    def __init__(self, context: _Context | None = None) -> None:
        super().__init__()
        self.context = context or _Context(Redactor(), None, True)

    def format(self, record: logging.LogRecord) -> str:
        # Every handler (stderr, the file, and the file's rollover check) formats the
        # record: do it once.
        done: tuple[JsonFormatter, str] | None = record.__dict__.get(_FORMATTED)
        if done is not None and done[0] is self:
            return done[1]
        line = self._format(record)
        record.__dict__[_FORMATTED] = (self, line)
        return line

    def _format(self, record: logging.LogRecord) -> str:
        context = self.context
        entry: dict[str, Any] = {
            "timestamp": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        if context.with_request_id:
            request_id = request_id_var.get()
            if request_id is not None:
                entry["request_id"] = request_id
        if context.trace_ids is not None:
            ids = context.trace_ids()
            if ids is not None:
                entry["trace_id"] = ids[0]
                if context.with_span_id:
                    entry["span_id"] = ids[1]
        fields: dict[str, Any] | None = getattr(record, FIELDS, None)
        if fields:
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return context.redact(orjson.dumps(entry, default=str).decode())


class TextFormatter(logging.Formatter):
    """``time LEVEL logger [request_id]: message key=value ...``, for people at a terminal."""

    def __init__(self, context: _Context | None = None) -> None:
        super().__init__(_TEXT_FORMAT)
        self.context = context or _Context(Redactor(), None, True)

    def format(self, record: logging.LogRecord) -> str:
        done: tuple[TextFormatter, str] | None = record.__dict__.get(_FORMATTED)
        if done is not None and done[0] is self:
            return done[1]
        line = self._format(record)
        record.__dict__[_FORMATTED] = (self, line)
        return line

    def _format(self, record: logging.LogRecord) -> str:
        context = self.context
        line = super().format(record)
        tags = []
        if context.with_request_id:
            request_id = request_id_var.get()
            if request_id is not None:
                tags.append(request_id)
        if context.trace_ids is not None:
            ids = context.trace_ids()
            if ids is not None:
                tags.append(f"trace={ids[0]}")
        if tags:
            head, _, tail = line.partition(": ")
            line = f"{head} [{' '.join(tags)}]: {tail}"
        fields: dict[str, Any] | None = getattr(record, FIELDS, None)
        if fields:
            line += " " + " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
        return context.redact(line)


def log_context(
    *, secrets: Iterable[str] = (), trace_ids: TraceIds | None = None, request_id: bool = True
) -> _Context:
    """What a formatter adds to each line, for handlers set up outside ``configure_logging``."""
    return _Context(Redactor(secrets), trace_ids, request_id)


def log_format(config: Config) -> str:
    """``logging.format`` when set; else JSON lines in production, text elsewhere."""
    if config.logging.format is not None:
        return config.logging.format
    return "json" if config.app.environment == "production" else "text"


def configure_logging(
    settings: LoggingConfig,
    *,
    format: str | None = None,
    secrets: Iterable[str] = (),
    trace_ids: TraceIds | None = None,
) -> None:
    """Apply the ``logging`` block to the ``proxyapi`` logger tree (idempotent)."""
    chosen = format or settings.format or "text"
    structured = settings.structured
    context = _Context(
        Redactor(secrets),
        trace_ids if structured.include_trace_id else None,
        structured.include_request_id,
        structured.include_span_id,
    )
    formatter: logging.Formatter = (
        JsonFormatter(context) if chosen == "json" else TextFormatter(context)
    )
    handlers: list[logging.Handler] = [BufferedStreamHandler(sys.stderr)]
    if settings.file:
        path = Path(settings.file)
        path.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(
            BufferedRotatingFileHandler(
                path, settings.max_file_size, settings.max_files, settings.encoding or "utf-8"
            )
        )
    # What no line here prints, the logging module need not gather for every record:
    # the caller's file and line (a stack walk) and the thread names.
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    root = logging.getLogger("proxyapi")
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(settings.level)
    root.propagate = False


def configure_from(config: Config, environ: Mapping[str, str] | None = None) -> None:
    """``configure_logging`` for a whole config: its format rule and its provider keys."""
    env = os.environ if environ is None else environ
    secrets = [env.get(p.api_key_env, "") for p in config.providers if p.api_key_env]
    if config.metrics.alerting.webhook_url:
        secrets.append(config.metrics.alerting.webhook_url)
    trace_ids: TraceIds | None = None
    if config.telemetry.enabled:
        from proxyapi.observability.tracing import current_ids

        trace_ids = current_ids
    configure_logging(
        config.logging, format=log_format(config), secrets=secrets, trace_ids=trace_ids
    )
