"""The Azure OpenAI adapter against recorded wire fixtures (tests/fixtures/azure/)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from openai_schema import validate
from proxyapi.errors import (
    ContextLengthExceeded,
    UpstreamAuthError,
    UpstreamRateLimited,
    UpstreamStatusError,
)
from proxyapi.providers.azure import DEFAULT_API_VERSION, AzureOpenAIAdapter
from proxyapi.providers.base import Deployment
from proxyapi.providers.registry import load_adapter
from proxyapi.transport.sse import SSEDecoder, SSEEvent

FIXTURES = Path(__file__).parents[2] / "fixtures" / "azure"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def deployment(**overrides: Any) -> Deployment:
    fields: dict[str, Any] = {
        "name": "azure",
        "type": "azure_openai",
        "base_url": "https://acme.openai.azure.com",
        "api_key": "azure-secret",
        "models": ("gpt-4o",),
        "priority": 1,
        "timeout": 30,
    }
    fields.update(overrides)
    return Deployment(**fields)


def translate(sse: bytes, request: dict[str, Any]) -> list[Any]:
    """Feed a recorded stream through a fresh translator; parse what comes out."""
    translator = AzureOpenAIAdapter().stream_translator(request)
    decoder = SSEDecoder()
    out: list[bytes] = []
    for event in decoder.feed(sse) + decoder.close():
        out.extend(translator.feed(event))
    out.extend(translator.close())
    payloads = [item.removeprefix(b"data: ").removesuffix(b"\n\n") for item in out]
    return [p.decode() if p == b"[DONE]" else orjson.loads(p) for p in payloads]


def expected_lines(name: str) -> list[Any]:
    lines = fixture(name).decode().splitlines()
    return [line if line == "[DONE]" else orjson.loads(line) for line in lines]


def test_the_registry_type_azure_openai_loads_this_adapter() -> None:
    assert isinstance(load_adapter("azure_openai"), AzureOpenAIAdapter)


def test_chat_goes_to_the_mapped_deployment_with_api_key_and_the_seeds_api_version() -> None:
    case = orjson.loads(fixture("chat_request.json"))
    config = case["deployment"]
    request = AzureOpenAIAdapter().build_chat(
        case["request"],
        deployment(
            base_url=config["base_url"],
            api_key=config["api_key"],
            deployments=config["deployments"],
            headers=config["headers"],
        ),
    )
    expected = case["upstream"]
    assert (request.method, request.url) == (expected["method"], expected["url"])
    assert dict(request.headers) == expected["headers"]
    assert "Authorization" not in request.headers
    assert request.body is not None and orjson.loads(request.body) == case["request"]


def test_api_version_from_config_wins_over_the_header_and_the_default_applies_last() -> None:
    body = {"model": "gpt-4o", "messages": []}
    adapter = AzureOpenAIAdapter()
    both = deployment(api_version="2025-01-01-preview", headers={"API-Version": "2023-05-15"})
    neither = deployment()
    assert adapter.build_chat(body, both).url.endswith("?api-version=2025-01-01-preview")
    assert "API-Version" not in adapter.build_chat(body, both).headers
    assert adapter.build_chat(body, neither).url.endswith(f"?api-version={DEFAULT_API_VERSION}")


def test_an_unmapped_model_is_its_own_deployment_name_and_is_quoted_in_the_path() -> None:
    request = AzureOpenAIAdapter().build_chat({"model": "my model/v2"}, deployment())
    assert "/openai/deployments/my%20model%2Fv2/chat/completions?" in request.url


def test_embeddings_go_to_the_deployments_embeddings_path() -> None:
    body = {"model": "embed", "input": "hi", "encoding_format": "base64"}
    request = AzureOpenAIAdapter().build_embeddings(body, deployment(deployments={"embed": "e3"}))
    assert request.url == (
        "https://acme.openai.azure.com/openai/deployments/e3/embeddings"
        f"?api-version={DEFAULT_API_VERSION}"
    )
    assert request.body is not None and orjson.loads(request.body) == body


def test_the_answer_names_the_clients_model_and_keeps_everything_else() -> None:
    raw = fixture("chat_response.json")
    out = orjson.loads(AzureOpenAIAdapter().parse_chat(200, raw, {"model": "gpt-4o"}))
    assert out == {**orjson.loads(raw), "model": "gpt-4o"}
    validate("CreateChatCompletionResponse", out)


def test_an_answer_already_naming_the_clients_model_passes_through_byte_for_byte() -> None:
    raw = b'{"id":"x","object":"chat.completion","model":"gpt-4o","choices":[]}'
    assert AzureOpenAIAdapter().parse_chat(200, raw, {"model": "gpt-4o"}) is raw


def test_embeddings_name_the_clients_model() -> None:
    raw = fixture("embeddings_response.json")
    out = orjson.loads(AzureOpenAIAdapter().parse_embeddings(200, raw, {"model": "my-embed"}))
    assert out["model"] == "my-embed"
    validate("CreateEmbeddingResponse", out)


def test_stream_drops_the_prompt_filter_chunk_renames_the_model_and_keeps_usage() -> None:
    request = {"model": "gpt-4o", "stream": True, "stream_options": {"include_usage": True}}
    chunks = translate(fixture("stream_tool_use.sse"), request)
    assert chunks == expected_lines("stream_tool_use.expected.jsonl")
    for chunk in chunks[:-1]:
        validate("CreateChatCompletionStreamResponse", chunk)


def test_stream_chunks_already_naming_the_model_pass_through_untouched() -> None:
    data = b'{"id":"c","model":"gpt-4o","choices":[{"index":0,"delta":{"content":"hi"}}]}'
    translator = AzureOpenAIAdapter().stream_translator({"model": "gpt-4o"})
    assert translator.feed(SSEEvent(data=data)) == [b"data: " + data + b"\n\n"]


def test_a_stream_error_event_passes_through_and_ends_the_stream_without_done() -> None:
    translator = AzureOpenAIAdapter().stream_translator({"model": "gpt-4o"})
    error = b'{"error":{"message":"boom","type":"server_error","param":null,"code":null}}'
    assert translator.feed(SSEEvent(data=error)) == [b"data: " + error + b"\n\n"]
    assert translator.close() == []


def test_a_stream_cut_without_done_still_ends_with_done() -> None:
    translator = AzureOpenAIAdapter().stream_translator({"model": "gpt-4o"})
    translator.feed(SSEEvent(data=b'{"model":"gpt-4o","choices":[{"index":0,"delta":{}}]}'))
    assert translator.close() == [b"data: [DONE]\n\n"]


def test_content_filter_400_keeps_its_status_and_code_and_is_not_retried() -> None:
    error = AzureOpenAIAdapter().classify_error(
        400, {}, fixture("error_content_filter.json"), "azure"
    )
    assert isinstance(error, UpstreamStatusError) and not error.is_retryable
    assert error.http_status == 400
    assert error.to_dict()["error"]["code"] == "content_filter"
    assert error.to_dict()["error"]["param"] == "prompt"


@pytest.mark.parametrize(
    ("headers", "seconds"), [({"retry-after": "6"}, 6.0), ({"retry-after-ms": "6500"}, 6.5)]
)
def test_429_is_retryable_with_azures_retry_after_headers(
    headers: dict[str, str], seconds: float
) -> None:
    error = AzureOpenAIAdapter().classify_error(
        429, headers, fixture("error_rate_limit.json"), "azure"
    )
    assert isinstance(error, UpstreamRateLimited) and error.is_retryable
    assert error.retry_after == seconds
    assert error.to_dict()["error"]["code"] == "rate_limit_exceeded"
    assert "exceeded token rate limit" in error.message


def test_context_length_is_classified_as_openais() -> None:
    error = AzureOpenAIAdapter().classify_error(
        400, {}, fixture("error_context_length.json"), "azure"
    )
    assert isinstance(error, ContextLengthExceeded)


def test_a_refused_key_is_an_auth_error_without_azures_message() -> None:
    body = b'{"error":{"code":"401","message":"Access denied due to invalid subscription key"}}'
    error = AzureOpenAIAdapter().classify_error(401, {}, body, "azure")
    assert isinstance(error, UpstreamAuthError) and "Access denied" not in error.message


def test_model_discovery_is_not_asked_of_azure() -> None:
    assert AzureOpenAIAdapter().build_models(deployment()) is None
