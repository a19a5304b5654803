"""The Anthropic adapter against recorded wire fixtures (tests/fixtures/anthropic/)."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from openai_schema import validate
from proxyapi.errors import (
    ContextLengthExceeded,
    InvalidRequest,
    UpstreamAuthError,
    UpstreamRateLimited,
    UpstreamStatusError,
)
from proxyapi.providers.anthropic import AnthropicAdapter
from proxyapi.providers.base import Deployment
from proxyapi.providers.registry import load_adapter
from proxyapi.transport.sse import SSEDecoder, SSEEvent

FIXTURES = Path(__file__).parents[2] / "fixtures" / "anthropic"
DEPLOYMENT = Deployment(
    name="claude",
    type="anthropic",
    base_url="https://api.anthropic.com",
    api_key="sk-ant-secret",
    models=("claude-sonnet-4-5",),
    priority=1,
    timeout=30,
)
ADAPTER = AnthropicAdapter()
WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
}


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def sent_body(body: dict[str, Any], deployment: Deployment = DEPLOYMENT) -> dict[str, Any]:
    request = ADAPTER.build_chat(body, deployment)
    assert request.body is not None
    parsed: dict[str, Any] = orjson.loads(request.body)
    return parsed


def chat(**extra: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "Hi"}], **extra}


def translate(name: str, request: dict[str, Any]) -> list[Any]:
    """Feed a recorded .sse file through the real SSE decoder and the translator."""
    decoder = SSEDecoder()
    translator = ADAPTER.stream_translator(request)
    out: list[bytes] = []
    raw = (FIXTURES / name).read_bytes()
    for start in range(0, len(raw), 97):  # split anywhere, as the network does
        for event in decoder.feed(raw[start : start + 97]):
            out.extend(translator.feed(event))
    for event in decoder.close():
        out.extend(translator.feed(event))
    out.extend(translator.close())
    return [parse_sse(item) for item in out]


def parse_sse(item: bytes) -> Any:
    assert item.startswith(b"data: ") and item.endswith(b"\n\n"), item
    data = item[6:-2]
    if data == b"[DONE]":
        return "[DONE]"
    parsed = orjson.loads(data)
    parsed.pop("created", None)
    return parsed


def expected_lines(name: str) -> list[Any]:
    lines = (FIXTURES / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line]


# --- requests ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fixture",
    [
        "request_system_multiturn",
        "request_images",
        "request_tools",
        "request_tool_round_trip_thinking",
        "request_reasoning_effort",
    ],
)
def test_request_is_translated_as_recorded(fixture: str) -> None:
    case = load(f"{fixture}.json")
    original = copy.deepcopy(case["openai"])
    assert sent_body(case["openai"]) == case["anthropic"]
    assert case["openai"] == original, "the client's body is shared by fallbacks: never mutated"


def test_registry_finds_the_adapter_by_type() -> None:
    assert isinstance(load_adapter("anthropic"), AnthropicAdapter)


def test_chat_goes_to_v1_messages_with_api_key_and_version_headers() -> None:
    request = ADAPTER.build_chat(chat(), DEPLOYMENT)
    assert request.method == "POST"
    assert request.url == "https://api.anthropic.com/v1/messages"
    assert request.headers["x-api-key"] == "sk-ant-secret"
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.headers["content-type"] == "application/json"
    assert "Authorization" not in request.headers


def test_configured_headers_override_the_version_whatever_their_case() -> None:
    deployment = Deployment(
        name="claude",
        type="anthropic",
        base_url="https://api.anthropic.com/v1",
        api_key="k",
        models=("m",),
        priority=1,
        timeout=30,
        headers={"Anthropic-Version": "2024-01-01", "anthropic-beta": "x"},
    )
    request = ADAPTER.build_chat(chat(), deployment)
    assert request.url == "https://api.anthropic.com/v1/messages"
    versions = [v for k, v in request.headers.items() if k.lower() == "anthropic-version"]
    assert versions == ["2024-01-01"]
    assert request.headers["anthropic-beta"] == "x"


def test_max_tokens_defaults_to_4096_and_max_completion_tokens_wins() -> None:
    assert sent_body(chat())["max_tokens"] == 4096
    assert sent_body(chat(max_tokens=10, max_completion_tokens=20))["max_tokens"] == 20


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("none", {"type": "none"}),
        ("required", {"type": "any"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"type": "tool", "name": "get_weather"},
        ),
    ],
)
def test_tool_choice_maps_to_anthropic(choice: Any, expected: dict[str, Any]) -> None:
    assert sent_body(chat(tools=[WEATHER_TOOL], tool_choice=choice))["tool_choice"] == expected


def test_parallel_tool_calls_false_alone_disables_parallel_use_under_auto() -> None:
    body = sent_body(chat(tools=[WEATHER_TOOL], parallel_tool_calls=False))
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


def test_tool_choice_without_tools_is_not_sent() -> None:
    assert "tool_choice" not in sent_body(chat(tool_choice="auto"))


@pytest.mark.parametrize(("effort", "budget"), [("low", 1024), ("medium", 4096), ("high", 16384)])
def test_reasoning_effort_sets_a_thinking_budget_below_max_tokens(effort: str, budget: int) -> None:
    body = sent_body(chat(reasoning_effort=effort, temperature=0.3, top_k=5))
    assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert body["max_tokens"] > budget
    assert "temperature" not in body and "top_k" not in body


def test_a_large_max_tokens_is_kept_with_thinking() -> None:
    body = sent_body(chat(reasoning_effort="low", max_tokens=30000, top_p=0.97))
    assert body["max_tokens"] == 30000
    assert body["top_p"] == 0.97


def test_reasoning_effort_none_sends_no_thinking() -> None:
    body = sent_body(chat(reasoning_effort="none", temperature=0.3))
    assert "thinking" not in body and body["temperature"] == 0.3


def test_unknown_reasoning_effort_is_a_400_naming_it() -> None:
    with pytest.raises(InvalidRequest) as caught:
        sent_body(chat(reasoning_effort="extreme"))
    assert caught.value.param == "reasoning_effort"


def test_forcing_a_tool_with_thinking_is_refused_unless_drop_params() -> None:
    body = chat(reasoning_effort="low", tools=[WEATHER_TOOL], tool_choice="required")
    with pytest.raises(InvalidRequest) as caught:
        sent_body(body)
    assert caught.value.param == "tool_choice"
    dropping = dataclasses.replace(DEPLOYMENT, drop_params=True)
    assert sent_body(body, dropping)["tool_choice"] == {"type": "auto"}


def test_json_schema_response_format_uses_structured_outputs() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    body = sent_body(
        chat(
            response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
        )
    )
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": schema}}


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("response_format", {"type": "json_object"}),
        ("n", 2),
        ("logprobs", True),
        ("presence_penalty", 0.5),
        ("seed", 7),
        ("temperature", 1.5),
    ],
)
def test_a_parameter_anthropic_cannot_honour_is_a_400_naming_it(param: str, value: Any) -> None:
    with pytest.raises(InvalidRequest) as caught:
        sent_body(chat(**{param: value}))
    assert caught.value.param == param
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("param", "value"),
    [("response_format", {"type": "json_object"}), ("n", 2), ("seed", 7), ("temperature", 1.5)],
)
def test_drop_params_drops_what_anthropic_cannot_honour(param: str, value: Any) -> None:
    dropping = dataclasses.replace(DEPLOYMENT, drop_params=True)
    body = sent_body(chat(**{param: value}), dropping)
    assert param not in body and "output_config" not in body


def test_harmless_defaults_of_unsupported_parameters_pass() -> None:
    body = sent_body(chat(n=1, logprobs=False, presence_penalty=0, seed=None, modalities=["text"]))
    assert set(body) == {"model", "messages", "max_tokens"}


def test_reasoning_content_with_signature_is_sent_back_as_a_thinking_block() -> None:
    messages = [
        {"role": "user", "content": "Go"},
        {
            "role": "assistant",
            "content": None,
            "reasoning_content": "Thinking.",
            "signature": "sig",
            "tool_calls": [
                {"id": "t1", "type": "function", "function": {"name": "f", "arguments": ""}}
            ],
        },
        {"role": "tool", "tool_call_id": "t1", "content": "done"},
    ]
    body = sent_body({"model": "m", "messages": messages})
    assert body["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "Thinking.", "signature": "sig"},
        {"type": "tool_use", "id": "t1", "name": "f", "input": {}},
    ]


def test_unsigned_reasoning_content_is_not_sent_back() -> None:
    messages = [
        {"role": "user", "content": "Go"},
        {"role": "assistant", "content": "Ok", "reasoning_content": "hmm"},
        {"role": "user", "content": "Again"},
    ]
    assert sent_body({"model": "m", "messages": messages})["messages"][1]["content"] == "Ok"


def test_a_user_message_after_tool_results_joins_their_turn_after_them() -> None:
    messages = [
        {"role": "user", "content": "Go"},
        {
            "role": "assistant",
            "tool_calls": [{"id": "t1", "function": {"name": "f", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "t1", "content": "done"},
        {"role": "user", "content": "Thanks"},
    ]
    turn = sent_body({"model": "m", "messages": messages})["messages"][2]
    assert [block["type"] for block in turn["content"]] == ["tool_result", "text"]


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/a.png", "data:image/bmp;base64,AAAA", "data:image/png,notbase64"],
)
def test_an_image_anthropic_cannot_take_is_a_400_naming_the_part(url: str) -> None:
    content = [{"type": "image_url", "image_url": {"url": url}}]
    with pytest.raises(InvalidRequest) as caught:
        sent_body({"model": "m", "messages": [{"role": "user", "content": content}]})
    assert caught.value.param == "messages[0].content[0]"


def test_tool_call_arguments_that_are_not_a_json_object_are_a_400() -> None:
    call = {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "[1]"}}
    messages = [{"role": "user", "content": "Go"}, {"role": "assistant", "tool_calls": [call]}]
    with pytest.raises(InvalidRequest):
        sent_body({"model": "m", "messages": messages})


def test_only_a_system_prompt_is_a_400() -> None:
    with pytest.raises(InvalidRequest) as caught:
        sent_body({"model": "m", "messages": [{"role": "system", "content": "x"}]})
    assert caught.value.param == "messages"


# --- responses -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "fixture", ["response_text", "response_tool_use", "response_thinking_tool_use"]
)
def test_response_is_translated_as_recorded(fixture: str) -> None:
    raw = (FIXTURES / f"{fixture}.json").read_bytes()
    completion = orjson.loads(ADAPTER.parse_chat(200, raw, {"model": "claude-test"}))
    validate("CreateChatCompletionResponse", completion)
    assert isinstance(completion.pop("created"), int)
    assert completion == load(f"{fixture}.expected.json")


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
    ],
)
def test_stop_reasons_map_to_finish_reasons(stop_reason: str, finish: str) -> None:
    message = load("response_text.json") | {"stop_reason": stop_reason}
    completion = orjson.loads(ADAPTER.parse_chat(200, orjson.dumps(message), {"model": "m"}))
    assert completion["choices"][0]["finish_reason"] == finish


def test_cache_reads_count_in_prompt_tokens_and_as_cached_tokens() -> None:
    message = load("response_text.json")
    message["usage"] |= {"cache_read_input_tokens": 100, "cache_creation_input_tokens": 20}
    usage = orjson.loads(ADAPTER.parse_chat(200, orjson.dumps(message), {"model": "m"}))["usage"]
    assert usage == {
        "prompt_tokens": 130,
        "completion_tokens": 5,
        "total_tokens": 135,
        "prompt_tokens_details": {"cached_tokens": 100},
    }


def test_redacted_thinking_is_kept_as_an_opaque_block() -> None:
    message = load("response_text.json")
    message["content"].insert(0, {"type": "redacted_thinking", "data": "EmwKAhgB"})
    answer = orjson.loads(ADAPTER.parse_chat(200, orjson.dumps(message), {"model": "m"}))
    assert answer["choices"][0]["message"]["thinking_blocks"] == [
        {"type": "redacted_thinking", "data": "EmwKAhgB"}
    ]


# --- streams -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "request_body"),
    [
        ("stream_text", {"model": "claude-test", "stream_options": {"include_usage": True}}),
        ("stream_tool_use", {"model": "claude-test"}),
        ("stream_thinking", {"model": "claude-test"}),
        ("stream_error", {"model": "claude-test"}),
    ],
)
def test_stream_is_translated_as_recorded(fixture: str, request_body: dict[str, Any]) -> None:
    chunks = translate(f"{fixture}.sse", request_body)
    assert chunks == expected_lines(f"{fixture}.expected.jsonl")


@pytest.mark.parametrize("fixture", ["stream_text", "stream_tool_use", "stream_thinking"])
def test_streamed_chunks_match_openai_schema(fixture: str) -> None:
    request = {"model": "claude-test", "stream_options": {"include_usage": True}}
    chunks = translate(f"{fixture}.sse", request)
    assert chunks[-1] == "[DONE]"
    for chunk in chunks[:-1]:
        validate("CreateChatCompletionStreamResponse", chunk | {"created": 1})


def test_every_chunk_shares_the_id_from_message_start() -> None:
    chunks = translate("stream_tool_use.sse", {"model": "claude-test"})
    assert {c["id"] for c in chunks[:-1]} == {"chatcmpl-msg_01K2JbSUMYhez5RHoK9ZCj9U"}


def test_a_stream_cut_before_message_stop_ends_with_an_error_event() -> None:
    raw = (FIXTURES / "stream_text.sse").read_bytes()
    truncated = raw[: raw.index(b"event: message_delta")]
    decoder = SSEDecoder()
    translator = ADAPTER.stream_translator({"model": "m"})
    out = [item for event in decoder.feed(truncated) for item in translator.feed(event)]
    out.extend(translator.close())
    last = orjson.loads(out[-1][6:])
    assert last["error"]["code"] == "upstream_stream_error"
    assert translator.close() == []


def test_redacted_thinking_in_a_stream_becomes_a_thinking_blocks_delta() -> None:
    translator = ADAPTER.stream_translator({"model": "m"})
    start = {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "redacted_thinking", "data": "Em"},
    }
    (chunk,) = translator.feed(_event(start))
    assert orjson.loads(chunk[6:])["choices"][0]["delta"] == {
        "thinking_blocks": [{"type": "redacted_thinking", "data": "Em"}]
    }


def _event(data: dict[str, Any]) -> SSEEvent:
    return SSEEvent(data=orjson.dumps(data), event=str(data["type"]))


# --- errors, models, embeddings ------------------------------------------------------


def _error_body(kind: str, message: str) -> bytes:
    return orjson.dumps(
        {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_1"}
    )


def test_429_is_rate_limited_with_retry_after() -> None:
    error = ADAPTER.classify_error(
        429, {"retry-after": "7"}, _error_body("rate_limit_error", "slow down"), "claude"
    )
    assert isinstance(error, UpstreamRateLimited)
    assert error.retry_after == 7 and error.is_retryable


@pytest.mark.parametrize(("status", "kind"), [(529, "overloaded_error"), (500, "api_error")])
def test_overloaded_and_api_errors_are_retryable(status: int, kind: str) -> None:
    error = ADAPTER.classify_error(status, {}, _error_body(kind, "Overloaded"), "claude")
    assert isinstance(error, UpstreamStatusError)
    assert error.is_retryable and error.error_code == kind


def test_529_overloaded_with_retry_after_is_retryable_and_carries_it() -> None:
    body = _error_body("overloaded_error", "Overloaded")
    error = ADAPTER.classify_error(529, {"retry-after": "12"}, body, "claude")
    assert isinstance(error, UpstreamStatusError)
    assert error.is_retryable and error.retry_after == 12
    assert error.http_status == 529 and error.headers() == {"Retry-After": "12"}


def test_500_does_not_carry_retry_after() -> None:
    body = _error_body("api_error", "Internal server error")
    error = ADAPTER.classify_error(500, {"retry-after": "12"}, body, "claude")
    assert error.is_retryable and error.retry_after is None and error.headers() == {}


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures_are_upstream_auth_errors(status: int) -> None:
    body = _error_body("authentication_error", "invalid x-api-key")
    assert isinstance(ADAPTER.classify_error(status, {}, body, "claude"), UpstreamAuthError)


@pytest.mark.parametrize(
    "message",
    [
        "prompt is too long: 219898 tokens > 200000 maximum",
        "input length and `max_tokens` exceed context limit: 188240 + 21333 > 200000, "
        "decrease input length or `max_tokens` and try again",
    ],
)
def test_context_window_errors_become_context_length_exceeded(message: str) -> None:
    body = _error_body("invalid_request_error", message)
    error = ADAPTER.classify_error(400, {}, body, "claude")
    assert isinstance(error, ContextLengthExceeded)
    assert error.error_code == "context_length_exceeded" and not error.is_retryable


def test_other_client_errors_pass_through_unretried() -> None:
    body = _error_body("not_found_error", "model: claude-nope")
    error = ADAPTER.classify_error(404, {}, body, "claude")
    assert isinstance(error, UpstreamStatusError)
    assert not error.is_retryable and error.http_status == 404
    assert error.to_dict()["error"]["message"] == "model: claude-nope"


def test_models_are_listed_from_v1_models() -> None:
    request = ADAPTER.build_models(DEPLOYMENT)
    assert request is not None and request.method == "GET"
    assert request.url == "https://api.anthropic.com/v1/models"
    assert request.headers["x-api-key"] == "sk-ant-secret"
    body = b'{"data":[{"type":"model","id":"claude-opus-4-1"}],"has_more":false}'
    assert ADAPTER.parse_models(body) == ["claude-opus-4-1"]


def test_embeddings_are_refused_naming_the_model() -> None:
    with pytest.raises(InvalidRequest) as caught:
        ADAPTER.build_embeddings({"model": "claude", "input": "x"}, DEPLOYMENT)
    assert caught.value.param == "model"
    assert "does not offer embeddings" in caught.value.message
