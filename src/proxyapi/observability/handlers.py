"""Log handlers that cost the request path a buffered write, not a syscall per line.

The standard handlers flush after every record, and the rotating one also
stats and seeks the file (and formats the record once more) to decide on
rollover: with one access line per request that was a third of what a request
cost (bench/observability.py). Here a line goes into the stream's buffer, a
daemon thread flushes every ``FLUSH_SECONDS``, a WARNING or worse is flushed at
once, and the file's size is counted in memory. A terminal keeps a flush per
line: someone is watching it.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import threading
import weakref
from pathlib import Path
from typing import Final, TextIO

FLUSH_SECONDS: Final = 0.1


class _Flusher:
    """One daemon thread flushing every registered handler's stream, a few times a second."""

    def __init__(self) -> None:
        self._handlers: weakref.WeakSet[logging.Handler] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def register(self, handler: logging.Handler) -> None:
        with self._lock:
            self._handlers.add(handler)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="proxyapi-log-flush", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        stop = threading.Event()
        while not stop.wait(FLUSH_SECONDS):
            with self._lock:
                handlers = list(self._handlers)
            for handler in handlers:
                handler.flush()  # takes the handler's own lock


_FLUSHER = _Flusher()


def _wants_line_flush(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class BufferedStreamHandler(logging.StreamHandler[TextIO]):
    """``StreamHandler`` whose lines are flushed by the flusher thread, not one by one."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self.line_flush = _wants_line_flush(stream)
        _FLUSHER.register(self)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + self.terminator)
            if self.line_flush or record.levelno >= logging.WARNING:
                self.stream.flush()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)


class BufferedRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Size-based rotation (``max_file_size``, ``max_files``) with the size kept in memory."""

    def __init__(self, path: Path, max_bytes: int, backups: int, encoding: str) -> None:
        super().__init__(path, maxBytes=max_bytes, backupCount=backups, encoding=encoding)
        self._size = path.stat().st_size if path.exists() else 0
        _FLUSHER.register(self)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
            size = len(line.encode(self.encoding or "utf-8", "replace"))
            if self.maxBytes and self._size and self._size + size > self.maxBytes:
                self.doRollover()
                self._size = 0
            if self.stream is None:
                self.stream = self._open()
            self.stream.write(line)
            self._size += size
            if record.levelno >= logging.WARNING:
                self.stream.flush()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def doRollover(self) -> None:
        super().doRollover()
        self._size = os.path.getsize(self.baseFilename) if os.path.exists(self.baseFilename) else 0
