"""The official openai SDK -> gateway -> simulator speaking Anthropic's Messages API.

The client speaks OpenAI only; what reached the "Anthropic" upstream is read back
from the simulator (GET /_sim/stats) to check the translation on the wire.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from processes import SIM_KEY, Running, serving, sim_provider

from openai_schema import validate

pytestmark = pytest.mark.integration

ANTHROPIC_KEY = "sk-ant-test-0123456789"
CLAUDE = "claude-opus-4-7"
WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJ"
    "AAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
Stats = Callable[[], dict[str, Any]]


def claude_provider(
    name: str, sim_url: str, models: list[str], priority: int, **extra: object
) -> dict[str, object]:
    provider: dict[str, object] = {
        "name": name,
        "type": "anthropic",
        "base_url": sim_url,
        "api_key_env": "ANTHROPIC_TEST_KEY",
        "models": models,
        "priority": priority,
    }
    provider.update(extra)
    return provider


def anthropic_config(sim_url: str) -> dict[str, object]:
    def failing(status: int) -> dict[str, str]:
        return {"x-sim-error-status": str(status), "x-sim-retry-after": "7"}

    return {
        "server": {"client_timeout": 20},
        "providers": [
            claude_provider("claude", sim_url, [CLAUDE], 1),
            claude_provider("claude-busy", sim_url, ["claude-busy"], 2, headers=failing(429)),
            claude_provider(
                "claude-overloaded", sim_url, ["claude-overloaded"], 3, headers=failing(529)
            ),
            claude_provider("claude-locked", sim_url, ["claude-locked"], 4, headers=failing(401)),
            claude_provider(
                "claude-tiny", sim_url, ["claude-tiny"], 5, headers={"x-sim-context-window": "64"}
            ),
            claude_provider(
                "claude-flaky-stream",
                sim_url,
                ["claude-flaky-stream"],
                8,
                headers={"x-sim-error-after-chunks": "4"},
            ),
            # The cross-format fallback: an Anthropic primary failing with 529, then an
            # OpenAI-format provider for the same model name.
            claude_provider(
                "claude-primary", sim_url, ["claude-fallback"], 6, headers=failing(529)
            ),
            sim_provider("openai-backup", sim_url, ["claude-fallback"], 7),
        ],
        "logging": {"level": "WARNING"},
        # These tests are about translation and fallback: no retries, no breakers.
        "http_client": {"retry_attempts": 0},
        "circuit_breaker": {"enabled": False},
    }


@pytest.fixture(scope="module")
def gateway(simulator: Running, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with serving(
        anthropic_config(simulator.url),
        tmp_path_factory.mktemp("anthropic"),
        SIM_KEY=SIM_KEY,
        ANTHROPIC_TEST_KEY=ANTHROPIC_KEY,
    ) as running:
        yield running


@pytest.fixture
def sdk(gateway: Running) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-client", max_retries=0)


def last_body(stats: Stats) -> dict[str, Any]:
    request = stats()["last_request"]
    assert request["path"] == "/v1/messages", request
    body: dict[str, Any] = request["body"]
    return body


def answer_of(completion: Any) -> str:
    content: str = completion.choices[0].message.content
    return content


def user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


def stream_chunks(sdk: openai.OpenAI, **kwargs: Any) -> list[Any]:
    chunks = list(sdk.chat.completions.create(stream=True, **kwargs))
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk.model_dump(exclude_unset=True))
    return chunks


def collect_stream(chunks: list[Any]) -> dict[str, Any]:
    """What a client assembles from streamed deltas, thinking blocks included."""
    text, reasoning = "", ""
    blocks: list[Any] = []
    calls: dict[int, dict[str, Any]] = {}
    finish = None
    for chunk in chunks:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        text += delta.content or ""
        extra = delta.model_extra or {}
        reasoning += extra.get("reasoning_content") or ""
        blocks.extend(extra.get("thinking_blocks") or [])
        for call in delta.tool_calls or []:
            entry = calls.setdefault(call.index, {"arguments": ""})
            if call.id:
                entry |= {"id": call.id, "name": call.function.name}
            entry["arguments"] += call.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    return {
        "text": text,
        "reasoning": reasoning,
        "blocks": blocks,
        "calls": calls,
        "finish": finish,
    }


def test_plain_chat_is_an_openai_completion_with_the_requested_model(
    sdk: openai.OpenAI, sim_stats: Stats
) -> None:
    completion = sdk.chat.completions.create(model=CLAUDE, messages=user("Hello Claude"))
    validate("CreateChatCompletionResponse", completion.model_dump(exclude_unset=True))
    assert completion.id.startswith("chatcmpl-msg_") and completion.model == CLAUDE
    assert answer_of(completion).startswith("Simulated reply to: Hello Claude")
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.total_tokens > 0
    request = sim_stats()["last_request"]
    assert request["headers"]["x-api-key"] == ANTHROPIC_KEY
    assert request["headers"]["anthropic-version"] == "2023-06-01"
    assert request["body"]["max_tokens"] == 4096


def test_system_prompt_goes_to_anthropics_top_level_system(
    sdk: openai.OpenAI, sim_stats: Stats
) -> None:
    messages = [{"role": "system", "content": "Be terse."}, *user("Hi")]
    sdk.chat.completions.create(model=CLAUDE, messages=messages)
    body = last_body(sim_stats)
    assert body["system"] == "Be terse."
    assert body["messages"] == [{"role": "user", "content": "Hi"}]


def test_multi_turn_history_is_sent_with_alternating_roles(
    sdk: openai.OpenAI, sim_stats: Stats
) -> None:
    messages = [
        *user("First"),
        *user("Second"),
        {"role": "assistant", "content": "Noted."},
        *user("Third"),
    ]
    completion = sdk.chat.completions.create(model=CLAUDE, messages=messages)
    assert answer_of(completion).startswith("Simulated reply to: Third")
    roles = [m["role"] for m in last_body(sim_stats)["messages"]]
    assert roles == ["user", "assistant", "user"]


def test_images_are_sent_as_url_and_base64_image_blocks(
    sdk: openai.OpenAI, sim_stats: Stats
) -> None:
    content = [
        {"type": "text", "text": "What is in these?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
    ]
    message: Any = {"role": "user", "content": content}
    completion = sdk.chat.completions.create(model=CLAUDE, messages=[message])
    assert completion.choices[0].message.content
    blocks = last_body(sim_stats)["messages"][0]["content"]
    assert blocks[1] == {
        "type": "image",
        "source": {"type": "url", "url": "https://example.com/cat.jpg"},
    }
    assert blocks[2]["source"] == {"type": "base64", "media_type": "image/png", "data": PNG}


def test_streaming_text_matches_the_non_streaming_text(sdk: openai.OpenAI) -> None:
    whole = sdk.chat.completions.create(model=CLAUDE, messages=user("Stream this"))
    chunks = stream_chunks(
        sdk, model=CLAUDE, messages=user("Stream this"), stream_options={"include_usage": True}
    )
    got = collect_stream(chunks)
    assert got["text"] == whole.choices[0].message.content
    assert got["finish"] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0
    assert {chunk.id for chunk in chunks} == {chunks[0].id}


def test_tool_call_round_trip(sdk: openai.OpenAI, sim_stats: Stats) -> None:
    question = user("What's the weather in Paris?")
    first = sdk.chat.completions.create(model=CLAUDE, messages=question, tools=[WEATHER])
    validate("CreateChatCompletionResponse", first.model_dump(exclude_unset=True))
    assert first.choices[0].finish_reason == "tool_calls"
    calls: list[Any] = first.choices[0].message.tool_calls or []
    (call,) = calls
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "example"}
    history = [
        *question,
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"},
    ]
    final = sdk.chat.completions.create(model=CLAUDE, messages=history, tools=[WEATHER])
    assert final.choices[0].finish_reason == "stop"
    assert answer_of(final).startswith("The tool returned: 18C and sunny")
    turns = last_body(sim_stats)["messages"]
    assert turns[1]["content"][0]["type"] == "tool_use" and turns[1]["content"][0]["id"] == call.id
    assert turns[2]["content"][0] == {
        "type": "tool_result",
        "tool_use_id": call.id,
        "content": "18C and sunny",
    }


def test_streamed_tool_call_round_trip(sdk: openai.OpenAI) -> None:
    question = user("Call get_weather for Rome")
    got = collect_stream(stream_chunks(sdk, model=CLAUDE, messages=question, tools=[WEATHER]))
    assert got["finish"] == "tool_calls"
    (call,) = got["calls"].values()
    assert call["name"] == "get_weather" and json.loads(call["arguments"]) == {"city": "example"}
    assistant = {
        "role": "assistant",
        "tool_calls": [
            {
                "id": call["id"],
                "type": "function",
                "function": {"name": call["name"], "arguments": call["arguments"]},
            }
        ],
    }
    history = [*question, assistant, {"role": "tool", "tool_call_id": call["id"], "content": "9C"}]
    final = collect_stream(stream_chunks(sdk, model=CLAUDE, messages=history, tools=[WEATHER]))
    assert final["finish"] == "stop" and final["text"].startswith("The tool returned: 9C")


def test_reasoning_effort_thinking_blocks_are_returned_and_sent_back(
    sdk: openai.OpenAI, sim_stats: Stats
) -> None:
    question = user("What's the weather in Rome?")
    first = sdk.chat.completions.create(
        model=CLAUDE,
        messages=question,
        tools=[WEATHER],
        reasoning_effort="low",
    )
    sent = last_body(sim_stats)
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    message = first.choices[0].message
    extra = message.model_extra or {}
    assert extra["reasoning_content"].startswith("Thinking about: What's the weather in Rome?")
    (block,) = extra["thinking_blocks"]
    assert block["type"] == "thinking" and block["signature"]
    (call,) = message.tool_calls or []
    history = [
        *question,
        message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "21C"},
    ]
    final = sdk.chat.completions.create(
        model=CLAUDE,
        messages=history,
        tools=[WEATHER],
        reasoning_effort="low",
    )
    assert answer_of(final).startswith("The tool returned: 21C")
    # The simulator verifies signatures and that the thinking block comes first.
    assistant_turn = last_body(sim_stats)["messages"][1]["content"]
    assert assistant_turn[0] == block
    assert assistant_turn[1]["type"] == "tool_use"


def test_streamed_thinking_blocks_can_be_sent_back(sdk: openai.OpenAI, sim_stats: Stats) -> None:
    question = user("Weather in Oslo?")
    got = collect_stream(
        stream_chunks(
            sdk, model=CLAUDE, messages=question, tools=[WEATHER], reasoning_effort="medium"
        )
    )
    assert got["reasoning"] and got["finish"] == "tool_calls"
    (block,) = got["blocks"]
    assert block["thinking"] == got["reasoning"] and block["signature"]
    (call,) = got["calls"].values()
    assistant = {
        "role": "assistant",
        "content": None,
        "thinking_blocks": got["blocks"],
        "tool_calls": [
            {
                "id": call["id"],
                "type": "function",
                "function": {"name": call["name"], "arguments": call["arguments"]},
            }
        ],
    }
    history = [*question, assistant, {"role": "tool", "tool_call_id": call["id"], "content": "2C"}]
    final = collect_stream(
        stream_chunks(
            sdk, model=CLAUDE, messages=history, tools=[WEATHER], reasoning_effort="medium"
        )
    )
    assert final["text"].startswith("The tool returned: 2C")
    assert last_body(sim_stats)["messages"][1]["content"][0] == block


def test_a_parameter_anthropic_cannot_honour_is_a_400_naming_it(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(
            model=CLAUDE, messages=user("x"), response_format={"type": "json_object"}
        )
    assert caught.value.param == "response_format"


def test_rate_limited_anthropic_is_429_with_retry_after(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        sdk.chat.completions.create(model="claude-busy", messages=user("x"))
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "7"


def test_overloaded_anthropic_alone_is_502(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.chat.completions.create(model="claude-overloaded", messages=user("x"))
    assert caught.value.status_code == 502
    validate("ErrorResponse", caught.value.response.json())


def test_a_rejected_anthropic_key_is_502_without_the_key(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.chat.completions.create(model="claude-locked", messages=user("x"))
    assert caught.value.status_code == 502
    assert ANTHROPIC_KEY not in caught.value.response.text


def test_anthropics_prompt_too_long_is_context_length_exceeded(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model="claude-tiny", messages=user("word " * 400))
    assert caught.value.code == "context_length_exceeded"
    assert "prompt is too long" in caught.value.message


def test_an_error_mid_stream_ends_with_an_openai_error_event(sdk: openai.OpenAI) -> None:
    seen: list[Any] = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in sdk.chat.completions.create(
            model="claude-flaky-stream", messages=user("Fail midway"), stream=True
        ):
            seen.append(chunk)
    assert seen and seen[0].choices[0].delta.role == "assistant"
    assert caught.value.code == "overloaded_error"
    assert caught.value.message == "Overloaded"


def test_cross_format_fallback_from_overloaded_anthropic_is_invisible(
    sdk: openai.OpenAI, sim_stats: Stats
) -> None:
    completion = sdk.chat.completions.create(
        model="claude-fallback", messages=user("Anyone there?")
    )
    assert completion.object == "chat.completion"
    assert completion.model == "claude-fallback"
    assert completion.id.startswith("chatcmpl-")
    assert completion.choices[0].message.content and completion.choices[0].finish_reason == "stop"
    validate("CreateChatCompletionResponse", completion.model_dump(exclude_unset=True))
    counts = sim_stats()["requests"]
    assert counts == {"/v1/messages": 1, "/v1/chat/completions": 1}


def test_cross_format_fallback_also_works_for_streams(sdk: openai.OpenAI) -> None:
    chunks = stream_chunks(sdk, model="claude-fallback", messages=user("Stream anyone?"))
    got = collect_stream(chunks)
    assert got["text"] and got["finish"] == "stop"
    assert {chunk.model for chunk in chunks} == {"claude-fallback"}
