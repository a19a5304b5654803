"""Simulated OpenAI chat completions: decide the answer, then shape it.

``plan_chat`` turns a request body into a ``ChatPlan`` (text or a tool call per
choice, finish reasons, token counts); ``build_completion`` and ``iter_chunks``
render that one plan as a ``chat.completion`` or as ``chat.completion.chunk``
SSE events, so the streamed text always equals the non-streamed text.
Pure functions: no I/O, no clock except ``created``.
"""

from __future__ import annotations

import dataclasses
import itertools
import secrets
import time
from collections.abc import Iterator
from typing import Any

import orjson

from . import openai_errors as errors
from .examples import example_value
from .knobs import RequestKnobs
from .openai_request import (
    content_text,
    int_param,
    pick_tool,
    prompt_tokens,
    stop_sequences,
)
from .text import (
    compose_reply,
    cut_at_stop,
    cut_to_tokens,
    digest,
    estimate_tokens,
    group_pieces,
    snippet,
    split_arguments,
    split_words,
)

FINGERPRINT = "fp_sim"
_USAGE_DETAILS = {
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 0,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}


@dataclasses.dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str


@dataclasses.dataclass(frozen=True, slots=True)
class ChoicePlan:
    """One choice's answer; ``groups`` are its stream chunks (words or argument bits)."""

    index: int
    content: str | None
    tool_call: ToolCall | None
    finish_reason: str
    completion_tokens: int
    groups: list[list[str]]


@dataclasses.dataclass(frozen=True, slots=True)
class ChatPlan:
    id: str
    created: int
    model: str
    choices: list[ChoicePlan]
    prompt_tokens: int
    top_logprobs: int | None  # None: logprobs not requested
    include_usage: bool

    @property
    def completion_tokens(self) -> int:
        return sum(choice.completion_tokens for choice in self.choices)


def plan_chat(body: dict[str, Any], model: str, knobs: RequestKnobs) -> ChatPlan:
    """Decide the whole answer to a (validated) chat request."""
    messages: list[Any] = body["messages"]
    n = int_param(body, "n", 1, 128) or 1
    max_tokens = int_param(body, "max_completion_tokens", 1, None) or int_param(
        body, "max_tokens", 1, None
    )
    prompt = prompt_tokens(messages)
    if prompt + (max_tokens or 0) > knobs.context_window:
        raise errors.context_length_exceeded(knobs.context_window, prompt, max_tokens or 0)
    seed = digest(orjson.dumps(messages, option=orjson.OPT_SORT_KEYS))
    tool = pick_tool(body, messages)
    choices = [
        _tool_choice(index, tool)
        if tool is not None
        else _text_choice(index, body, seed, knobs.reply_tokens, max_tokens)
        for index in range(n)
    ]
    return ChatPlan(
        id=f"chatcmpl-{secrets.token_hex(12)}",
        created=int(time.time()),
        model=model,
        choices=choices,
        prompt_tokens=prompt,
        top_logprobs=_top_logprobs(body),
        include_usage=_includes_usage(body),
    )


def _top_logprobs(body: dict[str, Any]) -> int | None:
    if body.get("logprobs") is not True:
        return None
    return int_param(body, "top_logprobs", 0, 20) or 0


def _includes_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def _reply_text(body: dict[str, Any], seed: bytes, reply_tokens: int) -> str:
    """The natural (uncut) reply: JSON when asked for JSON, else echoing prose."""
    last = body["messages"][-1]
    if isinstance(last, dict) and last.get("role") == "tool":
        lead = f"The tool returned: {snippet(content_text(last.get('content')), 60)}. "
    else:
        lead = f"Simulated reply to: {snippet(_last_user_text(body['messages']), 40)}. "
    response_format = body.get("response_format")
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind == "json_schema":
        spec = response_format.get("json_schema") if isinstance(response_format, dict) else None
        schema = spec.get("schema", {}) if isinstance(spec, dict) else {}
        return orjson.dumps(example_value(schema)).decode()
    text = compose_reply(lead, seed, reply_tokens)
    if kind == "json_object":
        return orjson.dumps({"reply": text}).decode()
    return text


def _last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


def _text_choice(
    index: int, body: dict[str, Any], seed: bytes, reply_tokens: int, max_tokens: int | None
) -> ChoicePlan:
    choice_seed = digest(seed + index.to_bytes(4, "little"))
    text = _reply_text(body, choice_seed, reply_tokens)
    text, _ = cut_at_stop(text, stop_sequences(body))
    is_cut = False
    if max_tokens is not None:
        text, is_cut = cut_to_tokens(text, max_tokens)
    return ChoicePlan(
        index=index,
        content=text,
        tool_call=None,
        finish_reason="length" if is_cut else "stop",
        completion_tokens=estimate_tokens(text),
        groups=group_pieces(split_words(text), choice_seed),
    )


