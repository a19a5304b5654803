"""What the gateway sends matches OpenAI's published schemas, each SSE chunk on its own."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from processes import Running

from openai_schema import validate

pytestmark = pytest.mark.integration

TOOLS = [
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


def chat(**extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], **extra}


def sse_chunks(gateway: Running, body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every ``data:`` payload but the final ``[DONE]``, parsed; asserts the framing too."""
    response = httpx.post(gateway.url + "/v1/chat/completions", json=body, timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [e for e in response.text.split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    assert all(e.startswith("data: ") for e in events)
    return [orjson.loads(e[len("data: ") :]) for e in events[:-1]]


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"n": 2},
        {"max_tokens": 3},
        {"tools": TOOLS, "tool_choice": "required"},
        {"logprobs": True},
    ],
)
def test_chat_completions_match_the_schema(gateway: Running, extra: dict[str, Any]) -> None:
    response = httpx.post(gateway.url + "/v1/chat/completions", json=chat(**extra))
    assert response.status_code == 200
    validate("CreateChatCompletionResponse", response.json())


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"stream_options": {"include_usage": True}},
        {"tools": TOOLS, "tool_choice": "required"},
        {"n": 2, "max_tokens": 4},
    ],
)
def test_every_stream_chunk_matches_the_schema(gateway: Running, extra: dict[str, Any]) -> None:
    chunks = sse_chunks(gateway, chat(stream=True, **extra))
    assert chunks
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk)


def test_embeddings_match_the_schema(gateway: Running) -> None:
    body = {"model": "text-embedding-3-small", "input": ["a", "b"], "encoding_format": "float"}
    response = httpx.post(gateway.url + "/v1/embeddings", json=body)
    validate("CreateEmbeddingResponse", response.json())


def test_models_match_the_schema(gateway: Running) -> None:
    validate("ListModelsResponse", httpx.get(gateway.url + "/v1/models").json())
    validate("Model", httpx.get(gateway.url + "/v1/models/gpt-4o-mini").json())


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", b"{"),
        ("/v1/chat/completions", orjson.dumps(chat(model="nope"))),
        ("/v1/chat/completions", orjson.dumps(chat(model="all-fail-model"))),
        ("/v1/chat/completions", orjson.dumps(chat(model="slow-model"))),
        ("/v1/embeddings", b'{"model": "text-embedding-3-small"}'),
    ],
)
def test_errors_match_the_schema(gateway: Running, path: str, body: bytes) -> None:
    response = httpx.post(
        gateway.url + path, content=body, headers={"Content-Type": "application/json"}, timeout=30
    )
    assert response.status_code >= 400
    validate("ErrorResponse", response.json())
