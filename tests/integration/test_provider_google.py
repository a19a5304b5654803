"""openai SDK -> gateway -> simulator speaking Gemini: the client cannot tell it is Gemini."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml
from processes import Running, base_env, free_port, start_proxyapi, stop

from openai_schema import validate

pytestmark = pytest.mark.integration

GOOGLE_KEY = "AIza-simulated-google-key"
PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4"
    "DwABBAEAwS2OUAAAAABJRU5ErkJggg=="
)
WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "strict": True,
        "parameters": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def google(name: str, url: str, models: list[str], priority: int, **extra: Any) -> dict[str, Any]:
    provider = {
        "name": name,
        "type": "google",
        "base_url": url,
        "api_key_env": "GOOGLE_SIM_KEY",
        "models": models,
        "priority": priority,
    }
    provider.update(extra)
    return provider


def gateway_config(url: str) -> dict[str, Any]:
    models = ["gemini-2.5-flash", "gemini-3-pro-preview", "gemini-embedding-001"]
    return {
        "server": {"client_timeout": 20},
        "providers": [
            google("gemini", url, models, 1),
            google(
                "gemini-busy",
                url,
                ["busy-gemini"],
                2,
                headers={"x-sim-error-status": "429", "x-sim-retry-after": "3"},
            ),
            google(
                "gemini-down",
                url,
                ["down-gemini", "rescued-gemini"],
                3,
                headers={"x-sim-error-status": "503"},
            ),
            google("gemini-rescue", url, ["rescued-gemini"], 4),
            google("gemini-badkey", url, ["badkey-gemini"], 5, api_key_env="GOOGLE_WRONG_KEY"),
            google("gemini-tiny", url, ["tiny-gemini"], 6, headers={"x-sim-context-window": "16"}),
            google(
                "gemini-flaky", url, ["flaky-gemini"], 7, headers={"x-sim-error-after-chunks": "2"}
            ),
        ],
        "logging": {"level": "WARNING"},
        # These tests are about translation and fallback: no retries, no breakers.
        "http_client": {"retry_attempts": 0},
        "circuit_breaker": {"enabled": False},
    }


@pytest.fixture(scope="module")
def google_simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """A simulator that, like Google, refuses requests without the right x-goog-api-key."""
    settings = tmp_path_factory.mktemp("google-sim") / "simulator.yaml"
    settings.write_text(yaml.safe_dump({"api_key": GOOGLE_KEY}))
    port = free_port()
    running = start_proxyapi(
        ["simulate", "--port", str(port), "--config", str(settings)],
        base_env(),
        "/_sim/stats",
        port,
    )
    yield running
    stop(running.process)


@pytest.fixture(scope="module")
def google_gateway(
    google_simulator: Running, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    config_path: Path = tmp_path_factory.mktemp("google-gateway") / "config.yaml"
    config_path.write_text(yaml.safe_dump(gateway_config(google_simulator.url)))
    port = free_port()
    env = base_env(GOOGLE_SIM_KEY=GOOGLE_KEY, GOOGLE_WRONG_KEY="AIza-not-the-right-key")
    running = start_proxyapi(
        ["serve", "--config", str(config_path), "--port", str(port)], env, "/health/ready", port
    )
    yield running
    stop(running.process)


@pytest.fixture()
def sdk(google_gateway: Running) -> Iterator[openai.OpenAI]:
    url = google_gateway.url + "/v1"
    with openai.OpenAI(base_url=url, api_key="sk-client", max_retries=0) as client:
        yield client


def last_upstream_request(simulator: Running) -> dict[str, Any]:
    request: dict[str, Any] = httpx.get(simulator.url + "/_sim/stats").json()["last_request"]
    return request


def chat(sdk: openai.OpenAI, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
    """The parsed completion and its raw JSON, validated against OpenAI's schema."""
    raw = sdk.chat.completions.with_raw_response.create(**kwargs)
    body: dict[str, Any] = raw.http_response.json()
    validate("CreateChatCompletionResponse", body)
    return raw.parse(), body


def stream(sdk: openai.OpenAI, **kwargs: Any) -> list[Any]:
    """The stream's chunks, each validated against OpenAI's chunk schema."""
    chunks = list(sdk.chat.completions.create(stream=True, **kwargs))
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk.model_dump(exclude_unset=True))
    return chunks


