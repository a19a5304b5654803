"""The official openai SDK -> gateway (type cohere) -> the simulator's Cohere v2 format."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import orjson
import pytest
from processes import SIM_KEY, Running, serving

from openai_schema import validate

pytestmark = pytest.mark.integration

Stats = Callable[[], dict[str, Any]]
CHAT = "command-a-03-2025"
EMBED = "embed-v4.0"
WEATHER_TOOL: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def cohere_provider(
    name: str, sim_url: str, models: list[str], priority: int, **extra: Any
) -> dict[str, Any]:
    provider: dict[str, Any] = {
        "name": name,
        "type": "cohere",
        "base_url": sim_url,
        "api_key_env": "SIM_KEY",
        "models": models,
        "priority": priority,
    }
    provider.update(extra)
    return provider


def cohere_config(sim_url: str) -> dict[str, Any]:
    def failing(status: str) -> dict[str, str]:
        return {"x-sim-error-status": status, "x-sim-error-rate": "1"}

    return {
        "server": {"client_timeout": 20},
        "providers": [
            cohere_provider("cohere", sim_url, [CHAT, EMBED], 1),
            cohere_provider("cohere-lenient", sim_url, ["lenient"], 2, drop_params=True),
            cohere_provider("cohere-busy", sim_url, ["busy"], 3, headers=failing("429")),
            cohere_provider(
                "cohere-tiny", sim_url, ["tiny"], 4, headers={"x-sim-context-window": "64"}
            ),
            cohere_provider("cohere-down", sim_url, ["down"], 5, headers=failing("500")),
            cohere_provider("cohere-badkey", sim_url, ["badkey"], 6, headers=failing("401")),
            cohere_provider("cohere-picky", sim_url, ["picky"], 7, headers=failing("422")),
            cohere_provider(
                "cohere-cut", sim_url, ["cut"], 8, headers={"x-sim-error-after-chunks": "3"}
            ),
        ],
        "logging": {"level": "WARNING"},
        # These tests are about translation and fallback: no retries, no breakers.
        "http_client": {"retry_attempts": 0},
        "circuit_breaker": {"enabled": False},
    }


@pytest.fixture(scope="module")
def gateway(simulator: Running, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with serving(
        cohere_config(simulator.url), tmp_path_factory.mktemp("cohere-gateway"), SIM_KEY=SIM_KEY
    ) as running:
        yield running


@pytest.fixture()
def sdk(gateway: Running) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-client", max_retries=0) as client:
        yield client


def last_body(sim_stats: Stats) -> dict[str, Any]:
    body: dict[str, Any] = sim_stats()["last_request"]["body"]
    return body


def raw_stream(gateway: Running, body: dict[str, Any]) -> list[Any]:
    """The gateway's SSE payloads, parsed, each chunk checked against OpenAI's schema."""
    with httpx.stream(
        "POST", gateway.url + "/v1/chat/completions", json={**body, "stream": True}, timeout=30
    ) as response:
        assert response.status_code == 200
        text = response.read().decode()
    events: list[Any] = []
    for block in filter(None, text.split("\n\n")):
        data = block.removeprefix("data: ")
        if data == "[DONE]":
            events.append(data)
            continue
        chunk = orjson.loads(data)
        validate(
            "ErrorResponse" if "error" in chunk else "CreateChatCompletionStreamResponse", chunk
        )
        events.append(chunk)
    return events


def test_plain_chat_is_translated_both_ways(sdk: openai.OpenAI, sim_stats: Stats) -> None:
    completion = sdk.chat.completions.create(
        model=CHAT, messages=[{"role": "user", "content": "Hello Cohere"}]
    )
    validate("CreateChatCompletionResponse", completion.model_dump(exclude_unset=True))
    assert completion.id.startswith("chatcmpl-") and completion.model == CHAT
    assert "Hello Cohere" in (completion.choices[0].message.content or "")
    assert completion.usage is not None and completion.usage.total_tokens > 0
    sent = sim_stats()["last_request"]
    assert sent["path"] == "/v2/chat"
    headers = {name.lower(): value for name, value in sent["headers"].items()}
    assert headers["authorization"] == f"Bearer {SIM_KEY}"
    assert sent["body"] == {
        "model": CHAT,
        "messages": [{"role": "user", "content": "Hello Cohere"}],
    }


def test_a_system_prompt_and_multi_turn_history_become_cohere_messages(
    sdk: openai.OpenAI, sim_stats: Stats
) -> None:
    messages: list[Any] = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Hello Ada."},
        {"role": "user", "content": "What is my name?"},
    ]
    completion = sdk.chat.completions.create(model=CHAT, messages=messages, max_tokens=50)
    assert "What is my name?" in (completion.choices[0].message.content or "")
    sent = last_body(sim_stats)
    assert sent["messages"] == messages and sent["max_tokens"] == 50


def test_image_input_becomes_a_cohere_image_url_part(sdk: openai.OpenAI, sim_stats: Stats) -> None:
    content: list[Any] = [
        {"type": "text", "text": "Describe this"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
    ]
    completion = sdk.chat.completions.create(
        model=CHAT, messages=[{"role": "user", "content": content}]
    )
    assert completion.choices[0].message.content
    assert last_body(sim_stats)["messages"][0]["content"] == content


def test_tool_call_round_trip(sdk: openai.OpenAI, sim_stats: Stats) -> None:
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = sdk.chat.completions.create(model=CHAT, messages=messages, tools=WEATHER_TOOL)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = (choice.message.tool_calls or [])[0]
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert '"city"' in call.function.arguments  # type: ignore[union-attr]
    assert choice.message.model_extra is not None
    assert choice.message.model_extra["reasoning_content"]  # Cohere's tool_plan
    messages.append(choice.message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 21}'})
    final = sdk.chat.completions.create(model=CHAT, messages=messages, tools=WEATHER_TOOL)
    assert final.choices[0].finish_reason == "stop"
    assert "The tool returned" in (final.choices[0].message.content or "")
    sent = last_body(sim_stats)["messages"]
    assert sent[1]["tool_plan"] and sent[1]["tool_calls"][0]["id"] == call.id
    assert sent[2] == {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 21}'}


def test_streamed_tool_call_round_trip(gateway: Running, sdk: openai.OpenAI) -> None:
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Oslo?"}]
    body = {"model": CHAT, "messages": messages, "tools": WEATHER_TOOL, "tool_choice": "required"}
    chunks = raw_stream(gateway, body)
    assert chunks[-1] == "[DONE]"
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks[:-1]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert len({(chunk["id"], chunk["created"]) for chunk in chunks[:-1]}) == 1
    calls = [c for delta in deltas for c in delta.get("tool_calls") or ()]
    assert {c["index"] for c in calls} == {0} and calls[0]["id"]
    arguments = "".join(c["function"].get("arguments", "") for c in calls)
    assert orjson.loads(arguments).keys() == {"city"}
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    messages.append(
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": calls[0]["id"],
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": arguments},
                }
            ],
        }
    )
    messages.append({"role": "tool", "tool_call_id": calls[0]["id"], "content": "snow"})
    stream = sdk.chat.completions.create(
        model=CHAT, messages=messages, tools=WEATHER_TOOL, stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text.startswith("The tool returned: snow")


def test_a_stream_with_include_usage_ends_with_one_usage_chunk(gateway: Running) -> None:
    body = {
        "model": CHAT,
        "messages": [{"role": "user", "content": "Count tokens"}],
        "stream_options": {"include_usage": True},
    }
    chunks = raw_stream(gateway, body)
    assert chunks[-1] == "[DONE]"
    assert chunks[-2]["choices"] == [] and chunks[-2]["usage"]["completion_tokens"] > 0
    assert all(chunk["usage"] is None for chunk in chunks[:-2])


@pytest.mark.parametrize("encoding_format", ["float", "base64"])
def test_embeddings_in_both_encodings(
    gateway: Running, sim_stats: Stats, encoding_format: str
) -> None:
    body = {"model": EMBED, "input": ["a", "b"], "encoding_format": encoding_format}
    response = httpx.post(gateway.url + "/v1/embeddings", json=body, timeout=30)
    assert response.status_code == 200
    result = response.json()
    if encoding_format == "float":  # OpenAI's schema types the embedding as floats only
        validate("CreateEmbeddingResponse", result)
    first = result["data"][0]["embedding"]
    length = len(base64.b64decode(first)) // 4 if encoding_format == "base64" else len(first)
    assert length == 1536 and result["model"] == EMBED
    sent = sim_stats()["last_request"]
    assert sent["path"] == "/v2/embed"
    assert sent["body"]["texts"] == ["a", "b"] and sent["body"]["input_type"] == "search_document"


def test_the_sdks_default_embeddings_call_decodes(sdk: openai.OpenAI) -> None:
    result = sdk.embeddings.create(model=EMBED, input="hello", dimensions=256)
    assert len(result.data[0].embedding) == 256


def test_token_array_embedding_input_is_a_400_naming_input(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        sdk.embeddings.create(model=EMBED, input=[[1, 2, 3]])
    assert raised.value.param == "input"


def test_a_parameter_cohere_cannot_honour_is_a_400_naming_it(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        sdk.chat.completions.create(model=CHAT, messages=[{"role": "user", "content": "x"}], n=2)
    assert raised.value.param == "n"


def test_with_drop_params_the_parameter_is_dropped(sdk: openai.OpenAI, sim_stats: Stats) -> None:
    completion = sdk.chat.completions.create(
        model="lenient", messages=[{"role": "user", "content": "x"}], n=2, logit_bias={"1": 1}
    )
    assert len(completion.choices) == 1
    assert "n" not in last_body(sim_stats) and "logit_bias" not in last_body(sim_stats)


def test_a_429_is_a_rate_limit_error_with_retry_after(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as raised:
        sdk.chat.completions.create(model="busy", messages=[{"role": "user", "content": "x"}])
    assert raised.value.response.headers.get("retry-after")
    assert "Trial key" in raised.value.message


def test_too_many_tokens_is_context_length_exceeded(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        sdk.chat.completions.create(
            model="tiny", messages=[{"role": "user", "content": "word " * 200}]
        )
    assert raised.value.code == "context_length_exceeded"
    assert "too many tokens" in raised.value.message


def test_a_422_keeps_its_status(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.UnprocessableEntityError):
        sdk.chat.completions.create(model="picky", messages=[{"role": "user", "content": "x"}])


@pytest.mark.parametrize("model", ["down", "badkey"])
def test_server_and_key_failures_are_a_bad_gateway_without_coheres_text(
    sdk: openai.OpenAI, model: str
) -> None:
    with pytest.raises(openai.InternalServerError) as raised:
        sdk.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
    assert raised.value.status_code == 502
    assert "invalid api token" not in raised.value.message


def test_a_stream_failing_midway_ends_with_an_error_event(gateway: Running) -> None:
    chunks = raw_stream(gateway, {"model": "cut", "messages": [{"role": "user", "content": "x"}]})
    assert chunks[-1]["error"]["type"] == "server_error"
    assert "[DONE]" not in chunks


def test_coheres_models_are_discovered_from_v1_models(gateway: Running) -> None:
    listed = httpx.get(gateway.url + "/v1/models", timeout=30).json()
    owners = {entry["id"]: entry["owned_by"] for entry in listed["data"]}
    # gpt-3.5-turbo is configured nowhere: only Cohere's model list reports it.
    assert owners["gpt-3.5-turbo"].startswith("cohere")
