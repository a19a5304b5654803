"""Streamed chat completions: SSE framing, chunk schema, usage chunk, equality with non-streamed."""

from __future__ import annotations

from typing import Any

import aiohttp
import openai
import pytest
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionMessageParam
from sse_reader import read_sse

from openai_schema import validate
from proxyapi.simulator import RunningSimulator

USER: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "Stream me a reply about rivers and mountains"}
]


def validate_chunks(events: list[Any]) -> list[dict[str, Any]]:
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk)
    assert len({chunk["id"] for chunk in chunks}) == 1
    return chunks


async def test_stream_text_equals_non_streamed_text(
    simulator: RunningSimulator, http: aiohttp.ClientSession, client: AsyncOpenAI
) -> None:
    url = f"{simulator.url}/v1/chat/completions"
    events = await read_sse(http, url, {"model": "gpt-4o", "messages": USER, "stream": True})
    chunks = validate_chunks(events)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert chunks[-1]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }
    assert all("usage" not in chunk for chunk in chunks)
    pieces = [chunk["choices"][0]["delta"].get("content", "") for chunk in chunks]
    assert len(pieces) > 8 and all(len(piece.split()) <= 3 for piece in pieces)
    completion = await client.chat.completions.create(model="gpt-4o", messages=USER)
    assert "".join(pieces) == completion.choices[0].message.content


async def test_include_usage_adds_a_usage_chunk(
    simulator: RunningSimulator, http: aiohttp.ClientSession
) -> None:
    body = {
        "model": "gpt-4o",
        "messages": USER,
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 10,
    }
    chunks = validate_chunks(await read_sse(http, f"{simulator.url}/v1/chat/completions", body))
    assert all(chunk["usage"] is None for chunk in chunks[:-1])
    assert chunks[-1]["choices"] == []
    usage = chunks[-1]["usage"]
    assert usage["completion_tokens"] <= 10
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"


async def test_sdk_stream_with_usage(client: AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="gpt-4o", messages=USER, stream=True, stream_options={"include_usage": True}
    )
    text, usage = "", None
    async for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        usage = chunk.usage or usage
    assert text.startswith("Simulated reply to: Stream me a reply")
    assert usage is not None and usage.completion_tokens == -(-len(text) // 4)


async def test_stream_interleaves_n_choices(
    simulator: RunningSimulator, http: aiohttp.ClientSession, client: AsyncOpenAI
) -> None:
    body = {"model": "gpt-4o", "messages": USER, "stream": True, "n": 2}
    chunks = validate_chunks(await read_sse(http, f"{simulator.url}/v1/chat/completions", body))
    texts = ["", ""]
    for chunk in chunks:
        (choice,) = chunk["choices"]
        texts[choice["index"]] += choice["delta"].get("content") or ""
    assert [chunk["choices"][0]["index"] for chunk in chunks[:2]] == [0, 1]
    completion = await client.chat.completions.create(model="gpt-4o", messages=USER, n=2)
    assert texts == [choice.message.content for choice in completion.choices]


async def test_stream_logprobs_cover_each_chunk(
    simulator: RunningSimulator, http: aiohttp.ClientSession
) -> None:
    body = {"model": "gpt-4o", "messages": USER, "stream": True, "logprobs": True}
    chunks = validate_chunks(await read_sse(http, f"{simulator.url}/v1/chat/completions", body))
    for chunk in chunks[1:-1]:
        choice = chunk["choices"][0]
        tokens = "".join(entry["token"] for entry in choice["logprobs"]["content"])
        assert tokens == choice["delta"]["content"]


async def test_error_after_chunks_sends_an_error_event(
    simulator: RunningSimulator, http: aiohttp.ClientSession, client: AsyncOpenAI
) -> None:
    headers = {"x-sim-error-after-chunks": "3"}
    body = {"model": "gpt-4o", "messages": USER, "stream": True}
    events = await read_sse(http, f"{simulator.url}/v1/chat/completions", body, headers)
    assert len(events) == 4 and "[DONE]" not in events
    for chunk in events[:3]:
        validate("CreateChatCompletionStreamResponse", chunk)
    validate("ErrorResponse", events[3])
    assert events[3]["error"]["type"] == "server_error"
    stream = await client.chat.completions.create(
        model="gpt-4o", messages=USER, stream=True, extra_headers=headers
    )
    received = 0
    with pytest.raises(openai.APIError, match="The server had an error"):
        async for _ in stream:
            received += 1
    assert received == 3