def test_a_plain_chat_answers_with_the_model_name_the_client_asked_for(
    sdk: openai.OpenAI, google_simulator: Running
) -> None:
    completion, _ = chat(
        sdk, model="gemini-2.5-flash", messages=[{"role": "user", "content": "Hello Gemini"}]
    )
    assert completion.model == "gemini-2.5-flash"
    assert completion.choices[0].message.content.startswith("Simulated reply to: Hello Gemini")
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )
    upstream = last_upstream_request(google_simulator)
    assert upstream["path"] == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert upstream["headers"]["x-goog-api-key"] == GOOGLE_KEY


def test_the_system_prompt_becomes_the_system_instruction(
    sdk: openai.OpenAI, google_simulator: Running
) -> None:
    messages: Any = [
        {"role": "system", "content": "You are a pirate."},
        {"role": "user", "content": "Ahoy"},
    ]
    completion, _ = chat(sdk, model="gemini-2.5-flash", messages=messages)
    assert completion.choices[0].message.content
    body = last_upstream_request(google_simulator)["body"]
    assert body["systemInstruction"] == {"parts": [{"text": "You are a pirate."}]}
    assert body["contents"] == [{"role": "user", "parts": [{"text": "Ahoy"}]}]


def test_a_multi_turn_conversation_alternates_user_and_model(
    sdk: openai.OpenAI, google_simulator: Running
) -> None:
    messages: Any = [
        {"role": "user", "content": "First"},
        {"role": "assistant", "content": "One"},
        {"role": "user", "content": "Second"},
    ]
    completion, _ = chat(sdk, model="gemini-2.5-flash", messages=messages, max_tokens=4)
    assert completion.choices[0].finish_reason == "length"
    body = last_upstream_request(google_simulator)["body"]
    assert [content["role"] for content in body["contents"]] == ["user", "model", "user"]
    assert body["generationConfig"] == {"maxOutputTokens": 4}


def test_an_image_reaches_gemini_as_inline_data(sdk: openai.OpenAI) -> None:
    content: Any = [
        {"type": "text", "text": "Describe"},
        {"type": "image_url", "image_url": {"url": PNG}},
    ]
    completion, _ = chat(
        sdk, model="gemini-2.5-flash", messages=[{"role": "user", "content": content}]
    )
    assert "[image/png]" in completion.choices[0].message.content


def tool_round_trip(sdk: openai.OpenAI, model: str) -> tuple[Any, Any]:
    ask: Any = {"role": "user", "content": "What is the weather in Paris?"}
    first, _ = chat(sdk, model=model, messages=[ask], tools=[WEATHER_TOOL])
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    call = message.tool_calls[0]
    history: Any = [
        ask,
        message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"sky": "clear"}'},
    ]
    final, _ = chat(sdk, model=model, messages=history, tools=[WEATHER_TOOL])
    return call, final


def test_a_tool_call_round_trip_ends_with_an_answer(sdk: openai.OpenAI) -> None:
    call, final = tool_round_trip(sdk, "gemini-2.5-flash")
    assert call.type == "function" and call.function.name == "get_weather"
    assert call.function.arguments == '{"city":"example"}'
    assert final.choices[0].finish_reason == "stop"
    assert final.choices[0].message.content.startswith('The tool returned: {"sky":"clear"}')


def test_gemini_3_thought_signatures_survive_the_round_trip(sdk: openai.OpenAI) -> None:
    """The simulator refuses, as Gemini 3 does, a function call sent back unsigned."""
    call, final = tool_round_trip(sdk, "gemini-3-pro-preview")
    assert "__thought__" in call.id
    assert final.choices[0].message.content.startswith("The tool returned")


