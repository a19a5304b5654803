"""Tool calls: when the simulator calls a tool, and how the call is sent and streamed."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam
from sse_reader import read_sse

from openai_schema import validate
from proxyapi.simulator import RunningSimulator

WEATHER: ChatCompletionToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer"},
                "metric": {"type": "boolean"},
                "note": {"type": "string"},
            },
            "required": ["city", "days", "metric"],
        },
    },
}
CLOCK: ChatCompletionToolParam = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
}
ASK: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "What's the weather in Paris?"}
]
ARGUMENTS = {"city": "example", "days": 1, "metric": True}


async def test_weather_question_calls_the_tool(client: AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(
        model="gpt-4o", messages=ASK, tools=[CLOCK, WEATHER]
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    assert choice.message.tool_calls is not None
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == ARGUMENTS


@pytest.mark.parametrize(
    ("tool_choice", "content", "expected"),
    [
        ("auto", "Just chat with me", None),
        ("none", "What's the weather?", None),
        ("required", "Just chat with me", "get_time"),
        ({"type": "function", "function": {"name": "get_weather"}}, "hello", "get_weather"),
        ("auto", "please call get_time now", "get_time"),
    ],
)
async def test_tool_choice_rules(
    client: AsyncOpenAI, tool_choice: Any, content: str, expected: str | None
) -> None:
    completion = await client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": content}],
        tools=[CLOCK, WEATHER],
        tool_choice=tool_choice,
    )
    calls = completion.choices[0].message.tool_calls or []
    assert [call.function.name for call in calls if call.type == "function"] == (
        [expected] if expected else []
    )


async def test_tool_result_turn_answers_in_text(client: AsyncOpenAI) -> None:
    messages: list[ChatCompletionMessageParam] = [
        *ASK,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 24 degrees"},
    ]
    completion = await client.chat.completions.create(
        model="gpt-4o", messages=messages, tools=[WEATHER]
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.content is not None
    assert choice.message.content.startswith("The tool returned: Sunny, 24 degrees.")


async def test_tool_call_streams_like_openai(
    simulator: RunningSimulator, http: aiohttp.ClientSession, client: AsyncOpenAI
) -> None:
    body = {"model": "gpt-4o", "messages": ASK, "tools": [WEATHER], "stream": True}
    events = await read_sse(http, f"{simulator.url}/v1/chat/completions", body)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk)
    head = chunks[0]["choices"][0]["delta"]
    assert head["role"] == "assistant" and head["content"] is None
    assert head["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": ""}
    assert head["tool_calls"][0]["id"].startswith("call_")
    fragments = [chunk["choices"][0]["delta"]["tool_calls"][0] for chunk in chunks[1:-1]]
    assert all(set(fragment) == {"index", "function"} for fragment in fragments)
    assert len(fragments) > 3
    joined = "".join(fragment["function"]["arguments"] for fragment in fragments)
    assert json.loads(joined) == ARGUMENTS
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


async def test_sdk_accumulates_streamed_tool_call(client: AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="gpt-4o", messages=ASK, tools=[WEATHER], stream=True
    )
    calls: dict[int, dict[str, str]] = {}
    finish = None
    async for chunk in stream:
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        for delta in choice.delta.tool_calls or []:
            call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            call["id"] += delta.id or ""
            if delta.function is not None:
                call["name"] += delta.function.name or ""
                call["arguments"] += delta.function.arguments or ""
    assert finish == "tool_calls"
    assert calls[0]["name"] == "get_weather" and calls[0]["id"].startswith("call_")
    assert json.loads(calls[0]["arguments"]) == ARGUMENTS
