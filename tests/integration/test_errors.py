"""Every failure answers in OpenAI's error shape, with the status an SDK expects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from processes import SIM_KEY, Running, serving, sim_provider

pytestmark = pytest.mark.integration

CHAT = "/v1/chat/completions"


def post(gateway: Running, body: bytes | dict[str, Any], **headers: str) -> httpx.Response:
    sent_headers = {"Content-Type": "application/json", **headers}
    if isinstance(body, dict):
        return httpx.post(gateway.url + CHAT, json=body, headers=sent_headers, timeout=30)
    return httpx.post(gateway.url + CHAT, content=body, headers=sent_headers, timeout=30)


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    error: dict[str, Any] = body["error"]
    return error


def hello(model: str = "gpt-4o-mini") -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}]}


def test_malformed_json_is_400(gateway: Running) -> None:
    response = post(gateway, b'{"model": "gpt-4o-mini", "messages": [')
    assert response.status_code == 400
    assert "not valid JSON" in error_of(response)["message"]


def test_a_body_that_is_not_an_object_is_400(gateway: Running) -> None:
    response = post(gateway, b"[1, 2]")
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": [{"role": "user", "content": "hi"}]}, "model"),
        ({"model": "gpt-4o-mini"}, "messages"),
        ({"model": 42, "messages": [{"role": "user", "content": "hi"}]}, "model"),
        ({"model": "gpt-4o-mini", "messages": "hi"}, "messages"),
        ({"model": "gpt-4o-mini", "messages": [{"content": "hi"}]}, "messages[0].role"),
        (
            {"model": "gpt-4o-mini", "messages": [{"role": "boss", "content": "hi"}]},
            "messages[0].role",
        ),
        ({**hello(), "temperature": "hot"}, "temperature"),
        ({**hello(), "temperature": 3}, "temperature"),
        ({**hello(), "max_tokens": 0}, "max_tokens"),
        ({**hello(), "stream": "yes"}, "stream"),
    ],
)
def test_missing_or_mistyped_fields_are_400_naming_the_param(
    gateway: Running, body: dict[str, Any], param: str
) -> None:
    response = post(gateway, body)
    assert response.status_code == 400
    assert error_of(response)["param"] == param


def test_a_content_type_other_than_json_is_415(gateway: Running) -> None:
    response = httpx.post(
        gateway.url + CHAT, content=b"model=gpt", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"


def test_a_body_over_max_body_size_is_413(gateway: Running) -> None:
    body = {**hello(), "messages": [{"role": "user", "content": "x" * 100_000}]}
    response = post(gateway, body)
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"


def test_an_oversized_chunked_body_is_refused_while_streaming_in(gateway: Running) -> None:
    def chunks():  # type: ignore[no-untyped-def]
        yield b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}]}'

    response = httpx.post(
        gateway.url + CHAT, content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


def test_an_unknown_model_is_404_model_not_found(gateway: Running) -> None:
    sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.code == "model_not_found"


def test_a_model_whose_providers_lack_keys_is_503(gateway: Running) -> None:
    response = post(gateway, hello("keyless-model"))
    assert response.status_code == 503
    assert error_of(response)["code"] == "no_provider_available"


def test_every_provider_failing_is_502(gateway: Running) -> None:
    response = post(gateway, hello("all-fail-model"))
    assert response.status_code == 502
    error = error_of(response)
    assert error["code"] == "all_providers_failed"
    assert "flaky" in error["message"]


def test_an_upstream_timeout_is_504(gateway: Running) -> None:
    response = post(gateway, hello("slow-model"))
    assert response.status_code == 504
    assert error_of(response)["type"] == "timeout_error"


def test_a_streaming_upstream_timeout_is_504_before_the_stream_starts(gateway: Running) -> None:
    response = post(gateway, {**hello("slow-model"), "stream": True})
    assert response.status_code == 504


def test_the_upstreams_own_client_error_is_passed_on_with_its_status(gateway: Running) -> None:
    response = post(gateway, hello("picky-model"))
    assert response.status_code == 400
    assert error_of(response)["type"] == "invalid_request_error"


def test_upstream_rate_limits_reach_the_client_as_429_with_retry_after(gateway: Running) -> None:
    response = post(gateway, hello("busy-model"))
    assert response.status_code == 429
    assert error_of(response)["type"] == "rate_limit_error"
    assert "retry-after" in response.headers


def test_context_length_exceeded_is_passed_on_in_openai_shape(gateway: Running) -> None:
    sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(
            model="tiny-model", messages=[{"role": "user", "content": "word " * 400}]
        )
    assert caught.value.code == "context_length_exceeded"


def test_errors_never_reveal_the_provider_key_or_upstream_urls(gateway: Running) -> None:
    for model in ("all-fail-model", "slow-model", "picky-model", "dead-model", "busy-model"):
        text = post(gateway, hello(model)).text
        assert SIM_KEY not in text
        assert "127.0.0.1" not in text


def test_unknown_paths_and_methods_answer_in_openai_shape(gateway: Running) -> None:
    missing = httpx.get(gateway.url + "/v1/nope")
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    wrong = httpx.get(gateway.url + CHAT)
    assert wrong.status_code == 405 and error_of(wrong)["code"] == "method_not_allowed"


def test_embeddings_validate_their_input(gateway: Running) -> None:
    response = httpx.post(
        gateway.url + "/v1/embeddings", json={"model": "text-embedding-3-small", "input": 5}
    )
    assert response.status_code == 400
    assert error_of(response)["param"] == "input"


def test_every_response_carries_a_request_id(gateway: Running) -> None:
    response = post(gateway, hello(), **{"X-Request-ID": "req-abc-123"})
    assert response.headers["x-request-id"] == "req-abc-123"
    assert len(post(gateway, b"{").headers["x-request-id"]) == 24


def test_a_missing_required_header_is_400_naming_it(simulator: Running, tmp_path: Path) -> None:
    config = {
        "providers": [sim_provider("primary", simulator.url, ["gpt-4o-mini"], 1)],
        "validation": {"request": {"required_headers": ["X-Client-Name"]}},
    }
    with serving(config, tmp_path, SIM_KEY=SIM_KEY) as gw:
        refused = post(gw, hello())
        accepted = post(gw, hello(), **{"X-Client-Name": "billing-service"})
    assert refused.status_code == 400
    error = error_of(refused)
    assert (error["code"], error["param"]) == ("missing_header", "X-Client-Name")
    assert "X-Client-Name" in error["message"]
    assert accepted.status_code == 200
