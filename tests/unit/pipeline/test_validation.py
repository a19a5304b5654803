"""Request validation: what is refused, with which ``param``, and what passes through."""

from __future__ import annotations

from typing import Any

import pytest

from proxyapi.errors import InvalidRequest, UnsupportedMediaType
from proxyapi.pipeline.body import check_media_type, parse_object
from proxyapi.pipeline.validation import validate_chat, validate_embeddings


def chat(**extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": "hi"}], **extra}


def test_a_minimal_chat_request_is_valid_and_returns_its_model() -> None:
    assert validate_chat(chat()) == "m"


def test_unknown_parameters_pass_through_untouched() -> None:
    assert validate_chat(chat(brand_new_param={"x": 1}, reasoning_effort="low")) == "m"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": []}, "model"),
        ({"model": ""}, "model"),
        ({"model": "m"}, "messages"),
        ({"model": "m", "messages": []}, "messages"),
        ({"model": "m", "messages": ["hi"]}, "messages[0]"),
        ({"model": "m", "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        (chat(n=0), "n"),
        (chat(max_completion_tokens=1.5), "max_completion_tokens"),
        (chat(top_p=2), "top_p"),
        (chat(presence_penalty=True), "presence_penalty"),
        (chat(stream_options=[]), "stream_options"),
        (chat(tools={}), "tools"),
        (chat(stop=5), "stop"),
    ],
)
def test_invalid_chat_requests_name_the_param(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        validate_chat(body)
    assert caught.value.param == param
    assert caught.value.http_status == 400


@pytest.mark.parametrize("value", ["text", ["a", "b"], [1, 2, 3], [[1, 2], [3]]])
def test_every_embedding_input_form_is_accepted(value: Any) -> None:
    assert validate_embeddings({"model": "e", "input": value}) == "e"


@pytest.mark.parametrize("value", [5, [], [1, "a"], [[]], None])
def test_bad_embedding_inputs_are_refused(value: Any) -> None:
    with pytest.raises(InvalidRequest) as caught:
        validate_embeddings({"model": "e", "input": value})
    assert caught.value.param == "input"


def test_an_unknown_encoding_format_is_refused() -> None:
    with pytest.raises(InvalidRequest) as caught:
        validate_embeddings({"model": "e", "input": "x", "encoding_format": "int8"})
    assert caught.value.param == "encoding_format"


@pytest.mark.parametrize(
    "content_type",
    [None, "application/json", "application/json; charset=utf-8", "Application/JSON"],
)
def test_json_media_types_are_accepted(content_type: str | None) -> None:
    check_media_type(content_type, ["application/json"])


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_other_media_types_are_415(content_type: str) -> None:
    with pytest.raises(UnsupportedMediaType):
        check_media_type(content_type, ["application/json"])


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b"null", b'"x"'])
def test_bodies_that_are_not_json_objects_are_400(raw: bytes) -> None:
    with pytest.raises(InvalidRequest):
        parse_object(raw)
