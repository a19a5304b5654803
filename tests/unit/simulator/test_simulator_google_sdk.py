"""The official google-genai SDK parses everything the simulator's Gemini routes send."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import orjson
import pytest
from google import genai
from google.genai import errors, types
from sse_reader import StartSimulator

from proxyapi.simulator import RunningSimulator

# google-genai subclasses aiohttp.ClientSession when aiohttp is installed; aiohttp warns.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Inheritance class AiohttpClientSession from ClientSession:DeprecationWarning"
)
MakeClient = Callable[..., Awaitable[genai.client.AsyncClient]]
WEATHER = types.Tool(
    function_declarations=[
        types.FunctionDeclaration(
            name="get_weather",
            description="Current weather in a city",
            parameters=types.Schema(
                type=types.Type.OBJECT,
                properties={"city": types.Schema(type=types.Type.STRING)},
                required=["city"],
            ),
        )
    ]
)
THINKING = types.ThinkingConfig(include_thoughts=True, thinking_budget=1024)


@pytest.fixture
async def make_client(simulator: RunningSimulator) -> AsyncIterator[MakeClient]:
    """Async SDK clients on the simulator (``base_url`` + ``api_version``); closed at teardown."""
    clients: list[genai.client.AsyncClient] = []

    async def make(
        url: str | None = None, api_key: str = "x", **headers: str
    ) -> genai.client.AsyncClient:
        options = types.HttpOptions(
            base_url=url or simulator.url, api_version="v1beta", headers=headers
        )
        client = genai.Client(api_key=api_key, http_options=options).aio
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def test_generate_content_returns_text_usage_and_ids(make_client: MakeClient) -> None:
    client = await make_client()
    response = await client.models.generate_content(
        model="gemini-2.5-flash", contents="Tell me about the simulator"
    )
    assert response.text is not None
    assert response.text.startswith("Simulated reply to: Tell me about the simulator")
    assert response.candidates is not None
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    assert response.usage_metadata is not None
    assert response.usage_metadata.prompt_token_count == -(-len("Tell me about the simulator") // 4)
    assert response.response_id and response.model_version == "gemini-2.5-flash"


async def test_system_instruction_and_multi_turn_history_are_accepted(
    make_client: MakeClient,
) -> None:
    client = await make_client()
    contents = [
        types.Content(role="user", parts=[types.Part(text="Hi")]),
        types.Content(role="model", parts=[types.Part(text="Hello!")]),
        types.Content(role="user", parts=[types.Part(text="Second question")]),
    ]
    response = await client.models.generate_content(
        model="gemini-2.5-pro",
        contents=contents,
        config=types.GenerateContentConfig(system_instruction="Be terse", max_output_tokens=5),
    )
    assert response.text is not None and response.text.startswith("Simulated")
    assert response.candidates is not None
    assert response.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS


async def test_an_inline_image_is_seen_by_the_model(make_client: MakeClient) -> None:
    client = await make_client()
    image = types.Part.from_bytes(data=b"\x89PNG\r\n", mime_type="image/png")
    response = await client.models.generate_content(
        model="gemini-2.5-flash", contents=[image, "What is this?"]
    )
    assert response.text is not None and "[image/png]" in response.text


async def test_the_stream_carries_the_same_text_in_several_chunks(make_client: MakeClient) -> None:
    client = await make_client()
    whole = await client.models.generate_content(model="gemini-2.5-flash", contents="Stream it")
    chunks = [
        chunk
        async for chunk in await client.models.generate_content_stream(
            model="gemini-2.5-flash", contents="Stream it"
        )
    ]
    assert len(chunks) > 2
    assert "".join(chunk.text or "" for chunk in chunks) == whole.text
    last = chunks[-1]
    assert (
        last.candidates is not None and last.candidates[0].finish_reason == types.FinishReason.STOP
    )
    assert last.usage_metadata is not None and last.usage_metadata.candidates_token_count


async def test_a_function_call_is_parsed_with_its_arguments(make_client: MakeClient) -> None:
    client = await make_client()
    response = await client.models.generate_content(
        model="gemini-2.5-flash",
        contents="What is the weather in Paris?",
        config=types.GenerateContentConfig(tools=[WEATHER]),
    )
    assert response.function_calls is not None
    call = response.function_calls[0]
    assert call.name == "get_weather" and call.args == {"city": "example"}


async def test_a_streamed_function_call_is_parsed(make_client: MakeClient) -> None:
    client = await make_client()
    stream = await client.models.generate_content_stream(
        model="gemini-2.5-flash",
        contents="Weather please",
        config=types.GenerateContentConfig(tools=[WEATHER]),
    )
    calls = [call async for chunk in stream for call in chunk.function_calls or []]
    assert [call.name for call in calls] == ["get_weather"]


async def test_a_function_response_gets_a_text_answer(make_client: MakeClient) -> None:
    client = await make_client()
    contents = [
        types.Content(role="user", parts=[types.Part(text="Weather in Paris?")]),
        types.Content(
            role="model",
            parts=[types.Part.from_function_call(name="get_weather", args={"city": "Paris"})],
        ),
        types.Content(
            role="user",
            parts=[
                types.Part.from_function_response(name="get_weather", response={"sky": "clear"})
            ],
        ),
    ]
    response = await client.models.generate_content(
        model="gemini-2.5-flash",
        contents=contents,
        config=types.GenerateContentConfig(tools=[WEATHER]),
    )
    assert response.text is not None and response.text.startswith('The tool returned: {"sky"')


async def test_thoughts_come_back_as_thought_parts_when_asked_for(make_client: MakeClient) -> None:
    client = await make_client()
    response = await client.models.generate_content(
        model="gemini-2.5-flash",
        contents="Think first",
        config=types.GenerateContentConfig(thinking_config=THINKING),
    )
    assert response.candidates is not None and response.candidates[0].content is not None
    parts = response.candidates[0].content.parts or []
    assert parts[0].thought is True and parts[0].text is not None
    assert parts[0].text.startswith("Thinking about: Think first")
    assert response.text is not None and response.text.startswith("Simulated reply")
    assert response.usage_metadata is not None and response.usage_metadata.thoughts_token_count


async def test_gemini_3_function_calls_carry_a_signature_that_must_come_back(
    make_client: MakeClient,
) -> None:
    client = await make_client()
    config = types.GenerateContentConfig(tools=[WEATHER])
    ask = types.Content(role="user", parts=[types.Part(text="Weather in Paris?")])
    first = await client.models.generate_content(
        model="gemini-3-pro-preview", contents=[ask], config=config
    )
    assert first.candidates is not None and first.candidates[0].content is not None
    model_turn = first.candidates[0].content
    assert model_turn.parts is not None and model_turn.parts[0].thought_signature
    answer = types.Content(
        role="user",
        parts=[types.Part.from_function_response(name="get_weather", response={"t": 1})],
    )
    second = await client.models.generate_content(
        model="gemini-3-pro-preview", contents=[ask, model_turn, answer], config=config
    )
    assert second.text is not None
    unsigned = types.Content(
        role="model",
        parts=[types.Part.from_function_call(name="get_weather", args={"city": "Paris"})],
    )
    with pytest.raises(errors.ClientError) as caught:
        await client.models.generate_content(
            model="gemini-3-pro-preview", contents=[ask, unsigned, answer], config=config
        )
    assert caught.value.code == 400 and "thought_signature" in str(caught.value.message)


async def test_embed_content_returns_one_vector_per_input(make_client: MakeClient) -> None:
    client = await make_client()
    response = await client.models.embed_content(
        model="gemini-embedding-001",
        contents=["first text", "second text"],
        config=types.EmbedContentConfig(output_dimensionality=8),
    )
    assert response.embeddings is not None and len(response.embeddings) == 2
    values = [embedding.values or [] for embedding in response.embeddings]
    assert [len(vector) for vector in values] == [8, 8]
    assert values[0] != values[1]


async def test_models_are_listed_in_googles_shape(make_client: MakeClient) -> None:
    client = await make_client()
    names = [model.name async for model in await client.models.list()]
    assert "models/gemini-2.5-flash" in names and "models/gpt-4o-mini" not in names
    model = await client.models.get(model="gemini-2.5-pro")
    assert model.supported_actions == ["generateContent", "countTokens"]


@pytest.mark.parametrize(
    ("status", "error_class", "google_status"),
    [
        ("429", errors.ClientError, "RESOURCE_EXHAUSTED"),
        ("400", errors.ClientError, "INVALID_ARGUMENT"),
        ("500", errors.ServerError, "INTERNAL"),
        ("503", errors.ServerError, "UNAVAILABLE"),
    ],
)
async def test_injected_errors_raise_the_sdks_error_classes(
    make_client: MakeClient, status: str, error_class: type[errors.APIError], google_status: str
) -> None:
    client = await make_client(**{"x-sim-error-status": status, "x-sim-retry-after": "7"})
    with pytest.raises(error_class) as caught:
        await client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert caught.value.code == int(status) and caught.value.status == google_status
    if status == "429":
        details = caught.value.details["error"]["details"]
        assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"} in details


async def test_the_context_window_knob_answers_with_geminis_token_limit_error(
    make_client: MakeClient,
) -> None:
    client = await make_client(**{"x-sim-context-window": "4"})
    with pytest.raises(errors.ClientError) as caught:
        await client.models.generate_content(model="gemini-2.5-flash", contents="x" * 100)
    assert caught.value.code == 400
    assert caught.value.message == (
        "The input token count (25) exceeds the maximum number of tokens allowed (4)."
    )


async def test_an_error_mid_stream_raises_from_the_iterator(make_client: MakeClient) -> None:
    client = await make_client(**{"x-sim-error-after-chunks": "1"})
    stream = await client.models.generate_content_stream(
        model="gemini-2.5-flash", contents="Stream then fail"
    )
    received = []
    with pytest.raises(errors.ServerError) as caught:
        async for chunk in stream:
            received.append(chunk)
    assert len(received) == 1 and caught.value.status == "INTERNAL"


async def test_a_wrong_key_is_googles_400_and_a_missing_key_its_403(
    start: StartSimulator, make_client: MakeClient, http: aiohttp.ClientSession
) -> None:
    simulator = await start(api_key="AIza-right")
    good = await make_client(simulator.url, api_key="AIza-right")
    assert (await good.models.generate_content(model="gemini-2.5-flash", contents="hi")).text
    bad = await make_client(simulator.url, api_key="AIza-wrong")
    with pytest.raises(errors.ClientError) as caught:
        await bad.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert caught.value.code == 400
    assert caught.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    url = f"{simulator.url}/v1beta/models/gemini-2.5-flash:generateContent"
    body = {"contents": [{"parts": [{"text": "hi"}]}]}
    async with http.post(url, json=body) as response:
        assert response.status == 403
        assert (await response.json())["error"]["status"] == "PERMISSION_DENIED"
    async with http.post(url + "?key=AIza-right", json=body) as response:
        assert response.status == 200


async def post(http: aiohttp.ClientSession, url: str, body: Any) -> tuple[int, Any]:
    async with http.post(url, data=orjson.dumps(body)) as response:
        return response.status, await response.json(content_type=None)


async def test_json_schema_keys_outside_geminis_schema_are_refused_like_google_does(
    simulator: RunningSimulator, http: aiohttp.ClientSession
) -> None:
    parameters = {"type": "object", "additionalProperties": False, "properties": {}}
    body = {
        "contents": [{"parts": [{"text": "hi"}]}],
        "tools": [{"functionDeclarations": [{"name": "f", "parameters": parameters}]}],
    }
    url = f"{simulator.url}/v1beta/models/gemini-2.5-flash:generateContent"
    status, error = await post(http, url, body)
    assert status == 400 and error["error"]["status"] == "INVALID_ARGUMENT"
    assert 'Unknown name "additionalProperties"' in error["error"]["message"]


async def test_unknown_generation_config_fields_are_refused(
    simulator: RunningSimulator, http: aiohttp.ClientSession
) -> None:
    body = {"contents": [{"parts": [{"text": "hi"}]}], "generationConfig": {"maxTokens": 5}}
    url = f"{simulator.url}/v1beta/models/gemini-2.5-flash:generateContent"
    status, error = await post(http, url, body)
    assert status == 400 and "maxTokens" in error["error"]["message"]


async def test_stream_without_alt_sse_is_one_json_array(
    simulator: RunningSimulator, http: aiohttp.ClientSession
) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "array please"}]}]}
    url = f"{simulator.url}/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    status, chunks = await post(http, url, body)
    assert status == 200 and isinstance(chunks, list) and len(chunks) > 1
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"


async def test_the_sse_stream_uses_crlf_framed_data_events(
    simulator: RunningSimulator, http: aiohttp.ClientSession
) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "sse please"}]}]}
    url = f"{simulator.url}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    async with http.post(url, json=body) as response:
        assert response.content_type == "text/event-stream"
        raw = await response.read()
    events = [event for event in raw.split(b"\r\n\r\n") if event]
    assert all(event.startswith(b"data: {") for event in events)
    assert orjson.loads(events[-1][6:])["candidates"][0]["finishReason"] == "STOP"
