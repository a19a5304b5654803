"""The official openai SDK -> gateway (type azure_openai) -> the simulator's Azure format."""

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
WEATHER_TOOL: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def azure_provider(
    name: str, sim_url: str, models: list[str], priority: int, **extra: Any
) -> dict[str, Any]:
    provider: dict[str, Any] = {
        "name": name,
        "type": "azure_openai",
        "base_url": sim_url,
        "api_key_env": "SIM_KEY",
        "models": models,
        "priority": priority,
        "retry_attempts": 0,
    }
    provider.update(extra)
    return provider


def azure_config(sim_url: str) -> dict[str, Any]:
    """The seed's config style (api-version as a header) plus a deployment mapping."""

    def failing(status: str) -> dict[str, str]:
        return {"x-sim-error-status": status, "x-sim-error-rate": "1"}

    return {
        "server": {"client_timeout": 20},
        "providers": [
            azure_provider(
                "azure",
                sim_url,
                ["gpt-4o-mini", "text-embedding-3-small"],
                1,
                headers={"api-version": "2024-06-01"},
                deployments={"gpt-4o-mini": "sim-mini", "text-embedding-3-small": "sim-embed"},
            ),
            azure_provider("azure-busy", sim_url, ["busy"], 2, headers=failing("429")),
            azure_provider("azure-filtered", sim_url, ["filtered"], 3, headers=failing("400")),
            azure_provider(
                "azure-tiny", sim_url, ["tiny"], 4, headers={"x-sim-context-window": "64"}
            ),
            azure_provider("azure-down", sim_url, ["down"], 5, headers=failing("503")),
            azure_provider("azure-badkey", sim_url, ["badkey"], 6, headers=failing("401")),
            azure_provider(
                "azure-cut", sim_url, ["cut"], 7, headers={"x-sim-error-after-chunks": "3"}
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
        azure_config(simulator.url), tmp_path_factory.mktemp("azure-gateway"), SIM_KEY=SIM_KEY
    ) as running:
        yield running


@pytest.fixture()
def sdk(gateway: Running) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-client", max_retries=0) as client:
        yield client


def last_request(sim_stats: Stats) -> dict[str, Any]:
    request: dict[str, Any] = sim_stats()["last_request"]
    return request


def raw_stream(gateway: Running, body: dict[str, Any]) -> list[Any]:
    """The gateway's SSE payloads, parsed, each chunk checked against OpenAI's schema."""
    events: list[Any] = []
    with httpx.stream(
        "POST", gateway.url + "/v1/chat/completions", json={**body, "stream": True}, timeout=30
    ) as response:
        assert response.status_code == 200
        text = response.read().decode()
    for block in filter(None, text.split("\n\n")):
        data = block.removeprefix("data: ")
        if data == "[DONE]":
            events.append(data)
            continue
        chunk = orjson.loads(data)
        if "error" not in chunk:
            validate("CreateChatCompletionStreamResponse", chunk)
        events.append(chunk)
    return events


def test_plain_chat_reaches_the_mapped_deployment_with_the_api_key_and_version(
    sdk: openai.OpenAI, sim_stats: Stats
) -> None:
    completion = sdk.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello Azure"}]
    )
    validate("CreateChatCompletionResponse", completion.model_dump(exclude_unset=True))
    assert completion.model == "gpt-4o-mini"  # not the deployment the simulator reported
    assert completion.choices[0].message.content
    sent = last_request(sim_stats)
    assert sent["path"] == "/openai/deployments/sim-mini/chat/completions"
    assert sent["query"] == "api-version=2024-06-01"
    headers = {name.lower(): value for name, value in sent["headers"].items()}
    assert headers["api-key"] == SIM_KEY
    assert "authorization" not in headers and "api-version" not in headers


def test_a_system_prompt_and_multi_turn_history_reach_azure_unchanged(
    sdk: openai.OpenAI, sim_stats: Stats
) -> None:
    messages: list[Any] = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Hello Ada."},
        {"role": "user", "content": "What is my name?"},
    ]
    completion = sdk.chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert "What is my name?" in (completion.choices[0].message.content or "")
    assert last_request(sim_stats)["body"]["messages"] == messages


def test_image_input_is_passed_as_openai_content_parts(
    sdk: openai.OpenAI, sim_stats: Stats
) -> None:
    content: list[Any] = [
        {"type": "text", "text": "Describe this"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]
    completion = sdk.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": content}]
    )
    assert completion.choices[0].message.content
    assert last_request(sim_stats)["body"]["messages"][0]["content"] == content