def test_a_streamed_chat_matches_the_non_streamed_text_and_ends_with_usage(
    sdk: openai.OpenAI,
) -> None:
    messages: Any = [{"role": "user", "content": "Stream to me"}]
    whole, _ = chat(sdk, model="gemini-2.5-flash", messages=messages)
    chunks = stream(
        sdk, model="gemini-2.5-flash", messages=messages, stream_options={"include_usage": True}
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == whole.choices[0].message.content
    assert len({chunk.id for chunk in chunks}) == 1
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0


def test_a_streamed_tool_call_round_trip(sdk: openai.OpenAI) -> None:
    ask: Any = {"role": "user", "content": "Weather in Paris, please"}
    chunks = stream(sdk, model="gemini-3-pro-preview", messages=[ask], tools=[WEATHER_TOOL])
    deltas = [
        call
        for chunk in chunks
        if chunk.choices
        for call in chunk.choices[0].delta.tool_calls or []
    ]
    assert deltas[0].index == 0 and deltas[0].id and deltas[0].function.name == "get_weather"
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    arguments = "".join(delta.function.arguments or "" for delta in deltas)
    history: Any = [
        ask,
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": deltas[0].id,
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": deltas[0].id, "content": "sunny"},
    ]
    final = stream(sdk, model="gemini-3-pro-preview", messages=history, tools=[WEATHER_TOOL])
    text = "".join(chunk.choices[0].delta.content or "" for chunk in final if chunk.choices)
    assert text.startswith("The tool returned: ")


def test_reasoning_effort_brings_back_reasoning_content(sdk: openai.OpenAI) -> None:
    _, body = chat(
        sdk,
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "Think it over"}],
        reasoning_effort="low",
    )
    message = body["choices"][0]["message"]
    assert message["reasoning_content"].startswith("Thinking about: Think it over")
    assert body["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0


def test_float_embeddings_come_back_in_openai_shape(
    sdk: openai.OpenAI, google_simulator: Running
) -> None:
    response = sdk.embeddings.create(
        model="gemini-embedding-001", input=["one", "two"], dimensions=16, encoding_format="float"
    )
    validate("CreateEmbeddingResponse", response.model_dump())
    assert [len(item.embedding) for item in response.data] == [16, 16]
    assert response.usage.prompt_tokens == 2
    path = last_upstream_request(google_simulator)["path"]
    assert path == "/v1beta/models/gemini-embedding-001:batchEmbedContents"


def test_base64_embeddings_decode_to_the_float_values(sdk: openai.OpenAI) -> None:
    floats = sdk.embeddings.create(
        model="gemini-embedding-001", input="same text", dimensions=8, encoding_format="float"
    )
    raw = sdk.embeddings.with_raw_response.create(
        model="gemini-embedding-001", input="same text", dimensions=8, encoding_format="base64"
    )
    encoded = raw.http_response.json()["data"][0]["embedding"]
    decoded = struct.unpack("<8f", base64.b64decode(encoded))
    assert list(decoded) == floats.data[0].embedding


def test_429_is_a_rate_limit_with_googles_retry_delay(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        sdk.chat.completions.create(
            model="busy-gemini", messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.response.headers["retry-after"] == "3"
    validate("ErrorResponse", caught.value.response.json())


def test_503_falls_back_to_the_next_gemini_provider(sdk: openai.OpenAI) -> None:
    completion, _ = chat(sdk, model="rescued-gemini", messages=[{"role": "user", "content": "x"}])
    assert completion.choices[0].message.content


def test_503_with_nowhere_to_fall_back_is_a_502(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.chat.completions.create(
            model="down-gemini", messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.status_code == 502
    body = caught.value.response.json()
    validate("ErrorResponse", body)
    assert "overloaded" in body["error"]["message"]


def test_a_rejected_provider_key_is_a_502_that_does_not_leak_the_key(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.chat.completions.create(
            model="badkey-gemini", messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.status_code == 502
    assert "AIza" not in caught.value.response.text
    assert "credentials" in caught.value.response.json()["error"]["message"]


def test_the_input_token_limit_is_context_length_exceeded(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(
            model="tiny-gemini", messages=[{"role": "user", "content": "word " * 100}]
        )
    body = caught.value.response.json()
    validate("ErrorResponse", body)
    assert body["error"]["code"] == "context_length_exceeded"
    assert "input token count" in body["error"]["message"]


def test_a_mid_stream_failure_ends_with_an_openai_error_event(google_gateway: Running) -> None:
    """Raw HTTP: the SDK would turn the error event into an exception and hide its shape."""
    body = {
        "model": "flaky-gemini",
        "messages": [{"role": "user", "content": "fail midway"}],
        "stream": True,
    }
    with httpx.stream(
        "POST",
        google_gateway.url + "/v1/chat/completions",
        json=body,
        headers={"Authorization": "Bearer sk-client"},
    ) as response:
        assert response.status_code == 200
        events = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert b"[DONE]" not in "".join(events).encode()
    error = json.loads(events[-1][len("data: ") :])
    validate("ErrorResponse", error)
    assert error["error"]["type"] == "server_error"
    first = json.loads(events[0][len("data: ") :])
    validate("CreateChatCompletionStreamResponse", first)
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
