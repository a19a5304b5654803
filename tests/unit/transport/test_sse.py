"""The SSE decoder gives the same events however the bytes are split."""

from __future__ import annotations

from proxyapi.transport.sse import SSEDecoder, SSEEvent

STREAM = (
    b": keep-alive\n\n"
    b"event: message_start\r\n"
    b'data: {"a": 1}\r\n\r\n'
    b"data: line one\n"
    b"data: line two\n\n"
    b"id: 7\rdata: cr only\r\r"
    b"data: [DONE]\n\n"
)

EXPECTED = [
    SSEEvent(data=b'{"a": 1}', event="message_start"),
    SSEEvent(data=b"line one\nline two"),
    SSEEvent(data=b"cr only", id="7"),
    SSEEvent(data=b"[DONE]", id="7"),  # The last event ID persists, per the spec.
]


def decode(parts: list[bytes]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events = [event for part in parts for event in decoder.feed(part)]
    return events + decoder.close()


def test_a_whole_stream_decodes_into_events() -> None:
    assert decode([STREAM]) == EXPECTED


def test_every_split_point_gives_the_same_events() -> None:
    for cut in range(len(STREAM) + 1):
        assert decode([STREAM[:cut], STREAM[cut:]]) == EXPECTED, cut


def test_byte_by_byte_gives_the_same_events() -> None:
    assert decode([STREAM[i : i + 1] for i in range(len(STREAM))]) == EXPECTED


def test_a_final_event_without_its_blank_line_is_flushed_on_close() -> None:
    assert decode([b"data: tail"]) == [SSEEvent(data=b"tail")]


def test_a_field_without_a_space_after_the_colon_keeps_its_value() -> None:
    assert decode([b"data:x\n\n"]) == [SSEEvent(data=b"x")]