def test_tool_call_round_trip(sdk: openai.OpenAI) -> None:
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = sdk.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=WEATHER_TOOL)
    assert first.choices[0].finish_reason == "tool_calls"
    call = (first.choices[0].message.tool_calls or [])[0]
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 21}'})
    final = sdk.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=WEATHER_TOOL)
    assert final.choices[0].finish_reason == "stop"
    assert "The tool returned" in (final.choices[0].message.content or "")


def test_streamed_tool_call_round_trip_without_the_prompt_filter_chunk(
    gateway: Running, sdk: openai.OpenAI
) -> None:
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
    chunks = raw_stream(
        gateway, {"model": "gpt-4o-mini", "messages": messages, "tools": WEATHER_TOOL}
    )
    assert chunks[-1] == "[DONE]"
    body = chunks[:-1]
    assert all(chunk["choices"] and chunk["model"] == "gpt-4o-mini" for chunk in body)
    assert body[0]["choices"][0]["delta"]["role"] == "assistant"
    calls = [c for chunk in body for c in chunk["choices"][0]["delta"].get("tool_calls") or ()]
    assert {c["index"] for c in calls} == {0}
    arguments = "".join(c["function"].get("arguments", "") for c in calls)
    assert body[-1]["choices"][0]["finish_reason"] == "tool_calls"
    messages.append(
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": calls[0]["id"],
                    "type": "function",
                    "function": {"name": calls[0]["function"]["name"], "arguments": arguments},
                }
            ],
        }
    )
    messages.append({"role": "tool", "tool_call_id": calls[0]["id"], "content": "sunny"})
    stream = sdk.chat.completions.create(
        model="gpt-4o-mini", messages=messages, tools=WEATHER_TOOL, stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text.startswith("The tool returned: sunny")


def test_a_stream_with_include_usage_ends_with_one_usage_chunk(gateway: Running) -> None:
    body = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Count tokens"}],
        "stream_options": {"include_usage": True},
    }
    chunks = raw_stream(gateway, body)
    assert chunks[-1] == "[DONE]"
    usage_chunk = chunks[-2]
    assert usage_chunk["choices"] == [] and usage_chunk["usage"]["completion_tokens"] > 0
    assert all(chunk["choices"] for chunk in chunks[:-2])


@pytest.mark.parametrize("encoding_format", ["float", "base64"])
def test_embeddings_in_both_encodings_through_the_embedding_deployment(
    gateway: Running, sim_stats: Stats, encoding_format: str
) -> None:
    body = {"model": "text-embedding-3-small", "input": ["a", "b"]}
    body["encoding_format"] = encoding_format
    response = httpx.post(gateway.url + "/v1/embeddings", json=body, timeout=30)
    assert response.status_code == 200
    result = response.json()
    if encoding_format == "float":  # OpenAI's schema types the embedding as floats only
        validate("CreateEmbeddingResponse", result)
    assert result["model"] == "text-embedding-3-small"
    first = result["data"][0]["embedding"]
    length = len(base64.b64decode(first)) // 4 if encoding_format == "base64" else len(first)
    assert length == 1536
    assert last_request(sim_stats)["path"] == "/openai/deployments/sim-embed/embeddings"


def test_the_sdks_default_embeddings_call_decodes(sdk: openai.OpenAI) -> None:
    result = sdk.embeddings.create(model="text-embedding-3-small", input="hello")
    assert len(result.data[0].embedding) == 1536


def test_a_429_is_a_rate_limit_error_with_retry_after(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as raised:
        sdk.chat.completions.create(model="busy", messages=[{"role": "user", "content": "x"}])
    assert raised.value.response.headers.get("retry-after")
    assert raised.value.code == "rate_limit_exceeded"


def test_the_content_filter_is_a_400_with_code_content_filter(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        sdk.chat.completions.create(model="filtered", messages=[{"role": "user", "content": "x"}])
    assert raised.value.code == "content_filter"
    validate("ErrorResponse", raised.value.response.json())


def test_context_length_exceeded_keeps_openais_code(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        sdk.chat.completions.create(
            model="tiny", messages=[{"role": "user", "content": "word " * 200}]
        )
    assert raised.value.code == "context_length_exceeded"


@pytest.mark.parametrize("model", ["down", "badkey"])
def test_server_and_key_failures_are_a_bad_gateway_without_azures_text(
    sdk: openai.OpenAI, model: str
) -> None:
    with pytest.raises(openai.InternalServerError) as raised:
        sdk.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
    assert raised.value.status_code == 502
    assert "subscription key" not in raised.value.message


def test_a_stream_failing_midway_ends_with_an_error_event(gateway: Running) -> None:
    chunks = raw_stream(gateway, {"model": "cut", "messages": [{"role": "user", "content": "x"}]})
    assert "error" in chunks[-1] and "[DONE]" not in chunks
