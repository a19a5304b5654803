"""The Gemini adapter against recorded wire fixtures (tests/fixtures/google/)."""

from __future__ import annotations

import base64
import json
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
    UpstreamRateLimited,
    UpstreamStatusError,
)
from proxyapi.providers.base import Deployment
from proxyapi.providers.google import SIGNATURE_MARK, GoogleAdapter, gemini_schema
from proxyapi.providers.registry import load_adapter
from proxyapi.transport.sse import SSEDecoder

FIXTURES = Path(__file__).parents[2] / "fixtures" / "google"
BASE = "https://generativelanguage.googleapis.com"
DEPLOYMENT = Deployment(
    name="gemini",
    type="google",
    base_url=BASE,
    api_key="AIza-secret",
    models=("gemini-2.5-flash",),
    priority=1,
    timeout=30,
    headers={"X-Team": "search"},
)
LENIENT = Deployment(
    name="gemini",
    type="google",
    base_url=BASE,
    api_key="AIza-secret",
    models=("gemini-2.5-flash",),
    priority=1,
    timeout=30,
    drop_params=True,
)
ADAPTER = GoogleAdapter()
USER = [{"role": "user", "content": "hi"}]


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def sent(body: dict[str, Any], deployment: Deployment = DEPLOYMENT) -> dict[str, Any]:
    request = ADAPTER.build_chat({"model": "gemini-2.5-flash", **body}, deployment)
    assert request.body is not None
    parsed: dict[str, Any] = orjson.loads(request.body)
    return parsed


def completion(name: str, model: str = "gemini-2.5-flash") -> dict[str, Any]:
    parsed: dict[str, Any] = orjson.loads(
        ADAPTER.parse_chat(200, (FIXTURES / name).read_bytes(), {"model": model})
    )
    return parsed


def translate(name: str, request: dict[str, Any]) -> list[bytes]:
    translator = ADAPTER.stream_translator(request)
    decoder = SSEDecoder()
    out: list[bytes] = []
    for event in decoder.feed((FIXTURES / name).read_bytes()) + decoder.close():
        out.extend(translator.feed(event))
    return out + translator.close()


def as_lines(events: list[bytes]) -> list[Any]:
    lines: list[Any] = []
    for event in events:
        assert event.startswith(b"data: ") and event.endswith(b"\n\n")
        payload = event[len(b"data: ") : -2]
        if payload == b"[DONE]":
            lines.append("[DONE]")
            continue
        chunk = orjson.loads(payload)
        if "created" in chunk:
            assert isinstance(chunk["created"], int)
            chunk["created"] = 0
        lines.append(chunk)
    return lines


def expected_lines(name: str) -> list[Any]:
    text = (FIXTURES / name).read_text().splitlines()
    return ["[DONE]" if line == "[DONE]" else json.loads(line) for line in text]


# --- requests ------------------------------------------------------------------------


def test_the_registry_finds_the_google_adapter() -> None:
    assert isinstance(load_adapter("google"), GoogleAdapter)


def test_a_full_chat_request_becomes_the_recorded_gemini_request() -> None:
    request = ADAPTER.build_chat(fixture("chat_request.openai.json"), DEPLOYMENT)
    assert request.method == "POST"
    assert request.body is not None
    assert orjson.loads(request.body) == fixture("chat_request.gemini.json")


def test_streaming_goes_to_stream_generate_content_with_alt_sse_and_the_key_header() -> None:
    request = ADAPTER.build_chat(
        {"model": "gemini-2.5-flash", "messages": USER, "stream": True}, DEPLOYMENT
    )
    assert request.url == f"{BASE}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    assert request.headers["x-goog-api-key"] == "AIza-secret"
    assert request.headers["X-Team"] == "search"
    assert "Authorization" not in request.headers


def test_a_plain_request_goes_to_generate_content_and_strips_a_models_prefix() -> None:
    request = ADAPTER.build_chat({"model": "models/gemini-2.5-pro", "messages": USER}, DEPLOYMENT)
    assert request.url == f"{BASE}/v1beta/models/gemini-2.5-pro:generateContent"


