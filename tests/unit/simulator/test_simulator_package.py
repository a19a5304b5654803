"""The simulator's public names, and the schema helper the whole suite relies on."""

from __future__ import annotations

import jsonschema
import pytest

import proxyapi.simulator
from openai_schema import validate


def test_public_api_is_pinned() -> None:
    assert sorted(proxyapi.simulator.__all__) == [
        "HEADER_KNOBS",
        "RunningSimulator",
        "SimulatorSettings",
        "build_app",
        "load_settings",
        "run",
        "start_simulator",
    ]


def test_schema_helper_rejects_a_wrong_body() -> None:
    with pytest.raises(jsonschema.ValidationError):
        validate("CreateChatCompletionResponse", {"object": "chat.completion", "choices": []})
    with pytest.raises(jsonschema.ValidationError):
        validate("ErrorResponse", {"error": {"message": "m", "type": "t", "param": None}})


def test_schema_helper_reads_nullable_as_null_allowed() -> None:
    chunk = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": None}],
        "usage": None,
    }
    validate("CreateChatCompletionStreamResponse", chunk)
    with pytest.raises(jsonschema.ValidationError):
        validate("CreateChatCompletionStreamResponse", {**chunk, "usage": "none"})


def test_unknown_schema_name_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        validate("NoSuchSchema", {})
