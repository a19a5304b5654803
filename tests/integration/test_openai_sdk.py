"""The official openai SDK, pointed at the gateway, gets what it would get from OpenAI."""

from __future__ import annotations

import base64
import struct

import openai
import pytest
from processes import SIM_KEY, Running

pytestmark = pytest.mark.integration


def client(gateway: Running, **kwargs: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-client", max_retries=0, **kwargs)  # type: ignore[arg-type]


def test_sync_chat_completion_returns_a_reply(gateway: Running) -> None:
    completion = client(gateway).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello there"}]
    )
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content
    assert completion.usage is not None and completion.usage.total_tokens > 0


async def test_async_chat_completion_returns_a_reply(gateway: Running) -> None:
    async with openai.AsyncOpenAI(
        base_url=gateway.url + "/v1", api_key="sk-client", max_retries=0
    ) as aclient:
        completion = await aclient.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello async"}]
        )
    assert completion.choices[0].message.content


def test_streaming_text_matches_the_non_streaming_text(gateway: Running) -> None:
    messages = [{"role": "user", "content": "Stream me something"}]
    sdk = client(gateway)
    whole = sdk.chat.completions.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]
    chunks = list(
        sdk.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True)  # type: ignore[arg-type]
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(chunks) > 2
    assert text == whole.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason == "stop"


async def test_async_streaming_with_include_usage_ends_with_a_usage_chunk(gateway: Running) -> None:
    async with openai.AsyncOpenAI(
        base_url=gateway.url + "/v1", api_key="sk-client", max_retries=0
    ) as aclient:
        stream = await aclient.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Count tokens"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_every_openai_parameter_reaches_the_provider(gateway: Running, sim_stats) -> None:  # type: ignore[no-untyped-def]
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    client(gateway).chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hi"}],
        tools=tools,  # type: ignore[arg-type]
        tool_choice="auto",
        response_format={"type": "json_object"},
        seed=42,
        logprobs=True,
        top_logprobs=2,
        temperature=0.5,
        user="user-1",
        extra_body={"vendor_specific": {"x": 1}},
    )
    sent = sim_stats()["last_request"]["body"]
    assert sent["tools"] == tools
    assert sent["response_format"] == {"type": "json_object"}
    assert sent["seed"] == 42 and sent["logprobs"] is True and sent["top_logprobs"] == 2
    assert sent["user"] == "user-1"
    assert sent["vendor_specific"] == {"x": 1}


def test_the_provider_key_is_sent_upstream_not_the_client_key(gateway: Running, sim_stats) -> None:  # type: ignore[no-untyped-def]
    client(gateway).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )
    headers = {k.lower(): v for k, v in sim_stats()["last_request"]["headers"].items()}
    assert headers["authorization"] == f"Bearer {SIM_KEY}"


def test_tool_call_round_trip(gateway: Running) -> None:
    sdk = client(gateway)
    tools = [
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
    messages: list[dict[str, object]] = [
        {"role": "user", "content": "What is the weather in Paris?"}
    ]
    first = sdk.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=tools)  # type: ignore[arg-type]
    call = first.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 21}'})
    final = sdk.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=tools)  # type: ignore[arg-type]
    assert final.choices[0].finish_reason == "stop"
    assert final.choices[0].message.content


def test_model_overrides_fill_parameters_the_client_left_out(gateway: Running, sim_stats) -> None:  # type: ignore[no-untyped-def]
    client(gateway).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], temperature=0.9
    )
    sent = sim_stats()["last_request"]["body"]
    assert sent["max_tokens"] == 7
    assert sent["temperature"] == 0.9


def test_embeddings_as_floats_and_base64(gateway: Running) -> None:
    sdk = client(gateway)
    floats = sdk.embeddings.create(
        model="text-embedding-3-small", input=["one", "two"], encoding_format="float"
    )
    assert len(floats.data) == 2 and len(floats.data[0].embedding) == 1536
    default = sdk.embeddings.create(model="text-embedding-3-small", input=["one", "two"])
    assert default.data[0].embedding == pytest.approx(floats.data[0].embedding, rel=1e-6)
    raw = sdk.embeddings.with_raw_response.create(
        model="text-embedding-3-small", input="one", encoding_format="base64"
    )
    encoded = raw.http_response.json()["data"][0]["embedding"]
    values = struct.unpack(f"<{len(base64.b64decode(encoded)) // 4}f", base64.b64decode(encoded))
    assert values == pytest.approx(floats.data[0].embedding, rel=1e-6)


def test_models_lists_configured_models_and_retrieves_one(gateway: Running) -> None:
    sdk = client(gateway)
    ids = {m.id for m in sdk.models.list()}
    assert {"gpt-4o-mini", "fallback-model", "text-embedding-3-small"} <= ids
    assert "keyless-model" not in ids
    model = sdk.models.retrieve("gpt-4o-mini")
    assert model.id == "gpt-4o-mini" and model.owned_by == "primary"
    with pytest.raises(openai.NotFoundError):
        sdk.models.retrieve("no-such-model")


def test_fallback_to_the_next_provider_is_invisible_to_the_client(gateway: Running) -> None:
    completion = client(gateway).chat.completions.create(
        model="fallback-model", messages=[{"role": "user", "content": "hi"}]
    )
    assert completion.choices[0].message.content


def test_streaming_falls_back_before_the_first_byte(gateway: Running) -> None:
    chunks = list(
        client(gateway).chat.completions.create(
            model="fallback-model", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_a_connection_error_falls_back_to_the_next_provider(gateway: Running) -> None:
    completion = client(gateway).chat.completions.create(
        model="dead-model", messages=[{"role": "user", "content": "hi"}]
    )
    assert completion.choices[0].message.content


def test_models_a_provider_reports_itself_are_listed_and_routable(gateway: Running) -> None:
    sdk = client(gateway)
    listed = {m.id: m.owned_by for m in sdk.models.list()}
    # gpt-4.1-mini is in no provider's `models`, only in the simulator's own /v1/models.
    assert listed["gpt-4.1-mini"] == "primary"
    completion = sdk.chat.completions.create(
        model="gpt-4.1-mini", messages=[{"role": "user", "content": "hi"}]
    )
    assert completion.choices[0].message.content


def test_provider_model_lists_are_cached_not_fetched_per_request(
    gateway: Running, sim_stats
) -> None:  # type: ignore[no-untyped-def]
    sdk = client(gateway)
    sdk.models.list()
    fetched = sim_stats()["requests"].get("/v1/models", 0)
    sdk.models.list()
    sdk.models.retrieve("gpt-4o-mini")
    assert sim_stats()["requests"].get("/v1/models", 0) == fetched


def test_the_response_says_which_provider_answered_and_after_how_many_calls(
    gateway: Running,
) -> None:
    raw = client(gateway).chat.completions.with_raw_response.create(
        model="fallback-model", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-proxyapi-provider"] == "backup"
    assert raw.headers["x-proxyapi-attempts"] == "2"
    direct = client(gateway).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    assert direct.headers["x-proxyapi-provider"] == "primary"
    assert direct.headers["x-proxyapi-attempts"] == "1"