def _tool_choice(index: int, tool: dict[str, Any]) -> ChoicePlan:
    name = str(tool["name"])
    arguments = orjson.dumps(example_value(tool.get("parameters") or {})).decode()
    call = ToolCall(id=f"call_{secrets.token_hex(12)}", name=name, arguments=arguments)
    return ChoicePlan(
        index=index,
        content=None,
        tool_call=call,
        finish_reason="tool_calls",
        completion_tokens=estimate_tokens(name + arguments),
        groups=[[piece] for piece in split_arguments(arguments)],
    )


def _usage(plan: ChatPlan) -> dict[str, Any]:
    completion = plan.completion_tokens
    return {
        "prompt_tokens": plan.prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": plan.prompt_tokens + completion,
        **_USAGE_DETAILS,
    }


def _logprob_entries(tokens: list[str], top: int) -> list[dict[str, Any]]:
    """Plausible, deterministic logprobs: longer tokens are a little less likely."""
    entries = []
    for token in tokens:
        logprob = -0.01 * (len(token) % 7 + 1)
        alternatives = [
            {"token": token, "logprob": logprob, "bytes": list(token.encode())},
            *(
                {"token": f"{token}{rank}", "logprob": logprob - rank, "bytes": None}
                for rank in range(1, top)
            ),
        ]
        entries.append(
            {
                "token": token,
                "logprob": logprob,
                "bytes": list(token.encode()),
                "top_logprobs": alternatives[:top],
            }
        )
    return entries


def _choice_logprobs(plan: ChatPlan, tokens: list[str]) -> dict[str, Any] | None:
    if plan.top_logprobs is None:
        return None
    return {"content": _logprob_entries(tokens, plan.top_logprobs), "refusal": None}


def _message(choice: ChoicePlan) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": choice.content, "refusal": None}
    if choice.tool_call is not None:
        call = choice.tool_call
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
        ]
    message["annotations"] = []
    return message


def build_completion(plan: ChatPlan) -> dict[str, Any]:
    """The non-streamed ``chat.completion`` object."""
    choices = [
        {
            "index": choice.index,
            "message": _message(choice),
            "logprobs": _choice_logprobs(
                plan, [piece for group in choice.groups for piece in group]
            )
            if choice.tool_call is None
            else None,
            "finish_reason": choice.finish_reason,
        }
        for choice in plan.choices
    ]
    return {
        "id": plan.id,
        "object": "chat.completion",
        "created": plan.created,
        "model": plan.model,
        "choices": choices,
        "usage": _usage(plan),
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }


def _choice_deltas(plan: ChatPlan, choice: ChoicePlan) -> Iterator[tuple[dict[str, Any], int]]:
    """One choice's stream: (choice object, tokens it carries) per chunk."""
    index = choice.index
    call = choice.tool_call
    if call is None:
        first: dict[str, Any] = {"role": "assistant", "content": "", "refusal": None}
    else:
        first = {"role": "assistant", "content": None, "tool_calls": [_call_head(call)]}
        first["refusal"] = None
    yield _stream_choice(index, first, None, None), 0
    for group in choice.groups:
        fragment = "".join(group)
        if call is None:
            logprobs = _choice_logprobs(plan, group)
            delta: dict[str, Any] = {"content": fragment}
        else:
            logprobs = None
            delta = {"tool_calls": [{"index": 0, "function": {"arguments": fragment}}]}
        yield _stream_choice(index, delta, logprobs, None), estimate_tokens(fragment)
    yield _stream_choice(index, {}, None, choice.finish_reason), 0


def _call_head(call: ToolCall) -> dict[str, Any]:
    return {
        "index": 0,
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": ""},
    }


def _stream_choice(
    index: int, delta: dict[str, Any], logprobs: dict[str, Any] | None, finish: str | None
) -> dict[str, Any]:
    return {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}


def iter_chunks(plan: ChatPlan) -> Iterator[tuple[bytes, int]]:
    """SSE events of the stream (without ``[DONE]``) with the tokens each carries.

    Choices are interleaved one chunk each, as OpenAI does for ``n > 1``; with
    ``stream_options.include_usage`` every chunk has ``usage: null`` and a last
    chunk with no choices carries the usage.
    """
    head: dict[str, Any] = {
        "id": plan.id,
        "object": "chat.completion.chunk",
        "created": plan.created,
        "model": plan.model,
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }
    tail = {"usage": None} if plan.include_usage else {}
    streams = [_choice_deltas(plan, choice) for choice in plan.choices]
    for row in itertools.zip_longest(*streams):
        for item in row:
            if item is not None:
                chunk = {**head, "choices": [item[0]], **tail}
                yield b"data: " + orjson.dumps(chunk) + b"\n\n", item[1]
    if plan.include_usage:
        chunk = {**head, "choices": [], "usage": _usage(plan)}
        yield b"data: " + orjson.dumps(chunk) + b"\n\n", 0
