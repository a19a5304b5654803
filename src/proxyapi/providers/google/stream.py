"""Gemini's streamed ``GenerateContentResponse``s as OpenAI ``chat.completion.chunk`` SSE.

``streamGenerateContent?alt=sse`` sends whole responses, each with the newest
parts of every candidate; the last one of a candidate carries its ``finishReason``
and ``usageMetadata`` is cumulative. Gemini sends no ``[DONE]``: the stream ends at
``close``, which finishes open choices and sends the usage chunk and ``[DONE]``.
"""

from __future__ import annotations

import secrets
from typing import Any

import orjson

from proxyapi.errors import UpstreamStatusError
from proxyapi.providers._openai_shape import ChunkWriter, error_event_of
from proxyapi.providers.base import JSONObject
from proxyapi.providers.google.chat import (
    candidate_parts,
    finish_reason,
    is_blocked,
    tool_call,
    usage_from,
)
from proxyapi.providers.google.errors import classify
from proxyapi.transport.sse import SSEEvent


class GoogleStreamTranslator:
    """Gemini's SSE chunks (each a whole ``GenerateContentResponse``) to OpenAI chunks."""

    __slots__ = ("_calls", "_done", "_finished", "_id", "_out", "_usage")

    def __init__(self, request: JSONObject) -> None:
        self._out = ChunkWriter(request)
        self._id = ""  # the responseId, which also seeds tool-call ids
        self._calls: dict[int, int] = {}  # candidate index -> tool calls seen; keys = started
        self._finished: set[int] = set()
        self._usage: Any = None
        self._done = False

    def feed(self, event: SSEEvent) -> list[bytes]:
        if self._done:
            return []
        try:
            data = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            raise UpstreamStatusError(
                "Google sent a stream chunk that is not JSON.",
                provider="google",
                upstream_status=502,
            ) from None
        if not isinstance(data, dict):
            return []
        if "error" in data:
            self._done = True
            return [_error_event(data)]
        if not self._id:
            self._set_id(str(data.get("responseId") or secrets.token_hex(12)))
        out: list[bytes] = []
        candidates = [c for c in data.get("candidates") or [] if isinstance(c, dict)]
        for position, candidate in enumerate(candidates):
            self._candidate(candidate, position, out)
        if not candidates and is_blocked(data):
            self._start(0, out)
            self._finish(0, "content_filter", out)
        if data.get("usageMetadata") is not None:
            self._usage = data["usageMetadata"]
        return out

    def close(self) -> list[bytes]:
        if self._done:
            return []
        self._done = True
        out: list[bytes] = []
        if not self._calls:
            self._start(0, out)
        for index, calls in self._calls.items():
            if index not in self._finished:
                self._finish(index, "tool_calls" if calls else "stop", out)
        out.extend(self._out.end(usage_from(self._usage)))
        return out

    def _set_id(self, response_id: str) -> None:
        self._id = response_id
        self._out.set_id(f"chatcmpl-{response_id}")

    def _candidate(self, candidate: JSONObject, position: int, out: list[bytes]) -> None:
        index = int(candidate.get("index") or position)
        self._start(index, out)
        for part in candidate_parts(candidate):
            if isinstance(part.get("functionCall"), dict):
                number = self._calls[index]
                self._calls[index] = number + 1
                call = tool_call(part, f"{self._id}:{index}", number)
                out.append(self._out.tool_calls([{"index": number, **call}], index))
            elif isinstance(part.get("text"), str) and part["text"]:
                write = self._out.reasoning if part.get("thought") is True else self._out.content
                out.append(write(part["text"], index))
        reason = candidate.get("finishReason")
        if reason and index not in self._finished:
            self._finish(index, finish_reason(reason, self._calls[index] > 0), out)

    def _start(self, index: int, out: list[bytes]) -> None:
        if index not in self._calls:
            self._calls[index] = 0
            if not self._id:
                self._set_id(secrets.token_hex(12))
            out.append(self._out.role(index))

    def _finish(self, index: int, reason: str, out: list[bytes]) -> None:
        self._finished.add(index)
        out.append(self._out.finish(reason, index))


def _error_event(data: JSONObject) -> bytes:
    error = data.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    status = code if isinstance(code, int) and 400 <= code <= 599 else 500
    return error_event_of(classify(status, {}, orjson.dumps(data), "google"))
