"""The models endpoints: the configured list, retrieve, and OpenAI's 404."""

from __future__ import annotations

import aiohttp
import openai
import pytest
from sse_reader import StartSimulator

from openai_schema import validate
from proxyapi.simulator import RunningSimulator
from proxyapi.simulator.knobs import DEFAULT_MODELS


async def test_list_and_retrieve(
    simulator: RunningSimulator, http: aiohttp.ClientSession, client: openai.AsyncOpenAI
) -> None:
    async with http.get(f"{simulator.url}/v1/models") as response:
        payload = await response.json()
    validate("ListModelsResponse", payload)
    assert [model["id"] for model in payload["data"]] == list(DEFAULT_MODELS)
    assert {model["owned_by"] for model in payload["data"]} == {"simulator"}
    model = await client.models.retrieve("gpt-4o")
    assert model.id == "gpt-4o" and model.object == "model"
    async with http.get(f"{simulator.url}/v1/models/gpt-4o") as response:
        validate("Model", await response.json())


async def test_unknown_model_retrieve_is_404(
    simulator: RunningSimulator, http: aiohttp.ClientSession, client: openai.AsyncOpenAI
) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await client.models.retrieve("gpt-unknown")
    assert caught.value.code == "model_not_found"
    async with http.get(f"{simulator.url}/v1/models/gpt-unknown") as response:
        assert response.status == 404
        validate("ErrorResponse", await response.json())


async def test_models_come_from_settings(
    start: StartSimulator, http: aiohttp.ClientSession
) -> None:
    simulator = await start(models=["m-one", "m-two"])
    async with http.get(f"{simulator.url}/v1/models") as response:
        payload = await response.json()
    assert [model["id"] for model in payload["data"]] == ["m-one", "m-two"]
