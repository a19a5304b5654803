"""The simulator's Cohere v2 format, checked by the official ``cohere.AsyncClientV2``."""

from __future__ import annotations

import base64
import struct
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import cohere
import httpx
import pytest
from openai import AsyncOpenAI
from sse_reader import StartSimulator

from proxyapi.simulator import RunningSimulator

MODEL = "command-a-03-2025"
NO_RETRIES: Any = {"max_retries": 0}
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


MakeClient = Callable[..., cohere.AsyncClientV2]


def user(text: str) -> Any:
    """One user turn, as the SDK accepts it (a plain dict, typed loosely for mypy)."""
    return [{"role": "user", "content": text}]


@pytest.fixture
async def co_client() -> AsyncIterator[MakeClient]:
    """Cohere clients on httpx clients this fixture closes."""
    sessions: list[httpx.AsyncClient] = []

    def make(simulator: RunningSimulator, api_key: str = "co-key") -> cohere.AsyncClientV2:
        sessions.append(httpx.AsyncClient(timeout=30))
        return cohere.AsyncClientV2(
            api_key=api_key, base_url=simulator.url, httpx_client=sessions[-1]
        )

    yield make
    for session in sessions:
        await session.aclose()


@pytest.fixture
def co(simulator: RunningSimulator, co_client: MakeClient) -> cohere.AsyncClientV2:
    return co_client(simulator)


async def test_chat_answers_with_text_content_and_usage(co: cohere.AsyncClientV2) -> None:
    response = await co.chat(model=MODEL, messages=user("Hello Cohere"))
    assert response.finish_reason == "COMPLETE"
    assert response.message.content is not None
    text = response.message.content[0]
    assert text.type == "text" and "Hello Cohere" in text.text
    assert response.usage is not None and response.usage.tokens is not None
    assert (response.usage.tokens.output_tokens or 0) > 0


async def test_max_tokens_cuts_the_answer_with_max_tokens(co: cohere.AsyncClientV2) -> None:
    response = await co.chat(model=MODEL, messages=user("Talk a lot"), max_tokens=3)
    assert response.finish_reason == "MAX_TOKENS"


async def test_stream_events_arrive_in_cohere_order_with_the_same_text(
    co: cohere.AsyncClientV2,
) -> None:
    messages: Any = [{"role": "user", "content": "Stream from Cohere"}]
    whole = await co.chat(model=MODEL, messages=messages)
    events = [event async for event in co.chat_stream(model=MODEL, messages=messages)]
    kinds = [event.type for event in events]
    assert kinds[:2] == ["message-start", "content-start"]
    assert kinds[-2:] == ["content-end", "message-end"]
    text = "".join(
        event.delta.message.content.text or ""
        for event in events
        if event.type == "content-delta"
        and event.delta
        and event.delta.message
        and event.delta.message.content
    )
    assert whole.message.content is not None
    assert text == whole.message.content[0].text  # type: ignore[union-attr]
    end = events[-1]
    assert end.type == "message-end" and end.delta is not None
    assert end.delta.finish_reason == "COMPLETE" and end.delta.usage is not None


