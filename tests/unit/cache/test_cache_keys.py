"""Cache keys: equal for requests that must get the same answer, different otherwise."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import pytest

from proxyapi.cache.keys import models_key, params_hash, response_key, summary_key

SCOPE = "key-1"


def request(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello"},
        ],
        "temperature": 0.2,
        "max_tokens": 100,
        "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {}}}],
    }
    body.update(changes)
    return body


def key_of(body: dict[str, Any], scope: str = SCOPE) -> str:
    return response_key("openai", "chat", body, scope)


def test_the_same_request_with_its_keys_in_another_order_has_the_same_key() -> None:
    body = request()
    reordered = dict(reversed(list(body.items())))
    reordered["messages"] = [dict(reversed(list(m.items()))) for m in body["messages"]]
    assert list(reordered) != list(body)
    assert key_of(reordered) == key_of(body)


def test_whitespace_in_the_request_text_does_not_matter() -> None:
    compact = json.dumps(request(), separators=(",", ":"))
    spaced = json.dumps(request(), indent=4)
    assert compact != spaced
    assert key_of(json.loads(compact)) == key_of(json.loads(spaced))


def test_user_and_metadata_do_not_change_the_key() -> None:
    plain = key_of(request())
    assert key_of(request(user="alice")) == plain
    assert key_of(request(metadata={"trace": "abc"})) == plain
    assert key_of(request(user="bob", metadata={"trace": "xyz"})) == plain


@pytest.mark.parametrize(
    "change",
    [
        {"temperature": 0.3},
        {"max_tokens": 101},
        {"model": "gpt-4o-mini"},
        {"messages": [{"role": "user", "content": "Hello!"}]},
        {"messages": [{"role": "user", "content": "Hello"}, {"role": "system", "content": "x"}]},
        {"tools": []},
        {"tools": [{"type": "function", "function": {"name": "search", "parameters": {}}}]},
        {"stream": True},
        {"top_p": 0.9},
    ],
    ids=lambda change: ",".join(change),
)
def test_any_parameter_that_changes_the_answer_changes_the_key(change: dict[str, Any]) -> None:
    assert key_of(request(**change)) != key_of(request())


def test_reordering_the_messages_changes_the_key() -> None:
    body = request()
    swapped = request(messages=list(reversed(body["messages"])))
    assert key_of(swapped) != key_of(body)


def test_the_scope_separates_tenants() -> None:
    assert key_of(request(), "a") != key_of(request(), "b")
    assert params_hash(request(), "a") != params_hash(request(), "b")


def test_the_provider_and_the_endpoint_separate_keys() -> None:
    body = request()
    keys = {
        response_key("openai", "chat", body, SCOPE),
        response_key("anthropic", "chat", body, SCOPE),
        response_key("openai", "chat-stream", body, SCOPE),
        response_key("openai", "embeddings", body, SCOPE),
    }
    assert len(keys) == 4


def test_a_response_key_is_provider_endpoint_and_params_hash() -> None:
    body = request()
    key = response_key("openai", "chat-stream", body, SCOPE)
    assert re.fullmatch(r"response:openai:chat-stream:[0-9a-f]{32}", key)
    assert key == f"response:openai:chat-stream:{params_hash(body, SCOPE)}"


def test_params_hash_is_deterministic_hex_of_32_characters() -> None:
    digest = params_hash(request(), SCOPE)
    assert re.fullmatch(r"[0-9a-f]{32}", digest)
    assert params_hash(request(), SCOPE) == digest


def test_a_summary_key_is_the_text_hash_the_token_budget_and_the_model() -> None:
    text = "A long conversation to condense."
    digest = hashlib.sha256(text.encode()).hexdigest()[:32]
    assert summary_key(text, 256, "gpt-4o-mini") == f"summary:{digest}:256:gpt-4o-mini"
    assert summary_key(text + ".", 256, "gpt-4o-mini") != summary_key(text, 256, "gpt-4o-mini")
    assert summary_key(text, 512, "gpt-4o-mini") != summary_key(text, 256, "gpt-4o-mini")


def test_a_models_key_is_the_provider_and_its_base_url() -> None:
    assert models_key("openai", "https://api.openai.com/v1") == (
        "models:openai:https://api.openai.com/v1"
    )
