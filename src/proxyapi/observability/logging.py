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
import time
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Final, Protocol

import orjson

from proxyapi.config.models import Config
from proxyapi.config.observability import LoggingConfig
from proxyapi.observability.handlers import (
    Batching,
    BufferedRotatingFileHandler,
    BufferedStreamHandler,
    LoopFlush,
)

request_id_var: ContextVar[str | None] = ContextVar("proxyapi_request_id", default=None)
# (trace id, span id) of the current span, when tracing is on; set by the tracing set-up.
TraceIds = Callable[[], "tuple[str, str] | None"]

FIELDS: Final = "fields"  # LogRecord attribute with a line's structured fields (extra=...)
_QUICK: Final = "_proxyapi_quick_handlers"  # on the root logger: set by configure_logging
_ROOT: Final = logging.getLogger("proxyapi")
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


class LightRecord:
    """Just what the formatters and handlers here read of a ``LogRecord``.

    The access line is written once per request: building a full LogRecord (file,
    line, thread, process lookups) and walking the logger tree cost more than the
    line itself (bench/observability.py). ``write_access`` hands one of these
    straight to the ``proxyapi`` handlers when nothing else would see the record.
    """

    exc_info = None
    exc_text = None
    stack_info = None
    levelno = logging.INFO
    levelname = "INFO"

    def __init__(
        self, name: str, source: AccessSource, untrusted: tuple[str, ...], trace: TraceIds | None
    ) -> None:
        self.name = name
        self.levelno = logging.INFO  # instance attributes: "%(levelname)s" reads __dict__
        self.levelname = "INFO"
        self.source = source
        # The fields a client chose (a model name, say): the only ones that may hold a
        # key, so the only ones a JSON line checks, with the request id (also theirs).
        self.untrusted = untrusted
        self.args = ()
        self.created = time.time()
        self.msecs = 0.0
        self.process = _PID.pid
        # Read now: formatting happens later, outside the request's context.
        self.request_id = request_id_var.get()
        self.trace = trace() if trace is not None else None
        self.msg = ""
        self.fields: dict[str, Any] = {}

    def build(self) -> None:
        self.msg, self.fields = self.source.message(), self.source.fields()

    def getMessage(self) -> str:
        return self.msg


class AccessSource(Protocol):
    """What an access line is made of, asked for only when the line is written."""

    def message(self) -> str: ...

    def fields(self) -> dict[str, Any]: ...


class _Quick:
    """The handlers ``configure_logging`` installed, and their one formatter."""

    def __init__(
        self,
        formatter: logging.Formatter,
        handlers: list[logging.Handler],
        trace_ids: TraceIds | None,
    ) -> None:
        self.formatter = formatter
        self.handlers = list(handlers)
        self.trace_ids = trace_ids
        self.batching = [h for h in handlers if isinstance(h, Batching)]
        if len(self.batching) != len(handlers):
            self.handlers = []  # a handler of another kind: the slow path for everyone
        self.pending: list[LightRecord] = []
        self.later = LoopFlush(self.flush)
        for handler in self.batching:
            handler.upstream = self.flush  # a flush at exit writes these first

    def note(self, record: LightRecord) -> None:
        self.pending.append(record)
        self.later.soon()

    def flush(self) -> None:
        if not self.pending:
            return
        records, self.pending = self.pending, []
        format = self.formatter.format
        lines = []
        for record in records:
            record.build()
            lines.append(format(record) + "\n")  # type: ignore[arg-type]
        text = "".join(lines)
        for handler in self.batching:
            handler.pending.append(text)
            handler.flush()


class _Pid:
    """The process id, read once per process (a fork or spawn makes a new module state)."""

    def __init__(self) -> None:
        self.pid = os.getpid()


_PID = _Pid()


def write_access(
    logger: logging.Logger, source: AccessSource, untrusted: tuple[str, ...] = ()
) -> None:
    """One INFO line on ``logger``.

    When nothing but the handlers ``configure_logging`` set up would see it, the
    line is only noted here and formatted with the others of the last
    ``FLUSH_SECONDS``, in one tight loop, outside the request (measured: formatted
    one by one between requests, each cost three times as much, bench/observability.py).
    Otherwise it goes through the logging module as usual.
    """
    root = _ROOT
    quick: _Quick | None = getattr(root, _QUICK, None)
    if (
        quick is not None
        and not logger.handlers
        and logger.propagate
        and root.handlers == quick.handlers
        and logger.isEnabledFor(logging.INFO)
    ):
        quick.note(LightRecord(logger.name, source, untrusted, quick.trace_ids))
        return
    logger.info("%s", source.message(), extra={FIELDS: source.fields()})