def test_user_text_is_a_user_content_and_no_generation_config_is_sent_without_options() -> None:
    assert sent({"messages": USER}) == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def test_consecutive_assistant_messages_merge_into_one_model_content() -> None:
    messages = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "assistant", "content": [{"type": "text", "text": "c"}]},
        {"role": "user", "content": "d"},
    ]
    assert sent({"messages": messages})["contents"] == [
        {"role": "user", "parts": [{"text": "a"}]},
        {"role": "model", "parts": [{"text": "b"}, {"text": "c"}]},
        {"role": "user", "parts": [{"text": "d"}]},
    ]


def test_max_tokens_is_used_when_max_completion_tokens_is_absent() -> None:
    assert sent({"messages": USER, "max_tokens": 9})["generationConfig"] == {"maxOutputTokens": 9}


def test_a_single_stop_string_becomes_a_list_of_stop_sequences() -> None:
    config = sent({"messages": USER, "stop": "###"})["generationConfig"]
    assert config == {"stopSequences": ["###"]}


def test_json_object_asks_for_json_output() -> None:
    config = sent({"messages": USER, "response_format": {"type": "json_object"}})
    assert config["generationConfig"] == {"responseMimeType": "application/json"}


def test_json_schema_is_sent_as_response_json_schema() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "additionalProperties": False,
    }
    response_format = {"type": "json_schema", "json_schema": {"name": "out", "schema": schema}}
    config = sent({"messages": USER, "response_format": response_format})["generationConfig"]
    assert config == {"responseMimeType": "application/json", "responseJsonSchema": schema}


@pytest.mark.parametrize(
    ("effort", "thinking"),
    [
        ("low", {"thinkingBudget": 1024, "includeThoughts": True}),
        ("medium", {"thinkingBudget": 8192, "includeThoughts": True}),
        ("high", {"thinkingBudget": 24576, "includeThoughts": True}),
        ("none", {"thinkingBudget": 0}),
    ],
)
def test_reasoning_effort_sets_a_thinking_budget(effort: str, thinking: dict[str, Any]) -> None:
    config = sent({"messages": USER, "reasoning_effort": effort})["generationConfig"]
    assert config == {"thinkingConfig": thinking}


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
        ),
    ],
)
def test_tool_choice_becomes_a_function_calling_mode(choice: Any, config: dict[str, Any]) -> None:
    tools = fixture("chat_request.openai.json")["tools"]
    body = sent({"messages": USER, "tools": tools, "tool_choice": choice})
    assert body["toolConfig"] == {"functionCallingConfig": config}


def test_schema_cleaning_inlines_refs_and_keeps_property_names_that_look_like_keywords() -> None:
    schema = {
        "type": "object",
        "properties": {
            "additionalProperties": {"type": "string"},
            "kind": {"const": "x"},
            "either": {"oneOf": [{"type": "string"}, {"$ref": "#/definitions/N"}]},
        },
        "definitions": {"N": {"type": "integer", "examples": [1]}},
    }
    assert gemini_schema(schema, schema["definitions"]) == {
        "type": "object",
        "properties": {
            "additionalProperties": {"type": "string"},
            "kind": {"enum": ["x"]},
            "either": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        },
    }


def test_a_cyclic_ref_is_cut_instead_of_recursing_forever() -> None:
    schema = {"$ref": "#/$defs/Node"}
    defs = {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}}
    cleaned = gemini_schema(schema, defs)
    assert cleaned["type"] == "object"


def test_a_json_object_tool_result_is_the_function_response() -> None:
    messages = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "tool_calls": [_call("c1", "get_weather", '{"city":"Oslo"}')]},
        {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": '{"t": 3}'}]},
    ]
    contents = sent({"messages": messages})["contents"]
    assert contents[1] == {
        "role": "model",
        "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}],
    }
    assert contents[2] == {
        "role": "user",
        "parts": [{"functionResponse": {"name": "get_weather", "response": {"t": 3}}}],
    }


