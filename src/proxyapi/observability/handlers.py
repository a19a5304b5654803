"""Log handlers that cost the request path an ``append``, not a write per line.

The standard handlers write and flush every record, and the rotating one also
stats and seeks the file (and formats the record once more) to decide on
rollover: with one access line per request that was a third of what a request
cost (bench/observability.py). Here a line is appended to a list; the event
loop writes the lines gathered within ``FLUSH_SECONDS`` in one call; a WARNING
or worse, a line written outside the event loop, or a terminal (someone is
watching) is written at once; the file's size is counted in memory.
"""

from __future__ import annotations

import asyncio
import logging
import logging.handlers
import os
from collections.abc import Callable
from pathlib import Path
from typing import Final, TextIO

FLUSH_SECONDS: Final = 0.1


class LoopFlush:
    """A handler's pending flush: scheduled on the running event loop, at most one at a time.

    No thread: a flusher thread waking ten times a second costs the event loop's
    thread GIL hand-offs. With no running loop (start-up, shutdown, another
    thread) the flush happens at once.
    """

    def __init__(self, flush: Callable[[], None]) -> None:
        self._flush = flush
        self._pending = False

    def soon(self) -> None:
        if self._pending:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._flush()
            return
        self._pending = True
        loop.call_later(FLUSH_SECONDS, self._run)

    def _run(self) -> None:
        self._pending = False
        try:
            self._flush()
        except (OSError, ValueError):
            pass  # the stream is closed (the handler was replaced): nothing to write


def _wants_line_flush(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Batching:
    """The shared part: lines wait in ``pending`` until ``flush`` writes them in one go."""

    pending: list[str]
    later: LoopFlush
    line_flush: bool = False
    # Lines noted elsewhere to be formatted late (logging.write_access): written first.
    upstream: Callable[[], None] | None = None

    def add_line(self, line: str, urgent: bool = False) -> None:
        """Queue one finished line (with its newline): what the request path calls."""
        self.pending.append(line)
        if urgent or self.line_flush:
            self.flush()
        else:
            self.later.soon()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator  # type: ignore[attr-defined]
            self.add_line(line, record.levelno >= logging.WARNING)
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)  # type: ignore[attr-defined]

    def take(self) -> str:
        lines, self.pending = self.pending, []
        return "".join(lines)

    def flush(self) -> None:  # pragma: no cover - each handler has its own
        raise NotImplementedError


class BufferedStreamHandler(Batching, logging.StreamHandler[TextIO]):
    """``StreamHandler`` writing its lines in batches."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self.pending = []
        self.line_flush = _wants_line_flush(stream)
        self.later = LoopFlush(self.flush)

    def flush(self) -> None:
        if self.upstream is not None:
            self.upstream()
        with self.lock:  # type: ignore[union-attr]
            text = self.take()
            if text and self.stream is not None:
                self.stream.write(text)
                self.stream.flush()

    def close(self) -> None:
        try:
            self.flush()
        except (OSError, ValueError):
            pass  # the stream under it is closed already: nothing left to write
        super().close()


class BufferedRotatingFileHandler(Batching, logging.handlers.RotatingFileHandler):
    """Size-based rotation (``max_file_size``, ``max_files``) with the size kept in memory."""

    def __init__(self, path: Path, max_bytes: int, backups: int, encoding: str) -> None:
        super().__init__(path, maxBytes=max_bytes, backupCount=backups, encoding=encoding)
        self.pending = []
        self._size = path.stat().st_size if path.exists() else 0
        self.later = LoopFlush(self.flush)

    def flush(self) -> None:
        if self.upstream is not None:
            self.upstream()
        with self.lock:  # type: ignore[union-attr]
            text = self.take()
            if not text:
                return
            size = len(text.encode(self.encoding or "utf-8", "replace"))
            if self.maxBytes and self._size + size > self.maxBytes:
                for line in text.splitlines(keepends=True):
                    self._write(line, len(line.encode(self.encoding or "utf-8", "replace")))
            else:
                self._write(text, size)
            if self.stream is not None:
                self.stream.flush()

    def _write(self, text: str, size: int) -> None:
        if self.maxBytes and self._size and self._size + size > self.maxBytes:
            self.doRollover()
        if self.stream is None:
            self.stream = self._open()
        self.stream.write(text)
        self._size += size

    def close(self) -> None:
        try:
            self.flush()
        except (OSError, ValueError):
            pass
        super().close()

    def doRollover(self) -> None:
        super().doRollover()
        self._size = os.path.getsize(self.baseFilename) if os.path.exists(self.baseFilename) else 0
