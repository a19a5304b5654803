"""Anthropic's streamed Messages events as OpenAI ``chat.completion.chunk`` SSE.

The event flow (platform.claude.com/docs/build-with-claude/streaming): ``message_start``
(id, input usage), then per content block ``content_block_start`` / ``_delta`` /
``_stop``, then ``message_delta`` (stop_reason, output usage) and ``message_stop``;
``ping`` may come anywhere and ``error`` ends a failed stream. New event and delta
types may appear (Anthropic's versioning policy), so unknown ones are skipped.

What each becomes:

```
message_start                     first chunk, delta {"role": "assistant", "content": ""}
text_delta                        delta.content
thinking_delta                    delta.reasoning_content
signature_delta                   delta.thinking_blocks = [the whole block: its thinking
                                  text so far and the signature], so a client that collects
                                  thinking_blocks from deltas holds exactly what the
                                  non-streamed message.thinking_blocks would be
redacted_thinking block start     delta.thinking_blocks = [{"type": "redacted_thinking", ...}]
tool_use block start              delta.tool_calls [{index, id, type, function {name, ""}}]
input_json_delta                  delta.tool_calls [{index, function {arguments}}]
message_delta                     last choice chunk, delta {} with finish_reason
message_stop                      usage chunk (stream_options.include_usage), [DONE]
error                             an OpenAI error event; the stream ends, no [DONE]
```

Tool-call ``index`` counts tool calls only, not every content block. ``ChunkWriter``
encodes the chunks.
"""

from __future__ import annotations

from typing import Any

import orjson

from proxyapi.providers._openai_shape import ChunkWriter, error_event
from proxyapi.providers.anthropic.chat import finish_reason, openai_usage
from proxyapi.providers.anthropic.errors import stream_error_event
from proxyapi.providers.base import JSONObject
from proxyapi.transport.sse import SSEEvent

_USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)


class AnthropicStreamTranslator:
    """One Anthropic stream's state: ids, tool-call indexes, thinking text, usage."""

    __slots__ = ("_done", "_finished", "_out", "_thinking", "_tool_indexes", "_usage")

    def __init__(self, request: JSONObject) -> None:
        self._out = ChunkWriter(request)  # its id is replaced by message_start's
        self._tool_indexes: dict[int, int] = {}  # content block index -> tool call index
        self._thinking: dict[int, list[str]] = {}  # content block index -> thinking so far
        self._usage = [0, 0, 0, 0]  # input, output, cache read, cache creation
        self._finished = False  # the finish_reason chunk was sent
        self._done = False  # [DONE] or an error event was sent: nothing more goes out

    def feed(self, event: SSEEvent) -> list[bytes]:
        if self._done:
            return []
        try:
            data = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            return self._fail("The upstream sent an unreadable stream event.")
        if not isinstance(data, dict):
            return []
        kind = data.get("type")
        if kind == "content_block_delta":
            return self._on_delta(data)
        if kind == "content_block_start":
            return self._on_block_start(data)
        if kind == "message_start":
            return self._on_message_start(data)
        if kind == "message_delta":
            return self._on_message_delta(data)
        if kind == "message_stop":
            return self._on_message_stop()
        if kind == "error":
            self._done = True
            return [stream_error_event(data)]
        return []  # ping, content_block_stop, and event types added after this was written

    def close(self) -> list[bytes]:
        if self._done:
            return []
        return self._fail("The upstream stream ended before its message_stop event.")

    def _fail(self, message: str) -> list[bytes]:
        self._done = True
        return [error_event(message, "server_error", "upstream_stream_error")]

    def _on_message_start(self, data: JSONObject) -> list[bytes]:
        message = data.get("message")
        if isinstance(message, dict):
            if isinstance(message.get("id"), str):
                self._out.set_id(f"chatcmpl-{message['id']}")
            self._take_usage(message.get("usage"))
        return [self._out.role()]

    def _take_usage(self, usage: Any) -> None:
        """message_start and message_delta carry cumulative counts; the latest wins."""
        if not isinstance(usage, dict):
            return
        for position, name in enumerate(_USAGE_FIELDS):
            value = usage.get(name)
            if isinstance(value, int):
                self._usage[position] = value

    def _on_block_start(self, data: JSONObject) -> list[bytes]:
        block = data.get("content_block")
        index = data.get("index")
        if not isinstance(block, dict) or not isinstance(index, int):
            return []
        kind = block.get("type")
        if kind == "tool_use":
            position = len(self._tool_indexes)
            self._tool_indexes[index] = position
            return [self._out.tool_call_start(position, block.get("id"), block.get("name"))]
        if kind == "text" and block.get("text"):
            return [self._out.content(block["text"])]
        if kind == "thinking":
            text = block.get("thinking") or ""
            self._thinking[index] = [text]
            if text:
                return [self._out.reasoning(text)]
        elif kind == "redacted_thinking":
            redacted = [{"type": "redacted_thinking", "data": block.get("data")}]
            return [self._thinking_blocks(redacted)]
        return []

    def _thinking_blocks(self, blocks: list[JSONObject]) -> bytes:
        return self._out.delta(b'{"thinking_blocks":' + orjson.dumps(blocks) + b"}")

    def _on_delta(self, data: JSONObject) -> list[bytes]:
        delta = data.get("delta")
        if not isinstance(delta, dict):
            return []
        kind = delta.get("type")
        if kind == "text_delta":
            text = delta.get("text")
            return [self._out.content(text)] if text else []
        if kind == "input_json_delta":
            position = self._tool_indexes.get(data.get("index", -1))
            fragment = delta.get("partial_json")
            if position is None or not fragment:
                return []  # Anthropic often opens a tool input with an empty fragment.
            return [self._out.tool_call_arguments(position, fragment)]
        if kind == "thinking_delta":
            text = delta.get("thinking")
            if not text:
                return []  # Anthropic closes a thinking block with an empty delta.
            self._thinking.setdefault(data.get("index", -1), []).append(text)
            return [self._out.reasoning(text)]
        if kind == "signature_delta":
            pieces = self._thinking.pop(data.get("index", -1), [])
            block = {
                "type": "thinking",
                "thinking": "".join(pieces),
                "signature": delta.get("signature"),
            }
            return [self._thinking_blocks([block])]
        return []  # citations_delta and future delta types

    def _on_message_delta(self, data: JSONObject) -> list[bytes]:
        self._take_usage(data.get("usage"))
        delta = data.get("delta")
        stop_reason = delta.get("stop_reason") if isinstance(delta, dict) else None
        if stop_reason is None or self._finished:
            return []
        self._finished = True
        return [self._out.finish(finish_reason(stop_reason))]

    def _on_message_stop(self) -> list[bytes]:
        self._done = True
        out = [] if self._finished else [self._out.finish("stop")]
        out.extend(self._out.end(openai_usage(*self._usage)))
        return out
