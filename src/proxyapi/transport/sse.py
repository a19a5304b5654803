"""Server-sent events: an incremental decoder (bytes in, events out) and the encoder.

The framing is parsed once here, per the WHATWG spec ("Interpreting an event
stream"): lines end in CRLF, LF or CR; a blank line dispatches the event;
``data`` lines are joined with LF; lines starting with ``:`` are comments.
Translators receive whole events and never look at raw stream text.
"""

from __future__ import annotations

from dataclasses import dataclass

DONE = b"[DONE]"


@dataclass(slots=True)
class SSEEvent:
    """One dispatched event. ``data`` is bytes: most of them go straight to orjson."""

    data: bytes
    event: str | None = None
    id: str | None = None


def encode_data(data: bytes) -> bytes:
    """One ``data:`` event, as OpenAI streams it."""
    return b"data: " + data + b"\n\n"


DONE_EVENT = encode_data(DONE)


class SSEDecoder:
    """Feed it byte chunks split anywhere; it returns the events each chunk completes."""

    __slots__ = ("_buffer", "_data", "_event", "_id", "_pending_cr")

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[bytes] = []
        self._event: str | None = None
        self._id: str | None = None
        self._pending_cr = False

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if self._pending_cr and chunk.startswith(b"\n"):
            # The CR that ended the last chunk and this LF are one line ending.
            chunk = chunk[1:]
        self._pending_cr = chunk.endswith(b"\r")
        buffer = self._buffer + chunk
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buffer.split(b"\n")
        self._buffer = lines.pop()
        events: list[SSEEvent] = []
        for line in lines:
            event = self._take_line(line)
            if event is not None:
                events.append(event)
        return events

    def close(self) -> list[SSEEvent]:
        """Flush at end of stream: a final event without its blank line still counts."""
        events: list[SSEEvent] = []
        if self._buffer:
            event = self._take_line(self._buffer)
            self._buffer = b""
            if event is not None:
                events.append(event)
        event = self._take_line(b"")
        if event is not None:
            events.append(event)
        return events

    def _take_line(self, line: bytes) -> SSEEvent | None:
        if not line:
            return self._dispatch()
        if line[0] == 0x3A:  # ":" starts a comment (keep-alives)
            return None
        name, sep, value = line.partition(b":")
        if sep and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id":
            self._id = value.decode("utf-8", "replace")
        return None

    def _dispatch(self) -> SSEEvent | None:
        if not self._data:
            self._event = None
            return None
        data = self._data[0] if len(self._data) == 1 else b"\n".join(self._data)
        event = SSEEvent(data=data, event=self._event, id=self._id)
        self._data = []
        self._event = None
        return event
