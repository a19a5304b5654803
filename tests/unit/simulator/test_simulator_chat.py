"""Non-streamed chat completions, checked by the official SDK and OpenAI's schema."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import orjson
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionMessageParam
from sse_reader import StartSimulator

from openai_schema import validate
from proxyapi.simulator import RunningSimulator

PROMPT = "Tell me something about the simulator please"
USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": PROMPT}]


async def post_json(http: aiohttp.ClientSession, url: str, body: object) -> tuple[int, Any]:
    async with http.post(url, json=body) as response:
        return response.status, await response.json()


async def test_plain_chat_matches_schema_and_echoes_the_user(
    simulator: RunningSimulator, http: aiohttp.ClientSession
) -> None:
    url = f"{simulator.url}/v1/chat/completions"
    status, body = await post_json(http, url, {"model": "gpt-4o-mini", "messages": USER})
    assert status == 200
    validate("CreateChatCompletionResponse", body)
    assert str(body["id"]).startswith("chatcmpl-") and len(str(body["id"])) == 9 + 24
    assert body["model"] == "gpt-4o-mini" and body["system_fingerprint"] == "fp_sim"


async def test_plain_chat_through_the_sdk(client: AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(model="gpt-4o", messages=USER)
    choice = completion.choices[0]
    assert choice.finish_reason == "stop" and choice.logprobs is None
    assert choice.message.content is not None
    assert choice.message.content.startswith(
        "Simulated reply to: Tell me something about the simul"
    )
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == -(-len(PROMPT) // 4)
    assert (
        completion.usage.total_tokens
        == completion.usage.prompt_tokens + completion.usage.completion_tokens
    )
    assert 20 <= completion.usage.completion_tokens <= 30


async def test_same_messages_give_the_same_text(client: AsyncOpenAI) -> None:
    first = await client.chat.completions.create(model="gpt-4o", messages=USER)
    second = await client.chat.completions.create(model="gpt-4o-mini", messages=USER)
    other = await client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "something else"}]
    )
    assert first.choices[0].message.content == second.choices[0].message.content
    assert first.choices[0].message.content != other.choices[0].message.content
    assert first.id != second.id


async def test_n_gives_distinct_choices(client: AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(model="gpt-4o", messages=USER, n=2)
    assert [choice.index for choice in completion.choices] == [0, 1]
    assert completion.choices[0].message.content != completion.choices[1].message.content


async def test_max_tokens_stops_with_length(client: AsyncOpenAI) -> None:
    legacy = await client.chat.completions.create(model="gpt-4o", messages=USER, max_tokens=5)
    current = await client.chat.completions.create(
        model="gpt-4o", messages=USER, max_completion_tokens=5
    )
    for completion in (legacy, current):
        assert completion.choices[0].finish_reason == "length"
        assert completion.usage is not None and completion.usage.completion_tokens <= 5


async def test_reply_tokens_header_sizes_the_reply(client: AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(
        model="gpt-4o",
        messages=USER,
        extra_headers={"x-sim-reply-tokens": "200"},
    )
    assert completion.usage is not None and 190 <= completion.usage.completion_tokens <= 200
    assert completion.choices[0].finish_reason == "stop"


async def test_stop_sequence_cuts_the_reply(client: AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(model="gpt-4o", messages=USER, stop=[" to:"])
    assert completion.choices[0].message.content == "Simulated reply"
    assert completion.choices[0].finish_reason == "stop"


async def test_json_object_response_format_is_json(client: AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(
        model="gpt-4o",
        messages=USER,
        response_format={"type": "json_object"},
    )
    content = completion.choices[0].message.content
    assert content is not None
    assert json.loads(content)["reply"].startswith("Simulated reply to:")


async def test_json_schema_response_format_follows_the_schema(client: AsyncOpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "age": {"type": "integer"},
            "tags": {"type": "array", "items": {"$ref": "#/$defs/tag"}},
            "unit": {"enum": ["c", "f"]},
        },
        "required": ["name", "age", "tags", "unit"],
        "$defs": {"tag": {"type": "string"}},
        "additionalProperties": False,
    }
    completion = await client.chat.completions.create(
        model="gpt-4o",
        messages=USER,
        response_format={"type": "json_schema", "json_schema": {"name": "p", "schema": schema}},
    )
    content = completion.choices[0].message.content
    assert content is not None
    assert json.loads(content) == {"name": "example", "age": 1, "tags": ["example"], "unit": "c"}


async def test_logprobs_only_when_requested(
    simulator: RunningSimulator, http: aiohttp.ClientSession
) -> None:
    url = f"{simulator.url}/v1/chat/completions"
    body = {"model": "gpt-4o", "messages": USER, "logprobs": True, "top_logprobs": 2}
    status, response = await post_json(http, url, body)
    assert status == 200
    validate("CreateChatCompletionResponse", response)
    choice = response["choices"][0]
    tokens = [entry["token"] for entry in choice["logprobs"]["content"]]
    assert "".join(tokens) == choice["message"]["content"]
    assert all(len(entry["top_logprobs"]) == 2 for entry in choice["logprobs"]["content"])


async def test_bad_requests_get_openai_400s(
    simulator: RunningSimulator, http: aiohttp.ClientSession
) -> None:
    url = f"{simulator.url}/v1/chat/completions"
    async with http.post(url, data=b"{not json", headers={"Content-Type": "application/json"}) as r:
        assert r.status == 400
        body = orjson.loads(await r.read())
        validate("ErrorResponse", body)
        assert "could not parse the JSON body" in body["error"]["message"]
    status, body = await post_json(http, url, {"messages": USER})
    assert status == 400 and body["error"]["message"] == "you must provide a model parameter"
    status, body = await post_json(http, url, {"model": "gpt-4o"})
    assert status == 400
    validate("ErrorResponse", body)
    assert body["error"]["code"] == "missing_required_parameter"
    assert body["error"]["param"] == "messages"
    status, body = await post_json(http, url, {"model": "gpt-4o", "messages": USER, "n": 0})
    assert status == 400 and body["error"]["param"] == "n"


async def test_unknown_model_is_accepted_unless_strict(
    start: StartSimulator, http: aiohttp.ClientSession
) -> None:
    lenient = await start()
    strict = await start(strict_models=True)
    request = {"model": "gpt-nonexistent", "messages": USER}
    status, _ = await post_json(http, f"{lenient.url}/v1/chat/completions", request)
    assert status == 200
    status, body = await post_json(http, f"{strict.url}/v1/chat/completions", request)
    assert status == 404
    validate("ErrorResponse", body)
    assert body["error"]["code"] == "model_not_found"


async def test_unknown_path_is_an_openai_404(
    simulator: RunningSimulator, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{simulator.url}/v1/nothing-here") as response:
        assert response.status == 404
        validate("ErrorResponse", await response.json())