def test_a_tool_result_for_an_unknown_call_id_is_a_400_naming_it() -> None:
    messages = [*USER, {"role": "tool", "tool_call_id": "nope", "content": "x"}]
    with pytest.raises(InvalidRequest) as caught:
        sent({"messages": messages})
    assert caught.value.param == "messages[1].tool_call_id"


def test_tool_call_arguments_that_are_not_a_json_object_are_a_400() -> None:
    messages = [*USER, {"role": "assistant", "tool_calls": [_call("c1", "f", "[1]")]}]
    with pytest.raises(InvalidRequest) as caught:
        sent({"messages": messages})
    assert caught.value.param == "messages[1].tool_calls[0].function.arguments"


def test_an_unsupported_content_part_is_a_400_naming_it() -> None:
    content = [{"type": "input_video", "input_video": {}}]
    with pytest.raises(InvalidRequest) as caught:
        sent({"messages": [{"role": "user", "content": content}]})
    assert caught.value.param == "messages[0].content[0].type"


def test_an_image_url_with_an_unknown_extension_defaults_to_jpeg() -> None:
    content = [{"type": "image_url", "image_url": {"url": "https://example.com/render?id=3"}}]
    parts = sent({"messages": [{"role": "user", "content": content}]})["contents"][0]["parts"]
    assert parts == [
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/render?id=3"}}
    ]


@pytest.mark.parametrize(
    ("param", "value"),
    [("logprobs", True), ("logit_bias", {"1": 2}), ("parallel_tool_calls", False)],
)
def test_a_parameter_gemini_cannot_honour_is_a_400_naming_it(param: str, value: Any) -> None:
    with pytest.raises(InvalidRequest) as caught:
        sent({"messages": USER, param: value})
    assert caught.value.param == param
    assert caught.value.error_code == "unsupported_parameter"


def test_drop_params_drops_what_gemini_cannot_honour_and_logs_it_at_debug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG, logger="proxyapi.providers.google"):
        body = sent({"messages": USER, "logprobs": True, "reasoning_effort": "extreme"}, LENIENT)
    assert body == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    assert "logprobs" in caplog.text and "reasoning_effort" in caplog.text
    assert "AIza-secret" not in caplog.text


def test_user_is_dropped_silently() -> None:
    assert "u-1" not in json.dumps(sent({"messages": USER, "user": "u-1"}))


# --- responses -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "response_text",
        "response_tool_calls",
        "response_thinking",
        "response_blocked_prompt",
        "response_max_tokens",
    ],
)
def test_responses_become_the_recorded_openai_completions(name: str) -> None:
    body = completion(f"{name}.json")
    validate("CreateChatCompletionResponse", body)
    body["created"] = 0
    assert body == fixture(f"{name}.expected.json")


def test_the_completion_carries_the_model_the_client_asked_for_and_a_stable_id() -> None:
    first = completion("response_text.json", model="my-alias")
    second = completion("response_text.json", model="my-alias")
    assert first["model"] == "my-alias"
    assert first["id"] == second["id"] == "chatcmpl-mZ1XaPKcB8Tx7M8P1ZSo2Ac"


def test_tool_call_ids_are_stable_and_carry_the_thought_signature() -> None:
    calls = completion("response_tool_calls.json")["choices"][0]["message"]["tool_calls"]
    again = completion("response_tool_calls.json")["choices"][0]["message"]["tool_calls"]
    assert [c["id"] for c in calls] == [c["id"] for c in again]
    assert calls[0]["id"].endswith(SIGNATURE_MARK + "CiIBVKhc7r0signature==")
    assert SIGNATURE_MARK not in calls[1]["id"]


def test_the_thought_signature_goes_back_to_gemini_with_its_function_call() -> None:
    """A Gemini 3 conversation survives the round trip through OpenAI's shape."""
    message = completion("response_tool_calls.json")["choices"][0]["message"]
    history = [
        *USER,
        {"role": "assistant", "content": None, "tool_calls": message["tool_calls"]},
        *(
            {"role": "tool", "tool_call_id": call["id"], "content": "sunny"}
            for call in message["tool_calls"]
        ),
    ]
    contents = sent({"messages": history})["contents"]
    assert contents[1]["parts"][0]["thoughtSignature"] == "CiIBVKhc7r0signature=="
    assert "thoughtSignature" not in contents[1]["parts"][1]
    assert [p["functionResponse"]["name"] for p in contents[2]["parts"]] == ["get_weather"] * 2


