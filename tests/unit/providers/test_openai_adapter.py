"""The OpenAI adapter: what it sends, what it passes through, how it reads failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import orjson
import pytest

from proxyapi.errors import (
    ContextLengthExceeded,
    UpstreamAuthError,
    UpstreamRateLimited,
    UpstreamStatusError,
)
from proxyapi.providers.base import Deployment
from proxyapi.providers.openai import OpenAIAdapter, parse_retry_after
from proxyapi.transport.sse import SSEEvent

DEPLOYMENT = Deployment(
    name="openai",
    type="openai",
    base_url="https://api.openai.com/v1",
    api_key="sk-secret",
    models=("gpt-4o",),
    priority=1,
    timeout=30,
    headers={"X-Org": "acme"},
)


def test_chat_request_goes_to_chat_completions_with_bearer_auth_and_extra_headers() -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "seed": 1}
    request = OpenAIAdapter().build_chat(body, DEPLOYMENT)
    assert request.method == "POST"
    assert request.url == "https://api.openai.com/v1/chat/completions"
    assert request.headers["Authorization"] == "Bearer sk-secret"
    assert request.headers["X-Org"] == "acme"
    assert request.body is not None and orjson.loads(request.body) == body


def test_a_keyless_deployment_sends_no_authorization_header() -> None:
    keyless = Deployment(
        name="local",
        type="openai_compatible",
        base_url="http://localhost:11434/v1",
        api_key=None,
        models=("llama3",),
        priority=1,
        timeout=30,
    )
    assert "Authorization" not in OpenAIAdapter().build_chat({}, keyless).headers


def test_successful_bodies_pass_through_byte_for_byte() -> None:
    raw = b'{"id":"chatcmpl-1","object":"chat.completion"}'
    assert OpenAIAdapter().parse_chat(200, raw, {}) is raw


def test_stream_translator_passes_chunks_and_ends_with_one_done() -> None:
    translator = OpenAIAdapter().stream_translator({})
    assert translator.feed(SSEEvent(data=b'{"x":1}')) == [b'data: {"x":1}\n\n']
    assert translator.feed(SSEEvent(data=b"[DONE]")) == [b"data: [DONE]\n\n"]
    assert translator.close() == []


def test_stream_translator_adds_done_when_the_upstream_forgot_it() -> None:
    translator = OpenAIAdapter().stream_translator({})
    translator.feed(SSEEvent(data=b'{"x":1}'))
    assert translator.close() == [b"data: [DONE]\n\n"]


def error_body(
    message: str, code: str | None = None, type_: str = "invalid_request_error"
) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": type_, "param": None, "code": code}})


def test_429_is_rate_limited_and_retryable_with_retry_after() -> None:
    error = OpenAIAdapter().classify_error(
        429, {"retry-after": "3"}, error_body("slow down", "rate_limit_exceeded"), "openai"
    )
    assert isinstance(error, UpstreamRateLimited) and error.is_retryable
    assert error.retry_after == 3.0


def test_503_with_retry_after_is_retryable_and_sends_it_on() -> None:
    body = error_body("overloaded", type_="server_error")
    error = OpenAIAdapter().classify_error(503, {"retry-after-ms": "2500"}, body, "openai")
    assert isinstance(error, UpstreamStatusError) and error.is_retryable
    # Rounded up: waiting exactly as long as told must be long enough.
    assert error.retry_after == 2.5 and error.headers() == {"Retry-After": "3"}


def test_5xx_is_retryable_and_4xx_is_not() -> None:
    adapter = OpenAIAdapter()
    server = adapter.classify_error(503, {}, error_body("overloaded", type_="server_error"), "p")
    client = adapter.classify_error(400, {}, error_body("bad seed"), "p")
    assert isinstance(server, UpstreamStatusError) and server.is_retryable
    assert isinstance(client, UpstreamStatusError) and not client.is_retryable
    assert client.http_status == 400 and client.message == "bad seed"


def test_context_length_errors_are_classified_by_code_or_message() -> None:
    adapter = OpenAIAdapter()
    by_code = adapter.classify_error(
        400, {}, error_body("too long", "context_length_exceeded"), "p"
    )
    by_text = adapter.classify_error(
        400, {}, error_body("This model's maximum context length is 8192 tokens."), "p"
    )
    assert isinstance(by_code, ContextLengthExceeded)
    assert isinstance(by_text, ContextLengthExceeded)
    assert by_code.to_dict()["error"]["code"] == "context_length_exceeded"


@pytest.mark.parametrize("status", [401, 403])
def test_the_provider_refusing_our_key_never_repeats_its_message(status: int) -> None:
    error = OpenAIAdapter().classify_error(
        status, {}, error_body("Incorrect API key provided: sk-secret"), "openai"
    )
    assert isinstance(error, UpstreamAuthError) and error.is_retryable
    assert "sk-secret" not in error.message


def test_non_json_error_bodies_still_classify() -> None:
    error = OpenAIAdapter().classify_error(502, {}, b"<html>Bad Gateway</html>", "p")
    assert error.is_retryable and "Bad Gateway" in error.message


def test_retry_after_prefers_milliseconds() -> None:
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({}) is None


def test_retry_after_reads_an_http_date_as_the_time_left() -> None:
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after({"retry-after": soon}) == pytest.approx(30, abs=2)
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert parse_retry_after({"retry-after": "soon"}) is None


def test_openai_reset_headers_count_when_there_is_no_retry_after() -> None:
    headers = {"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "6m0s"}
    assert parse_retry_after(headers) == 360
    assert parse_retry_after({"x-ratelimit-reset-requests": "20ms"}) == pytest.approx(0.02)
    assert parse_retry_after({"x-ratelimit-reset-requests": "later"}) is None


def test_anthropic_reset_headers_are_rfc3339_times() -> None:
    reset = (datetime.now(UTC) + timedelta(seconds=12)).isoformat().replace("+00:00", "Z")
    assert parse_retry_after({"anthropic-ratelimit-requests-reset": reset}) == pytest.approx(
        12, abs=2
    )


def test_models_are_read_from_the_list_shape() -> None:
    raw = orjson.dumps({"object": "list", "data": [{"id": "a"}, {"id": "b"}, {"x": 1}]})
    assert OpenAIAdapter().parse_models(raw) == ["a", "b"]
