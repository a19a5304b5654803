"""validation.content_filter: each action, on requests, answers and streams split anywhere."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from proxyapi.config.traffic import ContentFilter as ContentFilterConfig
from proxyapi.errors import InvalidRequest
from proxyapi.observability.metrics import Metrics
from proxyapi.pipeline.content_filter import ContentFilter


def build(*rules: dict[str, Any], metrics: Metrics | None = None, **extra: Any) -> ContentFilter:
    config = ContentFilterConfig.model_validate({"enabled": True, "rules": list(rules), **extra})
    built = ContentFilter.build(config, metrics)
    assert built is not None
    return built


def keyword(*words: str, **extra: Any) -> dict[str, Any]:
    return {"type": "keyword", "keywords": list(words), **extra}


def regex(*patterns: str, **extra: Any) -> dict[str, Any]:
    return {"type": "regex", "patterns": list(patterns), **extra}


def chat(*messages: dict[str, Any]) -> dict[str, Any]:
    return {"model": "m", "messages": list(messages)}


def answer(content: str) -> bytes:
    return orjson.dumps(
        {
            "id": "c",
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
        }
    )


def test_disabled_or_ruleless_filter_is_not_built() -> None:
    off = ContentFilterConfig.model_validate({"enabled": False, "rules": [keyword("x")]})
    assert ContentFilter.build(off, None) is None
    assert ContentFilter.build(ContentFilterConfig(enabled=True), None) is None


def test_the_seed_example_is_valid_and_blocks_by_default() -> None:
    screen = build(keyword("password", "secret", "key"), regex(r"\b\d{16}\b"))
    with pytest.raises(InvalidRequest) as caught:
        screen.screen_request(chat({"role": "user", "content": "card 4111111111111111"}))
    assert caught.value.error_code == "content_filter"
    assert caught.value.http_status == 400
    assert "4111" not in caught.value.message
    assert "rule-1" in caught.value.message


def test_keywords_match_whole_words_case_insensitively() -> None:
    screen = build(keyword("key", action="redact"))
    body = chat({"role": "user", "content": "My KEY, the keyboard, and key."})
    screen.screen_request(body)
    assert body["messages"][0]["content"] == "My ***, the keyboard, and ***."


def test_regex_patterns_match_as_written_and_leading_flags_stay_local() -> None:
    screen = build(regex("Secret", action="redact"), regex("(?i)token", action="redact", mask="#"))
    body = chat({"role": "user", "content": "secret Secret TOKEN"})
    screen.screen_request(body)
    assert body["messages"][0]["content"] == "secret *** #"


def test_every_role_text_part_and_tool_argument_is_screened() -> None:
    screen = build(keyword("pw", action="redact"))
    body = chat(
        {"role": "system", "content": "pw"},
        {"role": "user", "content": [{"type": "text", "text": "a pw"}, {"type": "image_url"}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "t", "function": {"name": "f", "arguments": '{"k": "pw"}'}}],
        },
        {"role": "tool", "tool_call_id": "t", "content": "pw!"},
    )
    screen.screen_request(body)
    messages = body["messages"]
    assert messages[0]["content"] == "***"
    assert messages[1]["content"][0]["text"] == "a ***"
    assert messages[1]["content"][1] == {"type": "image_url"}
    assert messages[2]["tool_calls"][0]["function"]["arguments"] == '{"k": "***"}'
    assert messages[3]["content"] == "***!"


def test_flag_passes_the_text_logs_the_rule_only_and_counts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = Metrics("test")
    screen = build(keyword("hush", action="flag", name="quiet"), metrics=metrics)
    body = chat({"role": "user", "content": "hush now"})
    with caplog.at_level(logging.INFO, logger="proxyapi.content_filter"):
        screen.screen_request(body)
    assert body["messages"][0]["content"] == "hush now"
    assert "quiet" in caplog.text and "hush" not in caplog.text.replace("quiet", "")
    labels = {"rule": "quiet", "action": "flag", "direction": "request"}
    assert metrics.registry.get_sample_value("proxy_api_content_filter_total", labels) == 1


def test_applies_to_limits_a_rule_to_one_direction() -> None:
    screen = build(keyword("x", applies_to=["response"]))
    screen.screen_request(chat({"role": "user", "content": "x"}))  # passes
    assert screen.request is None


def test_answer_block_sets_finish_reason_content_filter() -> None:
    screen = build(keyword("secret"))
    out = orjson.loads(screen.screen_answer(answer("the secret is out")))
    assert out["choices"][0]["finish_reason"] == "content_filter"
    assert out["choices"][0]["message"]["content"] == "the "


def test_answer_redact_and_clean_answer_untouched() -> None:
    screen = build(regex(r"\d{4}", action="redact", mask="[n]"))
    out = orjson.loads(screen.screen_answer(answer("pin 1234 ok")))
    assert out["choices"][0]["message"]["content"] == "pin [n] ok"
    clean = answer("nothing here")
    assert screen.screen_answer(clean) is clean


def sse(*texts: str | None, finish: bool = True) -> list[bytes]:
    chunks = []
    for text in texts:
        delta = {} if text is None else {"content": text}
        chunk = {"id": "c", "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
        chunks.append(b"data: " + orjson.dumps(chunk) + b"\n\n")
    if finish:
        end = {"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        chunks.append(b"data: " + orjson.dumps(end) + b"\n\n")
    chunks.append(b"data: [DONE]\n\n")
    return chunks


async def iterate(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def run(screen: ContentFilter, chunks: list[bytes]) -> tuple[str, list[Any], list[bytes]]:
    first, rest = screen.screen_stream(chunks[0], iterate(chunks[1:]))
    out = [first] + [chunk async for chunk in rest]
    text, reasons = "", []
    for event in b"".join(out).split(b"\n\n"):
        if event.startswith(b"data: {"):
            choice = orjson.loads(event[6:])["choices"][0]
            text += choice["delta"].get("content") or ""
            reasons.append(choice["finish_reason"])
    return text, reasons, out


async def test_stream_redacts_a_match_split_across_chunks() -> None:
    screen = build(keyword("password", action="redact"))
    text, reasons, _ = await run(screen, sse("my pass", "word is", " hunter2"))
    assert text == "my *** is hunter2"
    assert reasons[-1] == "stop"


async def test_stream_blocks_a_split_match_and_ends_cleanly() -> None:
    screen = build(regex(r"\b\d{16}\b"))
    text, reasons, out = await run(screen, sse("card 4111", "1111", "11111111 thanks", "more"))
    assert text == "card "
    assert reasons[-1] == "content_filter"
    assert out[-1].endswith(b"data: [DONE]\n\n")
    assert b"more" not in b"".join(out)


async def test_stream_flag_passes_everything_and_counts_once() -> None:
    metrics = Metrics("test")
    screen = build(keyword("hush", action="flag", name="q"), metrics=metrics)
    text, _, _ = await run(screen, sse("hu", "sh ", "now"))
    assert text == "hush now"
    labels = {"rule": "q", "action": "flag", "direction": "response"}
    assert metrics.registry.get_sample_value("proxy_api_content_filter_total", labels) == 1


async def test_stream_word_boundary_survives_a_split() -> None:
    screen = build(keyword("key", action="redact"))
    text, _, _ = await run(screen, sse("the mon", "key", "s and a key", "board"))
    assert text == "the monkeys and a keyboard"


async def test_stream_holds_back_no_more_than_the_longest_pattern() -> None:
    screen = build(keyword("abc"))
    assert screen.response is not None and screen.response.hold_back == 3
    first, rest = screen.screen_stream(sse("hello world")[0], iterate([]))
    sent = orjson.loads(first[6:])["choices"][0]["delta"]["content"]
    assert sent == "hello wo"


def test_unbounded_patterns_hold_back_at_most_max_hold_back() -> None:
    screen = build(regex(r"x.*y"), max_hold_back=32)
    assert screen.response is not None and screen.response.hold_back == 32


async def test_stream_without_content_rules_is_untouched() -> None:
    screen = build(keyword("x", applies_to=["request"]))
    chunks = sse("a")
    rest = iterate(chunks[1:])
    assert screen.screen_stream(chunks[0], rest) == (chunks[0], rest)