def test_a_function_call_id_sent_by_gemini_is_kept() -> None:
    raw = {
        "candidates": [
            {
                "content": {"parts": [{"functionCall": {"id": "fc-7", "name": "f", "args": {}}}]},
                "finishReason": "STOP",
            }
        ]
    }
    body = orjson.loads(ADAPTER.parse_chat(200, orjson.dumps(raw), {"model": "m"}))
    assert body["choices"][0]["message"]["tool_calls"][0]["id"] == "fc-7"


# --- streams -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("stream_text", {"include_usage": True}),
        ("stream_tool_call", None),
        ("stream_error", None),
        ("stream_blocked_prompt", {"include_usage": True}),
    ],
)
def test_streams_become_the_recorded_openai_chunks(name: str, options: Any) -> None:
    request: dict[str, Any] = {"model": "gemini-2.5-flash", "stream": True}
    if options:
        request["stream_options"] = options
    lines = as_lines(translate(f"{name}.sse", request))
    assert lines == expected_lines(f"{name}.expected.jsonl")
    for line in lines:
        if isinstance(line, dict) and "error" not in line:
            validate("CreateChatCompletionStreamResponse", line)


def test_a_mid_stream_error_ends_the_stream_without_done() -> None:
    lines = as_lines(translate("stream_error.sse", {"model": "m", "stream": True}))
    assert lines[-1]["error"]["type"] == "server_error"
    assert "[DONE]" not in lines


def test_the_streamed_text_equals_the_non_streamed_text() -> None:
    lines = as_lines(translate("stream_text.sse", {"model": "m"}))
    text = "".join(
        line["choices"][0]["delta"].get("content", "") for line in lines if isinstance(line, dict)
    )
    whole = completion("response_text.json")["choices"][0]["message"]["content"]
    assert text == whole


def test_a_stream_that_ends_without_a_finish_reason_is_still_finished() -> None:
    translator = ADAPTER.stream_translator({"model": "m"})
    decoder = SSEDecoder()
    chunk = {"candidates": [{"content": {"parts": [{"text": "Hi"}]}}], "responseId": "r1"}
    out: list[bytes] = []
    for event in decoder.feed(b"data: " + orjson.dumps(chunk) + b"\n\n"):
        out.extend(translator.feed(event))
    lines = as_lines(out + translator.close())
    assert lines[-2]["choices"][0]["finish_reason"] == "stop"
    assert lines[-1] == "[DONE]"
    assert translator.close() == []


def test_a_stream_chunk_that_is_not_json_is_an_upstream_error() -> None:
    translator = ADAPTER.stream_translator({"model": "m"})
    decoder = SSEDecoder()
    with pytest.raises(UpstreamStatusError):
        for event in decoder.feed(b"data: {oops\n\n"):
            translator.feed(event)


# --- embeddings ----------------------------------------------------------------------


def test_one_input_goes_to_embed_content_with_output_dimensionality() -> None:
    body = {"model": "gemini-embedding-001", "input": "hello", "dimensions": 3, "user": "u"}
    request = ADAPTER.build_embeddings(body, DEPLOYMENT)
    assert request.url == f"{BASE}/v1beta/models/gemini-embedding-001:embedContent"
    assert request.headers["x-goog-api-key"] == "AIza-secret"
    assert request.body is not None
    assert orjson.loads(request.body) == {
        "content": {"parts": [{"text": "hello"}]},
        "outputDimensionality": 3,
    }


def test_a_list_of_inputs_goes_to_batch_embed_contents() -> None:
    body = {"model": "gemini-embedding-001", "input": ["a", "b"]}
    request = ADAPTER.build_embeddings(body, DEPLOYMENT)
    assert request.url == f"{BASE}/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert request.body is not None
    assert orjson.loads(request.body) == {
        "requests": [
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "a"}]}},
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "b"}]}},
        ]
    }