async def test_a_tool_call_round_trip_parses_both_ways(co: cohere.AsyncClientV2) -> None:
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = await co.chat(model=MODEL, messages=messages, tools=WEATHER_TOOL)
    assert first.finish_reason == "TOOL_CALL"
    assert first.message.tool_plan
    (call,) = first.message.tool_calls or []
    assert call.function is not None and call.function.name == "get_weather"
    assert call.id.startswith("get_weather_")
    messages.append(
        {"role": "assistant", "tool_plan": first.message.tool_plan, "tool_calls": [call]}
    )
    messages.append({"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 21}'})
    final = await co.chat(model=MODEL, messages=messages, tools=WEATHER_TOOL)
    assert final.finish_reason == "COMPLETE"
    assert final.message.content is not None
    assert "The tool returned" in final.message.content[0].text  # type: ignore[union-attr]


async def test_streamed_tool_calls_carry_plan_id_name_and_arguments(
    co: cohere.AsyncClientV2,
) -> None:
    events = [
        event
        async for event in co.chat_stream(
            model=MODEL,
            messages=user("weather in Oslo?"),
            tools=WEATHER_TOOL,
            tool_choice="REQUIRED",
        )
    ]
    kinds = [event.type for event in events]
    assert kinds[0] == "message-start" and "tool-plan-delta" in kinds
    assert kinds[-3:] == ["tool-call-delta", "tool-call-end", "message-end"]
    start = next(e for e in events if e.type == "tool-call-start")
    assert start.delta and start.delta.message and start.delta.message.tool_calls
    assert start.delta.message.tool_calls.function is not None
    assert start.delta.message.tool_calls.function.name == "get_weather"
    arguments = "".join(
        e.delta.message.tool_calls.function.arguments or ""
        for e in events
        if e.type == "tool-call-delta"
        and e.delta
        and e.delta.message
        and e.delta.message.tool_calls
        and e.delta.message.tool_calls.function
    )
    assert '"city"' in arguments
    assert events[-1].delta.finish_reason == "TOOL_CALL"  # type: ignore[union-attr]


@pytest.mark.parametrize("kinds", [["float"], ["base64"], ["float", "int8", "uint8"]])
async def test_embed_returns_each_requested_type(
    co: cohere.AsyncClientV2, kinds: list[Any]
) -> None:
    response = await co.embed(
        model="embed-v4.0",
        texts=["hello", "goodbye"],
        input_type="search_document",
        embedding_types=kinds,
        output_dimension=256,
    )
    embeddings = response.embeddings
    if "float" in kinds:
        assert embeddings.float_ is not None and len(embeddings.float_[0]) == 256
    if "base64" in kinds:
        assert embeddings.base64 is not None
        assert len(struct.unpack("<256f", base64.b64decode(embeddings.base64[1]))) == 256
    assert response.meta is not None and response.meta.billed_units is not None


async def test_embed_without_input_type_is_a_400_in_coheres_shape(
    simulator: RunningSimulator,
) -> None:
    async with aiohttp.ClientSession() as http:
        body = {"model": "embed-v4.0", "texts": ["x"]}
        async with http.post(f"{simulator.url}/v2/embed", json=body) as response:
            assert response.status == 400
            error = await response.json()
    assert set(error) == {"id", "message"} and "input_type" in error["message"]


async def test_models_list_parses_in_cohere_shape(co: cohere.AsyncClientV2) -> None:
    page = await co.models.list(endpoint="embed")
    names = [model.name for model in page.models]
    assert names and all(name and "embed" in name for name in names)


async def test_the_openai_models_route_still_answers_openai_clients(
    simulator: RunningSimulator,
) -> None:
    async with AsyncOpenAI(base_url=f"{simulator.url}/v1", api_key="sk", max_retries=0) as sdk:
        page = await sdk.models.list()
    assert page.data and page.data[0].object == "model"


async def test_a_prompt_over_the_context_window_says_too_many_tokens(
    co: cohere.AsyncClientV2,
) -> None:
    with pytest.raises(cohere.BadRequestError) as raised:
        await co.chat(
            model=MODEL,
            messages=user("word " * 100),
            request_options={
                "max_retries": 0,
                "additional_headers": {"x-sim-context-window": "20"},
            },
        )
    assert raised.value.body["message"].startswith("too many tokens: size limit exceeded by")
    assert set(raised.value.body) == {"id", "message"}


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, cohere.BadRequestError),
        (404, cohere.NotFoundError),
        (422, cohere.UnprocessableEntityError),
        (429, cohere.TooManyRequestsError),
        (500, cohere.InternalServerError),
        (503, cohere.ServiceUnavailableError),
    ],
)
async def test_injected_errors_raise_the_sdks_exception_for_their_status(
    co: cohere.AsyncClientV2, status: int, error_class: type[Exception]
) -> None:
    options: Any = {"max_retries": 0, "additional_headers": {"x-sim-error-status": str(status)}}
    with pytest.raises(error_class):
        await co.chat(model=MODEL, messages=user("x"), request_options=options)


async def test_a_wrong_key_is_unauthorized(start: StartSimulator, co_client: MakeClient) -> None:
    simulator = await start(api_key="right-key")
    with pytest.raises(cohere.UnauthorizedError) as raised:
        await co_client(simulator, "wrong").chat(
            model=MODEL, messages=user("x"), request_options=NO_RETRIES
        )
    assert raised.value.body["message"] == "invalid api token"
    await co_client(simulator, "right-key").chat(model=MODEL, messages=user("x"))


async def test_a_stream_failing_midway_ends_with_an_error_message_end(
    co: cohere.AsyncClientV2,
) -> None:
    options: Any = {"additional_headers": {"x-sim-error-after-chunks": "3"}}
    events = [
        event
        async for event in co.chat_stream(model=MODEL, messages=user("x"), request_options=options)
    ]
    assert len(events) == 4
    assert events[-1].type == "message-end" and events[-1].delta is not None
    assert events[-1].delta.finish_reason == "ERROR" and events[-1].delta.error


async def test_raw_stream_events_name_their_type(simulator: RunningSimulator) -> None:
    body = {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{simulator.url}/v2/chat", json=body) as response:
            assert response.headers["Content-Type"].startswith("text/event-stream")
            text = (await response.read()).decode()
    blocks = [block for block in text.split("\n\n") if block]
    assert blocks[-1] == "data: [DONE]"
    for block in blocks[:-1]:
        event_line, data_line = block.split("\n")
        name = event_line.removeprefix("event: ")
        assert data_line.startswith("data: {") and f'"type":"{name}"' in data_line
