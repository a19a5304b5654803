"""The simulator's Azure OpenAI format, checked by the official ``openai.AsyncAzureOpenAI``."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import pytest
from sse_reader import StartSimulator

from proxyapi.simulator import RunningSimulator

API_VERSION = "2024-10-21"
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


def azure(simulator: RunningSimulator, api_key: str = "azure-key") -> openai.AsyncAzureOpenAI:
    return openai.AsyncAzureOpenAI(
        azure_endpoint=simulator.url, api_key=api_key, api_version=API_VERSION, max_retries=0
    )


@pytest.fixture
async def client(simulator: RunningSimulator) -> AsyncIterator[openai.AsyncAzureOpenAI]:
    async with azure(simulator) as sdk:
        yield sdk


async def test_chat_answers_as_the_deployment_with_filter_results(
    client: openai.AsyncAzureOpenAI,
) -> None:
    completion = await client.chat.completions.create(
        model="my-deployment", messages=[{"role": "user", "content": "Hello Azure"}]
    )
    assert completion.model == "my-deployment"
    assert completion.choices[0].message.content
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model_extra is not None and completion.model_extra["prompt_filter_results"]
    assert completion.choices[0].model_extra is not None
    assert "content_filter_results" in completion.choices[0].model_extra


async def test_stream_opens_with_a_filter_only_chunk_then_the_same_text(
    client: openai.AsyncAzureOpenAI,
) -> None:
    messages: list[Any] = [{"role": "user", "content": "Stream from Azure"}]
    whole = await client.chat.completions.create(model="d", messages=messages)
    stream = await client.chat.completions.create(model="d", messages=messages, stream=True)
    chunks = [chunk async for chunk in stream]
    assert chunks[0].choices == [] and chunks[0].id == ""
    assert chunks[0].model_extra is not None and "prompt_filter_results" in chunks[0].model_extra
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason == "stop"


async def test_streamed_tool_calls_parse_with_their_index(
    client: openai.AsyncAzureOpenAI,
) -> None:
    stream = await client.chat.completions.create(
        model="d",
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=WEATHER_TOOL,
        stream=True,
    )
    chunks = [chunk async for chunk in stream if chunk.choices]
    calls = [call for c in chunks for call in c.choices[0].delta.tool_calls or ()]
    assert {call.index for call in calls} == {0}
    assert calls[0].function is not None and calls[0].function.name == "get_weather"
    arguments = "".join((call.function.arguments or "") for call in calls if call.function)
    assert '"city"' in arguments
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize("encoding_format", ["float", "base64"])
async def test_embeddings_decode_in_both_encodings(
    client: openai.AsyncAzureOpenAI, encoding_format: Any
) -> None:
    result = await client.embeddings.create(
        model="embed-deployment", input=["a", "b"], encoding_format=encoding_format
    )
    assert result.model == "embed-deployment"
    # Asked for base64 explicitly, the SDK hands the string back undecoded.
    vectors: list[Any] = [item.embedding for item in result.data]
    lengths = [len(base64.b64decode(v)) // 4 if isinstance(v, str) else len(v) for v in vectors]
    assert lengths == [1536, 1536]


async def test_models_list_parses(client: openai.AsyncAzureOpenAI) -> None:
    page = await client.models.list()
    assert "gpt-4o-mini" in [model.id for model in page.data]


async def test_a_request_without_api_version_is_azures_400(simulator: RunningSimulator) -> None:
    async with aiohttp.ClientSession() as http:
        url = f"{simulator.url}/openai/deployments/d/chat/completions"
        async with http.post(url, json={"messages": []}) as response:
            assert response.status == 400
            body = await response.json()
    assert body == {
        "error": {"code": "BadRequest", "message": "Missing required query parameter: api-version"}
    }


async def test_a_wrong_api_key_is_an_authentication_error(start: StartSimulator) -> None:
    simulator = await start(api_key="right-key")
    async with azure(simulator, api_key="wrong-key") as sdk:
        with pytest.raises(openai.AuthenticationError) as raised:
            await sdk.chat.completions.create(
                model="d", messages=[{"role": "user", "content": "x"}]
            )
    assert "Access denied" in str(raised.value)
    async with azure(simulator, api_key="right-key") as sdk:
        await sdk.chat.completions.create(model="d", messages=[{"role": "user", "content": "x"}])


async def test_429_is_a_rate_limit_error_with_both_retry_headers(
    client: openai.AsyncAzureOpenAI,
) -> None:
    with pytest.raises(openai.RateLimitError) as raised:
        await client.chat.completions.create(
            model="d",
            messages=[{"role": "user", "content": "x"}],
            extra_headers={"x-sim-error-status": "429", "x-sim-retry-after": "3"},
        )
    assert raised.value.response.headers["retry-after"] == "3"
    assert raised.value.response.headers["retry-after-ms"] == "3000"
    assert "exceeded token rate limit" in raised.value.message


async def test_an_injected_400_is_the_content_filter(client: openai.AsyncAzureOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        await client.chat.completions.create(
            model="d",
            messages=[{"role": "user", "content": "x"}],
            extra_headers={"x-sim-error-status": "400"},
        )
    assert raised.value.code == "content_filter" and raised.value.param == "prompt"


async def test_an_unknown_deployment_is_not_found_when_models_are_strict(
    start: StartSimulator,
) -> None:
    simulator = await start(strict_models=True)
    async with azure(simulator) as sdk:
        with pytest.raises(openai.NotFoundError) as raised:
            await sdk.chat.completions.create(
                model="no-such-deployment", messages=[{"role": "user", "content": "x"}]
            )
    assert raised.value.code == "DeploymentNotFound"


async def test_a_prompt_over_the_context_window_is_context_length_exceeded(
    client: openai.AsyncAzureOpenAI,
) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        await client.chat.completions.create(
            model="d",
            messages=[{"role": "user", "content": "word " * 200}],
            extra_headers={"x-sim-context-window": "32"},
        )
    assert raised.value.code == "context_length_exceeded"


async def test_a_stream_failing_midway_ends_with_an_error_event(
    client: openai.AsyncAzureOpenAI,
) -> None:
    stream = await client.chat.completions.create(
        model="d",
        messages=[{"role": "user", "content": "x"}],
        stream=True,
        extra_headers={"x-sim-error-after-chunks": "2"},
    )
    with pytest.raises(openai.APIError):
        async for _ in stream:
            pass
