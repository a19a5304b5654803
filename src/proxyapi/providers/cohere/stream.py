"""Cohere v2 stream events as OpenAI ``chat.completion.chunk`` events."""

from __future__ import annotations

from typing import Any

import orjson

from proxyapi.errors import UpstreamStatusError
from proxyapi.providers._openai_shape import ChunkWriter, error_event_of, usage
from proxyapi.providers.base import JSONObject
from proxyapi.providers.cohere.chat import finish_reason, usage_of
from proxyapi.providers.cohere.errors import FAILED, failure
from proxyapi.transport.sse import DONE, SSEEvent


class CohereStreamTranslator:
    """Cohere v2 stream events in, OpenAI ``chat.completion.chunk`` events out.

    Sequence (API reference "Chat with streaming"): message-start, then per text
    block content-start / content-delta* / content-end, or tool-plan-delta* and
    per call tool-call-start / tool-call-delta* / tool-call-end, citation-start /
    -end, and message-end with finish_reason and usage; then ``data: [DONE]``.
    Each SSE event has an ``event:`` name equal to its JSON ``type``.
    """

    __slots__ = ("_calls", "_done", "_out", "_started")

    def __init__(self, request: JSONObject) -> None:
        self._out = ChunkWriter(request)
        self._calls: dict[int, int] = {}  # Cohere's event index -> OpenAI tool-call index
        self._started = False
        self._done = False

    def _opening(self) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        return [self._out.role()]

    def feed(self, event: SSEEvent) -> list[bytes]:
        if self._done or event.data == DONE:
            return []
        try:
            data = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            return []
        if not isinstance(data, dict):
            return []
        kind = data.get("type") or event.event
        if kind == "message-start":
            if data.get("id"):
                self._out.set_id(f"chatcmpl-{data['id']}")
            return self._opening()
        out = self._opening()
        delta = _object(data.get("delta"))
        message = _object(delta.get("message"))
        if kind == "content-delta":
            out.extend(self._content(_object(message.get("content"))))
        elif kind == "tool-plan-delta" and message.get("tool_plan"):
            out.append(self._out.reasoning(message["tool_plan"]))
        elif kind == "tool-call-start":
            out.append(self._call_start(data.get("index"), _object(message.get("tool_calls"))))
        elif kind == "tool-call-delta":
            out.extend(self._call_delta(data.get("index"), _object(message.get("tool_calls"))))
        elif kind == "message-end":
            out.extend(self._end(delta))
        # content-start/-end, tool-call-end, citation-*, debug: nothing to say.
        return out

    def _content(self, content: JSONObject) -> list[bytes]:
        if content.get("text"):
            return [self._out.content(content["text"])]
        if content.get("thinking"):
            return [self._out.reasoning(content["thinking"])]
        return []

    def _call_start(self, index: Any, call: JSONObject) -> bytes:
        position = len(self._calls)
        self._calls[index if isinstance(index, int) else position] = position
        function = call.get("function") or {}
        return self._out.tool_call_start(
            position, call.get("id"), function.get("name"), function.get("arguments", "")
        )

    def _call_delta(self, index: Any, call: JSONObject) -> list[bytes]:
        fragment = (call.get("function") or {}).get("arguments")
        if not fragment:
            return []
        position = self._calls.get(index) if isinstance(index, int) else None
        if position is None:  # no index: the call started last
            position = max(len(self._calls) - 1, 0)
        return [self._out.tool_call_arguments(position, fragment)]

    def _end(self, delta: JSONObject) -> list[bytes]:
        self._done = True
        finish = delta.get("finish_reason")
        if str(finish) in FAILED:
            return [error_event_of(failure(finish, delta.get("error")))]
        counts = usage_of(delta.get("usage")) or usage(0, 0)
        return [self._out.finish(finish_reason(finish)), *self._out.end(counts)]

    def close(self) -> list[bytes]:
        if self._done:
            return []
        self._done = True
        cut = UpstreamStatusError(
            "Cohere's stream ended before its message-end event.",
            provider="cohere",
            upstream_status=502,
            error_type="server_error",
        )
        return [error_event_of(cut)]


def _object(value: Any) -> JSONObject:
    """``value`` when it is a JSON object, else an empty one: stream fields are optional."""
    return value if isinstance(value, dict) else {}