def test_token_inputs_cannot_be_embedded_by_gemini() -> None:
    with pytest.raises(InvalidRequest) as caught:
        ADAPTER.build_embeddings({"model": "e", "input": [[1, 2, 3]]}, DEPLOYMENT)
    assert caught.value.param == "input"


def test_embeddings_come_back_in_openai_shape_with_estimated_usage() -> None:
    request = {"model": "gemini-embedding-001", "input": ["abcdefgh", "abc"]}
    raw = (FIXTURES / "batch_embed_contents.json").read_bytes()
    body = orjson.loads(ADAPTER.parse_embeddings(200, raw, request))
    validate("CreateEmbeddingResponse", body)
    assert [item["embedding"] for item in body["data"]] == [[0.25, -0.5, 0.125], [1.0, 0.0, -1.0]]
    assert [item["index"] for item in body["data"]] == [0, 1]
    assert body["usage"] == {"prompt_tokens": 3, "total_tokens": 3}


def test_base64_embeddings_are_little_endian_float32() -> None:
    request = {"model": "e", "input": "hello", "encoding_format": "base64"}
    raw = (FIXTURES / "embed_content.json").read_bytes()
    body = orjson.loads(ADAPTER.parse_embeddings(200, raw, request))
    decoded = struct.unpack("<3f", base64.b64decode(body["data"][0]["embedding"]))
    assert decoded == (0.25, -0.5, 0.125)


# --- models and errors ---------------------------------------------------------------


def test_models_are_listed_without_their_models_prefix() -> None:
    request = ADAPTER.build_models(DEPLOYMENT)
    assert request is not None and request.method == "GET"
    assert request.url.startswith(f"{BASE}/v1beta/models")
    assert request.headers["x-goog-api-key"] == "AIza-secret"
    names = ADAPTER.parse_models((FIXTURES / "models.json").read_bytes())
    assert names == ["gemini-2.5-flash", "gemini-embedding-001"]


def classify(name: str, status: int, headers: dict[str, str] | None = None) -> Any:
    return ADAPTER.classify_error(status, headers or {}, (FIXTURES / name).read_bytes(), "gemini")


def test_429_resource_exhausted_is_retryable_with_the_retry_info_delay() -> None:
    error = classify("error_rate_limited.json", 429)
    assert isinstance(error, UpstreamRateLimited) and error.is_retryable
    assert error.retry_after == 19.0
    assert error.headers() == {"Retry-After": "19"}


def test_an_invalid_key_is_an_auth_error_although_google_answers_400() -> None:
    error = classify("error_api_key_invalid.json", 400)
    assert isinstance(error, UpstreamAuthError) and error.is_retryable
    assert "API key" not in error.message


def test_403_permission_denied_is_an_auth_error() -> None:
    assert isinstance(classify("error_permission_denied.json", 403), UpstreamAuthError)


def test_the_input_token_limit_error_is_context_length_exceeded() -> None:
    error = classify("error_context_length.json", 400)
    assert isinstance(error, ContextLengthExceeded) and not error.is_retryable
    assert error.to_dict()["error"]["code"] == "context_length_exceeded"
    assert "1048576" in error.message


def test_503_unavailable_is_retryable_with_its_status() -> None:
    error = classify("error_overloaded.json", 503)
    assert isinstance(error, UpstreamStatusError) and error.is_retryable
    assert error.http_status == 503
    assert error.to_dict()["error"]["type"] == "server_error"


def test_other_400s_pass_through_and_are_not_retried() -> None:
    error = classify("error_invalid_argument.json", 400)
    assert isinstance(error, UpstreamStatusError) and not error.is_retryable
    assert error.to_dict()["error"] == {
        "message": "* GenerateContentRequest.generation_config.max_output_tokens: "
        "max_output_tokens must be positive.\n",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_argument",
    }


def test_an_error_body_that_is_not_json_still_classifies() -> None:
    error = ADAPTER.classify_error(502, {}, b"<html>Bad Gateway</html>", "gemini")
    assert isinstance(error, UpstreamStatusError) and error.is_retryable


def _call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
