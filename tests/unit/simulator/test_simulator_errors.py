"""Injected errors, the context window and API-key checks, in OpenAI's real shapes."""

from __future__ import annotations

import aiohttp
import openai
import pytest
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionMessageParam
from sse_reader import StartSimulator

from openai_schema import validate
from proxyapi.simulator import RunningSimulator

USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hello"}]


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (403, openai.PermissionDeniedError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
async def test_injected_status_raises_the_matching_sdk_error(
    start: StartSimulator, status: int, error_class: type[openai.APIStatusError]
) -> None:
    simulator = await start(error_status=status, error_rate=1.0)
    async with AsyncOpenAI(base_url=f"{simulator.url}/v1", api_key="k", max_retries=0) as sdk:
        with pytest.raises(error_class) as caught:
            await sdk.chat.completions.create(model="gpt-4o", messages=USER)
    assert caught.value.status_code == status
    validate("ErrorResponse", {"error": caught.value.body})


async def test_rate_limit_has_retry_after_and_openai_body(
    simulator: RunningSimulator, http: aiohttp.ClientSession
) -> None:
    headers = {"x-sim-error-status": "429", "x-sim-retry-after": "7"}
    body = {"model": "gpt-4o-mini", "messages": USER}
    async with http.post(
        f"{simulator.url}/v1/chat/completions", json=body, headers=headers
    ) as response:
        assert response.status == 429
        assert response.headers["retry-after"] == "7"
        payload = await response.json()
    validate("ErrorResponse", payload)
    assert payload["error"]["code"] == "rate_limit_exceeded"
    assert payload["error"]["message"].startswith("Rate limit reached for gpt-4o-mini")


async def test_overloaded_503_message(client: AsyncOpenAI) -> None:
    with pytest.raises(openai.InternalServerError, match="overloaded or not ready yet"):
        await client.chat.completions.create(
            model="gpt-4o", messages=USER, extra_headers={"x-sim-error-status": "503"}
        )


async def test_seeded_error_rate_is_reproducible(
    start: StartSimulator, http: aiohttp.ClientSession
) -> None:
    async def statuses(simulator: RunningSimulator) -> list[int]:
        seen = []
        for _ in range(20):
            async with http.get(f"{simulator.url}/v1/models") as response:
                seen.append(response.status)
        return seen

    first = await statuses(await start(error_rate=0.5, error_status=500, seed=7))
    second = await statuses(await start(error_rate=0.5, error_status=500, seed=7))
    assert first == second and {200, 500} == set(first)


async def test_context_window_exceeded(client: AsyncOpenAI) -> None:
    big: list[ChatCompletionMessageParam] = [{"role": "user", "content": "x" * 4000}]
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(
            model="gpt-4o", messages=big, extra_headers={"x-sim-context-window": "500"}
        )
    error = caught.value
    assert error.code == "context_length_exceeded" and error.param == "messages"
    assert isinstance(error.body, dict)
    assert error.body["message"] == (
        "This model's maximum context length is 500 tokens. However, your messages "
        "resulted in 1000 tokens. Please reduce the length of the messages."
    )
    with pytest.raises(openai.BadRequestError, match=r"you requested 1100 tokens"):
        await client.chat.completions.create(
            model="gpt-4o",
            messages=big,
            max_tokens=100,
            extra_headers={"x-sim-context-window": "1050"},
        )


async def test_api_key_is_enforced_and_masked(start: StartSimulator) -> None:
    key = "sk-simulator-secret-1234"
    simulator = await start(api_key=key)
    base_url = f"{simulator.url}/v1"
    async with AsyncOpenAI(base_url=base_url, api_key="sk-wrong-key-abcdef", max_retries=0) as sdk:
        with pytest.raises(openai.AuthenticationError) as caught:
            await sdk.models.list()
    assert caught.value.code == "invalid_api_key"
    assert "sk-wr***cdef" in caught.value.message
    assert "sk-wrong-key-abcdef" not in caught.value.message
    async with AsyncOpenAI(base_url=base_url, api_key=key, max_retries=0) as sdk:
        models = await sdk.models.list()
    assert models.data


async def test_missing_api_key_is_401(start: StartSimulator, http: aiohttp.ClientSession) -> None:
    simulator = await start(api_key="sk-simulator-secret-1234")
    async with http.get(f"{simulator.url}/v1/models") as response:
        assert response.status == 401
        payload = await response.json()
    validate("ErrorResponse", payload)
    assert payload["error"]["message"].startswith("You didn't provide an API key.")


async def test_invalid_knob_header_is_400(
    simulator: RunningSimulator, http: aiohttp.ClientSession
) -> None:
    headers = {"x-sim-error-rate": "2"}
    async with http.get(f"{simulator.url}/v1/models", headers=headers) as response:
        assert response.status == 400
        payload = await response.json()
    validate("ErrorResponse", payload)
    assert payload["error"]["param"] == "x-sim-error-rate"
