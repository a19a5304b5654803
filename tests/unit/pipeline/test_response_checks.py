"""validation.response: the shape check, the size limit and output sanitizing."""

from __future__ import annotations

import orjson
import pytest

from proxyapi.config.traffic import ResponseValidation
from proxyapi.errors import InvalidUpstreamResponse, UpstreamResponseTooLarge
from proxyapi.pipeline.response_checks import ResponseChecks, sanitize, sanitize_events

VALID = orjson.dumps(
    {
        "id": "c",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}],
    }
)


def checks(**config: object) -> ResponseChecks:
    return ResponseChecks(ResponseValidation.model_validate(config))


def test_a_valid_chat_completion_passes_as_the_same_bytes() -> None:
    assert checks().chat(VALID, "p") is VALID


@pytest.mark.parametrize(
    "body",
    [
        b'{"oops": true}',
        b"not json",
        b"[]",
        b'{"choices": [{"index": 0}]}',
        b'{"choices": [{"message": {"content": 5}}]}',
    ],
)
def test_a_malformed_answer_is_a_retryable_provider_failure(body: bytes) -> None:
    with pytest.raises(InvalidUpstreamResponse) as caught:
        checks().chat(body, "p")
    assert caught.value.is_retryable
    assert caught.value.http_status == 502
    assert caught.value.provider == "p"


def test_the_shape_check_can_be_switched_off() -> None:
    assert checks(validate_schema=False, sanitize_output=False).chat(b"{}", "p") == b"{}"


def test_embeddings_need_data_with_embeddings() -> None:
    good = b'{"object": "list", "data": [{"embedding": [0.1]}]}'
    assert checks().embeddings(good, "p") is good
    with pytest.raises(InvalidUpstreamResponse):
        checks().embeddings(b'{"data": [{}]}', "p")


def test_an_answer_over_max_response_size_is_a_502() -> None:
    with pytest.raises(UpstreamResponseTooLarge) as caught:
        checks(max_response_size=10).chat(VALID, "p")
    assert caught.value.http_status == 502


def test_sanitize_removes_control_characters_but_keeps_whitespace() -> None:
    body = orjson.dumps({"choices": [{"message": {"content": "a\x00b\x1bc\td\ne\x7f"}}]})
    cleaned = orjson.loads(sanitize(body))
    assert cleaned["choices"][0]["message"]["content"] == "abc\td\ne"


def test_sanitize_replaces_invalid_utf8() -> None:
    body = b'{"choices": [{"message": {"content": "caf\xc3\xa9 \xff"}}]}'
    cleaned = orjson.loads(sanitize(body))
    assert cleaned["choices"][0]["message"]["content"] == "caf\u00e9 \ufffd"


def test_clean_output_is_returned_untouched() -> None:
    unicode = orjson.dumps({"choices": [{"message": {"content": "caf\u00e9 \\u0000"}}]})
    assert sanitize(VALID) is VALID
    assert sanitize(unicode) == unicode


def test_sanitize_events_rewrites_only_dirty_stream_chunks() -> None:
    clean = b'data: {"choices": [{"delta": {"content": "a"}}]}\n\n'
    assert sanitize_events(clean) is clean
    dirty = b"data: " + orjson.dumps({"choices": [{"delta": {"content": "a\x07"}}]}) + b"\n\n"
    out = sanitize_events(dirty + b"data: [DONE]\n\n")
    assert out == b'data: {"choices":[{"delta":{"content":"a"}}]}\n\ndata: [DONE]\n\n'


def test_a_stream_past_the_size_limit_is_refused_chunk_by_chunk() -> None:
    limit = checks(max_response_size=40)
    first = b'data: {"choices": []}\n\n'
    assert limit.chunk(b"data: {}\n\n", len(first) + 10, "p") == b"data: {}\n\n"
    with pytest.raises(UpstreamResponseTooLarge) as refused:
        limit.chunk(b"x" * 30, len(first) + 40, "p")
    assert refused.value.code == "response_too_large" and not refused.value.is_retryable