class Redactor:
    """Replaces secrets in a finished log line: key shapes, and the known secret values."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._known = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def needed(self, text: str) -> bool:
        """Whether ``text`` may hold a secret (cheap: for short strings)."""
        lowered = text.lower()
        return any(s in text for s in self._known) or any(t in lowered for t in _TRIGGERS)

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


def _format_once(
    formatter: logging.Formatter,
    record: logging.LogRecord,
    format: Callable[[logging.LogRecord], str],
) -> str:
    """Every handler (stderr, the file) formats the record: do it once, keep the line."""
    done: tuple[logging.Formatter, str] | None = record.__dict__.get(_FORMATTED)
    if done is not None and done[0] is formatter:
        return done[1]
    line = format(record)
    record.__dict__[_FORMATTED] = (formatter, line)
    return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, context, fields."""

    def __init__(self, context: _Context | None = None) -> None:
        super().__init__()
        self.context = context or _Context(Redactor(), None, True)
        self._verdicts: dict[str, bool] = {}

    def format(self, record: logging.LogRecord) -> str:
        return _format_once(self, record, self._format)

    def _format(self, record: logging.LogRecord) -> str:
        context = self.context
        entry: dict[str, Any] = {
            "timestamp": _timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        light = isinstance(record, LightRecord)
        if context.with_request_id:
            request_id = record.request_id if light else request_id_var.get()  # type: ignore[attr-defined]
            if request_id is not None:
                entry["request_id"] = request_id
        if context.trace_ids is not None:
            ids = record.trace if light else context.trace_ids()  # type: ignore[attr-defined]
            if ids is not None:
                entry["trace_id"] = ids[0]
                if context.with_span_id:
                    entry["span_id"] = ids[1]
        fields: dict[str, Any] | None = getattr(record, FIELDS, None)
        if fields:
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        line = orjson.dumps(entry, default=str).decode()
        untrusted: tuple[str, ...] | None = getattr(record, "untrusted", None)
        if untrusted is not None and not self._suspect(entry, untrusted):
            return line  # our own values and nothing key-shaped from the client
        return context.redact(line)

    def _suspect(self, entry: dict[str, Any], untrusted: tuple[str, ...]) -> bool:
        needed = self.context.redact.needed
        request_id = entry.get("request_id")
        if request_id is not None and not _own_request_id(request_id) and needed(request_id):
            return True
        for key in untrusted:
            value = entry.get(key)
            if value is not None and self._suspect_value(value):
                return True
        return False

    def _suspect_value(self, value: Any) -> bool:
        """Memoised per value: model names repeat from one line to the next."""
        if not isinstance(value, str):
            return self.context.redact.needed(str(value))
        seen = self._verdicts.get(value)
        if seen is None:
            seen = self.context.redact.needed(value)
            if len(self._verdicts) < 4096:
                self._verdicts[value] = seen
        return seen


def _own_request_id(text: str) -> bool:
    """An id the gateway made (24 lower-case hex digits): nothing secret in it."""
    return len(text) == 24 and text.isalnum() and text.islower()


class _Stamp:
    """The JSON lines' timestamp, formatted once per second rather than once per line."""

    second = -1
    text = ""


def _timestamp(created: float) -> str:
    second = int(created)
    if second != _Stamp.second:
        _Stamp.text = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(second))
        _Stamp.second = second
    return _Stamp.text


class TextFormatter(logging.Formatter):
    """``time LEVEL logger [request_id]: message key=value ...``, for people at a terminal."""

    def __init__(self, context: _Context | None = None) -> None:
        super().__init__(_TEXT_FORMAT)
        self.context = context or _Context(Redactor(), None, True)

    def format(self, record: logging.LogRecord) -> str:
        return _format_once(self, record, self._format)

    def _format(self, record: logging.LogRecord) -> str:
        context = self.context
        line = super().format(record)
        tags = []
        light = isinstance(record, LightRecord)
        if context.with_request_id:
            request_id = record.request_id if light else request_id_var.get()  # type: ignore[attr-defined]
            if request_id is not None:
                tags.append(request_id)
        if context.trace_ids is not None:
            ids = record.trace if light else context.trace_ids()  # type: ignore[attr-defined]
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
    root = _ROOT
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(settings.level)
    root.propagate = False
    # write_access may skip the logging machinery: noted, then formatted in batches.
    previous: _Quick | None = getattr(root, _QUICK, None)
    if previous is not None:
        previous.flush()
    setattr(root, _QUICK, _Quick(formatter, handlers, context.trace_ids))


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
