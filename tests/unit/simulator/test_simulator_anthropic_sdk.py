"""The simulator's Anthropic format, checked by the official ``anthropic`` SDK.

Nobody here wrote the SDK: if it parses every kind of answer the simulator sends
(messages, streams, tool use, thinking, each error), the format is faithful.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anthropic
import pytest
from anthropic import AsyncAnthropic
from sse_reader import StartSimulator

from proxyapi.simulator import RunningSimulator

MODEL = "claude-opus-4-7"
WEATHER: Any = {
    "name": "get_weather",
    "description": "Get the current weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
THINKING: Any = {"type": "enabled", "budget_tokens": 1024}


@pytest.fixture
async def claude(simulator: RunningSimulator) -> AsyncIterator[AsyncAnthropic]:
    async with AsyncAnthropic(base_url=simulator.url, api_key="sk-ant-test", max_retries=0) as sdk:
        yield sdk


def blocks(message: anthropic.types.Message) -> list[Any]:
    """The content blocks, untyped: each test checks the block types it expects."""
    return list(message.content)


def ask(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


def user_turn(*content: Any) -> Any:
    return {"role": "user", "content": list(content)}


async def test_sdk_parses_a_plain_message(claude: AsyncAnthropic) -> None:
    message = await claude.messages.create(
        model=MODEL, max_tokens=256, system="Be brief.", messages=ask("Hello there")
    )
    assert message.type == "message"
    assert message.role == "assistant"
    assert message.model == MODEL and message.stop_reason == "end_turn"
    (block,) = blocks(message)
    assert block.type == "text" and block.text.startswith("Simulated reply to: Hello there")
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


async def test_sdk_stream_builds_the_same_text_as_the_plain_message(claude: AsyncAnthropic) -> None:
    plain = await claude.messages.create(model=MODEL, max_tokens=256, messages=ask("Same"))
    async with claude.messages.stream(model=MODEL, max_tokens=256, messages=ask("Same")) as stream:
        pieces = [text async for text in stream.text_stream]
        final = await stream.get_final_message()
    assert len(pieces) > 1
    assert "".join(pieces) == blocks(final)[0].text == blocks(plain)[0].text
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0


async def test_stop_sequences_and_max_tokens_end_the_answer(claude: AsyncAnthropic) -> None:
    cut = await claude.messages.create(model=MODEL, max_tokens=3, messages=ask("Long please"))
    assert cut.stop_reason == "max_tokens"
    stopped = await claude.messages.create(
        model=MODEL, max_tokens=256, messages=ask("Stop here"), stop_sequences=["reply"]
    )
    assert stopped.stop_reason == "stop_sequence" and stopped.stop_sequence == "reply"
    assert blocks(stopped)[0].text == "Simulated "


async def test_sdk_parses_tool_use_and_answers_the_tool_result(claude: AsyncAnthropic) -> None:
    question = ask("What's the weather in Paris?")
    first = await claude.messages.create(
        model=MODEL,
        max_tokens=256,
        messages=question,
        tools=[WEATHER],
    )
    assert first.stop_reason == "tool_use"
    (call,) = blocks(first)
    assert call.type == "tool_use" and call.name == "get_weather"
    assert call.input == {"city": "example"} and call.id.startswith("toolu_")
    result = {"type": "tool_result", "tool_use_id": call.id, "content": "18C and sunny"}
    second = await claude.messages.create(
        model=MODEL,
        max_tokens=256,
        tools=[WEATHER],
        messages=[*question, first.to_param(), user_turn(result)],
    )
    assert second.stop_reason == "end_turn"
    assert blocks(second)[0].text.startswith("The tool returned: 18C and sunny")


async def test_sdk_accumulates_streamed_tool_input_json(claude: AsyncAnthropic) -> None:
    async with claude.messages.stream(
        model=MODEL,
        max_tokens=256,
        messages=ask("Call get_weather please"),
        tools=[WEATHER],
    ) as stream:
        kinds = [event.type async for event in stream]
        final = await stream.get_final_message()
    assert "input_json" in kinds
    assert final.stop_reason == "tool_use"
    assert blocks(final)[0].input == {"city": "example"}


async def test_tool_choice_any_forces_a_call_and_none_forbids_it(claude: AsyncAnthropic) -> None:
    forced = await claude.messages.create(
        model=MODEL,
        max_tokens=256,
        messages=ask("Hi"),
        tools=[WEATHER],
        tool_choice={"type": "any"},
    )
    assert forced.stop_reason == "tool_use"
    free = await claude.messages.create(
        model=MODEL,
        max_tokens=256,
        messages=ask("Weather?"),
        tools=[WEATHER],
        tool_choice={"type": "none"},
    )
    assert free.stop_reason == "end_turn"


async def test_sdk_parses_thinking_and_accepts_it_sent_back(claude: AsyncAnthropic) -> None:
    question = ask("Weather in Rome?")
    first = await claude.messages.create(
        model=MODEL,
        max_tokens=2048,
        thinking=THINKING,
        messages=question,
        tools=[WEATHER],
    )
    thinking, call = blocks(first)
    assert thinking.type == "thinking" and thinking.signature and thinking.thinking
    assert call.type == "tool_use"
    result = {"type": "tool_result", "tool_use_id": call.id, "content": "21C"}
    second = await claude.messages.create(
        model=MODEL,
        max_tokens=2048,
        thinking=THINKING,
        tools=[WEATHER],
        messages=[*question, first.to_param(), user_turn(result)],
    )
    assert [block.type for block in blocks(second)] == ["text"]


async def test_sdk_streams_thinking_with_its_signature(claude: AsyncAnthropic) -> None:
    async with claude.messages.stream(
        model=MODEL, max_tokens=2048, thinking=THINKING, messages=ask("Think first")
    ) as stream:
        kinds = [event.type async for event in stream]
        final = await stream.get_final_message()
    assert "thinking" in kinds and "signature" in kinds
    thinking, text = blocks(final)
    assert thinking.type == "thinking" and thinking.signature and thinking.thinking
    assert text.type == "text"


async def test_thinking_sent_back_altered_or_missing_is_refused(claude: AsyncAnthropic) -> None:
    question = ask("Weather in Oslo?")
    first = await claude.messages.create(
        model=MODEL,
        max_tokens=2048,
        thinking=THINKING,
        messages=question,
        tools=[WEATHER],
    )
    thinking, call = blocks(first)
    result = user_turn({"type": "tool_result", "tool_use_id": call.id})
    tampered: Any = {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "edited", "signature": thinking.signature},
            call.to_dict(),
        ],
    }
    with pytest.raises(anthropic.BadRequestError, match="Invalid `signature`"):
        await claude.messages.create(
            model=MODEL,
            max_tokens=2048,
            thinking=THINKING,
            tools=[WEATHER],
            messages=[*question, tampered, result],
        )
    stripped: Any = {"role": "assistant", "content": [call.to_dict()]}
    with pytest.raises(anthropic.BadRequestError, match="Expected `thinking`"):
        await claude.messages.create(
            model=MODEL,
            max_tokens=2048,
            thinking=THINKING,
            tools=[WEATHER],
            messages=[*question, stripped, result],
        )


async def test_thinking_rules_are_enforced(claude: AsyncAnthropic) -> None:
    with pytest.raises(anthropic.BadRequestError, match="max_tokens"):
        await claude.messages.create(
            model=MODEL, max_tokens=1024, thinking=THINKING, messages=ask("x")
        )
    with pytest.raises(anthropic.BadRequestError, match="temperature"):
        await claude.messages.create(
            model=MODEL,
            max_tokens=2048,
            thinking=THINKING,
            messages=ask("x"),
            extra_body={"temperature": 0.2},
        )


async def test_structured_output_follows_the_schema(claude: AsyncAnthropic) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    output_config: Any = {"format": {"type": "json_schema", "schema": schema}}
    message = await claude.messages.create(
        model=MODEL,
        max_tokens=256,
        messages=ask("A number"),
        output_config=output_config,
    )
    assert blocks(message)[0].text == '{"n":1}'


@pytest.mark.parametrize(
    ("status", "error_class", "error_type"),
    [
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (529, anthropic.OverloadedError, "overloaded_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (401, anthropic.AuthenticationError, "authentication_error"),
        (403, anthropic.PermissionDeniedError, "permission_error"),
        (400, anthropic.BadRequestError, "invalid_request_error"),
    ],
)
async def test_injected_errors_raise_the_sdks_classes(
    claude: AsyncAnthropic, status: int, error_class: type[Exception], error_type: str
) -> None:
    with pytest.raises(error_class) as caught:
        await claude.messages.create(
            model=MODEL,
            max_tokens=64,
            messages=ask("x"),
            extra_headers={"x-sim-error-status": str(status), "x-sim-retry-after": "3"},
        )
    error: Any = caught.value
    assert error.status_code == status
    assert error.body["type"] == "error" and error.body["error"]["type"] == error_type
    assert error.request_id and error.request_id.startswith("req_")
    if status == 429:
        assert error.response.headers["retry-after"] == "3"


async def test_context_window_knob_gives_prompt_is_too_long(claude: AsyncAnthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        await claude.messages.create(
            model=MODEL,
            max_tokens=8,
            messages=ask("word " * 100),
            extra_headers={"x-sim-context-window": "50"},
        )
    assert "prompt is too long: 125 tokens > 50 maximum" in str(caught.value)


async def test_error_mid_stream_raises_from_the_sdk_stream(claude: AsyncAnthropic) -> None:
    seen: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        async with claude.messages.stream(
            model=MODEL,
            max_tokens=256,
            messages=ask("Fail midway"),
            extra_headers={"x-sim-error-after-chunks": "4"},
        ) as stream:
            async for event in stream:
                seen.append(event.type)
    assert seen and "message_stop" not in seen
    body: Any = caught.value.body
    assert body["error"]["type"] == "overloaded_error"


async def test_api_key_is_checked_when_the_simulator_has_one(
    start: StartSimulator, http: aiohttp.ClientSession
) -> None:
    simulator = await start(api_key="sk-ant-right")
    body = {"model": MODEL, "max_tokens": 8, "messages": ask("x")}
    for key, status in (("sk-ant-right", 200), ("sk-ant-wrong", 401), ("", 401)):
        headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
        async with http.post(f"{simulator.url}/v1/messages", json=body, headers=headers) as answer:
            assert answer.status == status
    async with AsyncAnthropic(base_url=simulator.url, api_key="sk-ant-wrong", max_retries=0) as bad:
        with pytest.raises(anthropic.AuthenticationError, match="invalid x-api-key"):
            await bad.messages.create(model=MODEL, max_tokens=8, messages=ask("x"))
    async with AsyncAnthropic(
        base_url=simulator.url, api_key="sk-ant-right", max_retries=0
    ) as good:
        assert (await good.messages.create(model=MODEL, max_tokens=8, messages=ask("x"))).id


async def test_models_list_has_anthropic_shape_only_for_anthropic_callers(
    claude: AsyncAnthropic, simulator: RunningSimulator, http: aiohttp.ClientSession
) -> None:
    page = await claude.models.list()
    assert page.data[0].type == "model"
    assert page.data[0].id
    async with http.get(f"{simulator.url}/v1/models") as response:
        openai_shape = await response.json()
    assert openai_shape["object"] == "list" and openai_shape["data"][0]["object"] == "model"


async def test_missing_version_header_is_refused(
    simulator: RunningSimulator, http: aiohttp.ClientSession
) -> None:
    body = {"model": MODEL, "max_tokens": 8, "messages": ask("x")}
    async with http.post(f"{simulator.url}/v1/messages", json=body) as response:
        assert response.status == 400
        error = await response.json()
    assert error["error"] == {
        "type": "invalid_request_error",
        "message": "anthropic-version: header is required",
    }


async def test_max_tokens_is_required(claude: AsyncAnthropic) -> None:
    with pytest.raises(anthropic.BadRequestError, match="max_tokens"):
        await claude.messages.create(model=MODEL, messages=ask("x"), max_tokens=0)
