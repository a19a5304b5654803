"""Embeddings: input forms, dimensions, float and base64 encodings, determinism."""

from __future__ import annotations

import math

import aiohttp
from openai import AsyncOpenAI

from openai_schema import validate
from proxyapi.simulator import RunningSimulator


async def test_float_embeddings_are_unit_and_deterministic(client: AsyncOpenAI) -> None:
    response = await client.embeddings.create(
        model="text-embedding-3-small", input=["hello", "world", "hello"], encoding_format="float"
    )
    vectors = [item.embedding for item in response.data]
    assert [item.index for item in response.data] == [0, 1, 2]
    assert all(len(vector) == 1536 for vector in vectors)
    assert vectors[0] == vectors[2] and vectors[0] != vectors[1]
    assert math.isclose(math.fsum(v * v for v in vectors[0]), 1.0, rel_tol=1e-5)
    assert response.usage.prompt_tokens == 2 + 2 + 2 == response.usage.total_tokens


async def test_sdk_default_base64_decodes_to_the_float_vector(client: AsyncOpenAI) -> None:
    as_float = await client.embeddings.create(
        model="text-embedding-3-large", input="hello", encoding_format="float"
    )
    by_default = await client.embeddings.create(model="text-embedding-3-large", input="hello")
    assert len(by_default.data[0].embedding) == 3072
    assert by_default.data[0].embedding == as_float.data[0].embedding


async def test_dimensions_and_token_inputs(client: AsyncOpenAI) -> None:
    response = await client.embeddings.create(
        model="text-embedding-3-small", input=[[1, 2, 3], [4, 5]], dimensions=256
    )
    assert [len(item.embedding) for item in response.data] == [256, 256]
    assert response.usage.prompt_tokens == 5
    single = await client.embeddings.create(model="text-embedding-3-small", input=[1, 2, 3])
    assert len(single.data) == 1


async def test_raw_bodies_match_schema(
    simulator: RunningSimulator, http: aiohttp.ClientSession
) -> None:
    url = f"{simulator.url}/v1/embeddings"
    for encoding in ("float", "base64"):
        body = {"model": "text-embedding-3-small", "input": "hi", "encoding_format": encoding}
        async with http.post(url, json=body) as response:
            assert response.status == 200
            payload = await response.json()
        if encoding == "float":
            validate("CreateEmbeddingResponse", payload)
        else:
            assert isinstance(payload["data"][0]["embedding"], str)
    async with http.post(url, json={"model": "text-embedding-3-small", "input": []}) as response:
        assert response.status == 400
        payload = await response.json()
        validate("ErrorResponse", payload)
        assert payload["error"]["param"] == "input"
