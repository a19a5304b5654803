"""The Cohere v2 adapter against recorded wire fixtures (tests/fixtures/cohere/)."""

from __future__ import annotations

import base64
import logging
import struct
from pathlib import Path
from typing import Any

import orjson
import pytest

from openai_schema import validate
from proxyapi.errors import (
    ContextLengthExceeded,
    InvalidRequest,
    UpstreamAuthError,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamStatusError,
    UpstreamTimeout,
)
from proxyapi.providers.base import Deployment
from proxyapi.providers.cohere import DEFAULT_INPUT_TYPE, CohereAdapter
from proxyapi.providers.registry import load_adapter
from proxyapi.transport.sse import SSEDecoder, SSEEvent

FIXTURES = Path(__file__).parents[2] / "fixtures" / "cohere"
MODEL = "command-a-03-2025"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def deployment(**overrides: Any) -> Deployment:
    fields: dict[str, Any] = {
        "name": "cohere",
        "type": "cohere",
        "base_url": "https://api.cohere.com",
        "api_key": "co-secret",
        "models": (MODEL,),
        "priority": 1,
        "timeout": 30,
    }
    fields.update(overrides)
    return Deployment(**fields)


def sent_body(body: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    request = CohereAdapter().build_chat(body, deployment(**overrides))
    assert request.body is not None
    sent: dict[str, Any] = orjson.loads(request.body)
    return sent


def hello(**extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], **extra}


def without_created(value: Any) -> Any:
    if isinstance(value, dict) and "created" in value:
        return {**value, "created": 0}
    return value


def translate(sse: bytes, request: dict[str, Any]) -> list[Any]:
    """Feed a recorded stream through a fresh translator; parse what comes out."""
    translator = CohereAdapter().stream_translator(request)
    decoder = SSEDecoder()
    out: list[bytes] = []
    for event in decoder.feed(sse) + decoder.close():
        out.extend(translator.feed(event))
    out.extend(translator.close())
    payloads = [item.removeprefix(b"data: ").removesuffix(b"\n\n") for item in out]
    return [p.decode() if p == b"[DONE]" else without_created(orjson.loads(p)) for p in payloads]


def expected_lines(name: str) -> list[Any]:
    lines = fixture(name).decode().splitlines()
    return [line if line == "[DONE]" else orjson.loads(line) for line in lines]


# -- requests --------------------------------------------------------------------------


def test_the_registry_type_cohere_loads_this_adapter() -> None:
    assert isinstance(load_adapter("cohere"), CohereAdapter)


def test_chat_posts_to_v2_chat_with_bearer_auth() -> None:
    request = CohereAdapter().build_chat(hello(), deployment(headers={"X-Client-Name": "gw"}))
    assert (request.method, request.url) == ("POST", "https://api.cohere.com/v2/chat")
    assert request.headers["Authorization"] == "Bearer co-secret"
    assert request.headers["X-Client-Name"] == "gw"


def test_a_full_tool_round_trip_request_translates_field_by_field() -> None:
    body = orjson.loads(fixture("chat_tool_round_trip.request.json"))
    assert sent_body(body) == orjson.loads(fixture("chat_tool_round_trip.upstream.json"))


def test_tool_choice_none_is_upper_case_and_auto_is_left_out() -> None:
    assert sent_body(hello(tool_choice="none"))["tool_choice"] == "NONE"
    assert "tool_choice" not in sent_body(hello(tool_choice="auto"))


@pytest.mark.parametrize(
    ("response_format", "expected"),
    [
        ({"type": "json_object"}, {"type": "json_object"}),
        (
            {"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "object"}}},
            {"type": "json_object", "json_schema": {"type": "object"}},
        ),
    ],
)
def test_response_format_becomes_cohere_json_mode(
    response_format: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert sent_body(hello(response_format=response_format))["response_format"] == expected
    assert "response_format" not in sent_body(hello(response_format={"type": "text"}))


def test_reasoning_effort_is_a_thinking_budget_on_reasoning_models() -> None:
    model = "command-a-reasoning-08-2025"
    sent = sent_body({**hello(reasoning_effort="low"), "model": model})
    assert sent["thinking"] == {"type": "enabled", "token_budget": 2048}
    off = sent_body({**hello(reasoning_effort="none"), "model": model})
    assert off["thinking"] == {"type": "disabled"}


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"n": 2}, "n"),
        ({"tool_choice": {"type": "function", "function": {"name": "f"}}}, "tool_choice"),
        ({"reasoning_effort": "high"}, "reasoning_effort"),
        ({"parallel_tool_calls": False}, "parallel_tool_calls"),
        ({"logprobs": True}, "logprobs"),
        ({"logit_bias": {"50256": -100}}, "logit_bias"),
        ({"response_format": {"type": "grammar"}}, "response_format"),
    ],
)
def test_a_parameter_cohere_cannot_honour_is_a_400_naming_it(
    extra: dict[str, Any], param: str
) -> None:
    with pytest.raises(InvalidRequest) as raised:
        sent_body(hello(**extra))
    assert raised.value.param == param and raised.value.status == 400


def test_with_drop_params_the_unsupported_parameter_is_dropped_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG, logger="proxyapi.providers.cohere"):
        sent = sent_body(hello(n=3, logit_bias={"1": 1}, temperature=0.5), drop_params=True)
    assert sent == {**hello(), "temperature": 0.5}
    assert "'n'" in caplog.text and "'logit_bias'" in caplog.text


def test_parameters_that_change_no_answer_are_left_out_silently() -> None:
    sent = sent_body(hello(user="u1", metadata={"a": "b"}, n=1, stream=False))
    assert sent == hello()


def test_cohere_native_extras_pass_through() -> None:
    sent = sent_body(hello(k=40, safety_mode="STRICT"))
    assert sent["k"] == 40 and sent["safety_mode"] == "STRICT"


def test_content_parts_cohere_cannot_read_are_a_400_naming_the_part() -> None:
    audio = {"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}
    body = {"model": MODEL, "messages": [{"role": "user", "content": [audio]}]}
    with pytest.raises(InvalidRequest) as raised:
        sent_body(body)
    assert raised.value.param == "messages[0].content[0]"


# -- answers ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["chat_text", "chat_tool_call"])
def test_answers_translate_to_openai_chat_completions(name: str) -> None:
    raw = CohereAdapter().parse_chat(200, fixture(f"{name}.response.json"), {"model": MODEL})
    out = without_created(orjson.loads(raw))
    assert out == orjson.loads(fixture(f"{name}.expected.json"))
    validate("CreateChatCompletionResponse", out)


def test_thinking_parts_become_reasoning_content_and_max_tokens_is_length() -> None:
    raw = CohereAdapter().parse_chat(200, fixture("chat_thinking.response.json"), {"model": MODEL})
    choice = orjson.loads(raw)["choices"][0]
    assert choice["finish_reason"] == "length"
    assert choice["message"]["content"] == "Autumn moonlight, a"
    assert choice["message"]["reasoning_content"] == "The user wants a haiku. "


@pytest.mark.parametrize(
    ("finish", "error_class"), [("ERROR", UpstreamStatusError), ("TIMEOUT", UpstreamTimeout)]
)
def test_a_failed_generation_is_a_retryable_upstream_error(
    finish: str, error_class: type[UpstreamError]
) -> None:
    body = orjson.dumps({"id": "x", "finish_reason": finish, "message": {"role": "assistant"}})
    with pytest.raises(error_class) as raised:
        CohereAdapter().parse_chat(200, body, {"model": MODEL})
    assert raised.value.is_retryable


def test_a_finish_reason_cohere_adds_later_reads_as_stop() -> None:
    body = orjson.dumps(
        {"id": "x", "finish_reason": "SOMETHING_NEW", "message": {"role": "assistant"}}
    )
    raw = CohereAdapter().parse_chat(200, body, {"model": MODEL})
    assert orjson.loads(raw)["choices"][0]["finish_reason"] == "stop"


# -- streams ---------------------------------------------------------------------------


def test_a_text_stream_becomes_openai_chunks() -> None:
    chunks = translate(fixture("stream_text.sse"), {"model": MODEL, "stream": True})
    assert chunks == expected_lines("stream_text.expected.jsonl")
    for chunk in chunks[:-1]:
        validate("CreateChatCompletionStreamResponse", chunk)


def test_a_tool_stream_keeps_each_calls_index_and_ends_with_usage() -> None:
    request = {"model": MODEL, "stream": True, "stream_options": {"include_usage": True}}
    chunks = translate(fixture("stream_tool_use.sse"), request)
    assert chunks == expected_lines("stream_tool_use.expected.jsonl")
    for chunk in chunks[:-1]:
        validate("CreateChatCompletionStreamResponse", chunk)


def test_an_error_at_message_end_ends_the_stream_with_an_openai_error_event() -> None:
    chunks = translate(fixture("stream_error.sse"), {"model": MODEL, "stream": True})
    assert chunks == expected_lines("stream_error.expected.jsonl")
    assert "[DONE]" not in chunks
    validate("ErrorResponse", chunks[-1])


def test_a_stream_cut_before_message_end_is_an_error_not_a_silent_end() -> None:
    translator = CohereAdapter().stream_translator({"model": MODEL})
    start = b'{"id":"a","type":"message-start","delta":{"message":{"role":"assistant"}}}'
    assert len(translator.feed(SSEEvent(data=start, event="message-start"))) == 1
    (last,) = translator.close()
    assert b'"error"' in last and b"message-end" in last


def test_every_chunk_of_one_stream_shares_id_model_and_created() -> None:
    translator = CohereAdapter().stream_translator({"model": MODEL})
    decoder = SSEDecoder()
    out = [
        chunk
        for event in decoder.feed(fixture("stream_tool_use.sse"))
        for chunk in translator.feed(event)
    ]
    parsed = [orjson.loads(item[len(b"data: ") :]) for item in out if item != b"data: [DONE]\n\n"]
    heads = {(c["id"], c["model"], c["created"]) for c in parsed}
    assert len(heads) == 1 and len(parsed) > 5


# -- embeddings ------------------------------------------------------------------------


def test_embeddings_post_texts_with_a_default_input_type_and_dimensions() -> None:
    body = {"model": "embed-v4.0", "input": ["a", "b"], "dimensions": 512}
    request = CohereAdapter().build_embeddings(body, deployment())
    assert request.url == "https://api.cohere.com/v2/embed"
    assert request.body is not None
    assert orjson.loads(request.body) == {
        "model": "embed-v4.0",
        "texts": ["a", "b"],
        "input_type": DEFAULT_INPUT_TYPE,
        "embedding_types": ["float"],
        "output_dimension": 512,
    }


def test_an_input_type_extra_field_overrides_the_default() -> None:
    body = {"model": "embed-v4.0", "input": "q", "input_type": "search_query"}
    request = CohereAdapter().build_embeddings(body, deployment())
    assert request.body is not None and orjson.loads(request.body)["input_type"] == "search_query"


def test_token_array_inputs_are_a_400_on_input() -> None:
    with pytest.raises(InvalidRequest) as raised:
        CohereAdapter().build_embeddings({"model": "embed-v4.0", "input": [1, 2]}, deployment())
    assert raised.value.param == "input"


def test_embed_answers_become_openai_float_vectors() -> None:
    request = {"model": "embed-v4.0", "input": ["hello", "goodbye"]}
    out = orjson.loads(
        CohereAdapter().parse_embeddings(200, fixture("embed.response.json"), request)
    )
    validate("CreateEmbeddingResponse", out)
    assert [item["index"] for item in out["data"]] == [0, 1]
    assert out["data"][0]["embedding"] == [0.016296387, -0.008354187, -0.04699707]
    assert out["usage"] == {"prompt_tokens": 2, "total_tokens": 2}
    assert out["model"] == "embed-v4.0"


def test_base64_embeddings_are_little_endian_float32_as_openai_sends_them() -> None:
    request = {"model": "embed-v4.0", "input": "hello", "encoding_format": "base64"}
    out = orjson.loads(
        CohereAdapter().parse_embeddings(200, fixture("embed.response.json"), request)
    )
    decoded = struct.unpack("<3f", base64.b64decode(out["data"][0]["embedding"]))
    assert decoded == pytest.approx([0.016296387, -0.008354187, -0.04699707])


# -- errors and models -----------------------------------------------------------------


def test_the_context_length_400_is_context_length_exceeded() -> None:
    error = CohereAdapter().classify_error(400, {}, fixture("error_context_length.json"), "co")
    assert isinstance(error, ContextLengthExceeded) and not error.is_retryable
    assert error.to_dict()["error"]["code"] == "context_length_exceeded"


def test_429_is_rate_limited_and_retryable_with_retry_after() -> None:
    error = CohereAdapter().classify_error(
        429, {"retry-after": "2"}, fixture("error_rate_limit.json"), "co"
    )
    assert isinstance(error, UpstreamRateLimited) and error.is_retryable
    assert error.retry_after == 2.0 and "Trial key" in error.message


@pytest.mark.parametrize("status", [401, 403, 498])
def test_a_refused_key_is_an_auth_error_that_never_repeats_the_message(status: int) -> None:
    body = b'{"id":"x","message":"invalid api token co-secret"}'
    error = CohereAdapter().classify_error(status, {}, body, "co")
    assert isinstance(error, UpstreamAuthError) and "co-secret" not in error.message


@pytest.mark.parametrize(("status", "is_retryable"), [(500, True), (503, True), (422, False)])
def test_server_errors_are_retryable_and_422_keeps_its_status(
    status: int, is_retryable: bool
) -> None:
    body = b'{"id":"x","message":"something"}'
    error = CohereAdapter().classify_error(status, {}, body, "co")
    assert isinstance(error, UpstreamStatusError)
    assert error.is_retryable is is_retryable
    assert error.http_status == status and error.message == "something"


def test_models_are_listed_from_v1_models_by_name() -> None:
    request = CohereAdapter().build_models(deployment())
    assert request is not None and request.method == "GET"
    assert request.url == "https://api.cohere.com/v1/models?page_size=1000"
    names = CohereAdapter().parse_models(fixture("models.response.json"))
    assert names == ["command-a-03-2025", "embed-v4.0"]
