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

Tool-call ``index`` counts tool calls only, not every content block. Chunks are
assembled from pre-encoded bytes around the one orjson-encoded fragment that changes.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import orjson

from proxyapi.providers.anthropic.chat import finish_reason, openai_usage
from proxyapi.providers.anthropic.errors import error_event, stream_error_event
from proxyapi.providers.base import JSONObject
from proxyapi.transport.sse import DONE_EVENT, SSEEvent

_FIRST_DELTA = b'{"role":"assistant","content":""}'
_NO_FINISH = b',"logprobs":null,"finish_reason":null}]'


class AnthropicStreamTranslator:
    """One Anthropic stream's state: ids, tool-call indexes, thinking text, usage."""

    __slots__ = (
        "_created",
        "_done",
        "_finished",
        "_head",
        "_id",
        "_include_usage",
        "_model",
        "_tail",
        "_thinking",
        "_tool_indexes",
        "_usage",
    )

    def __init__(self, request: JSONObject) -> None:
        options = request.get("stream_options")
        self._include_usage = isinstance(options, dict) and options.get("include_usage") is True
        self._model = orjson.dumps(request.get("model"))
        self._created = int(time.time())
        self._tail = b',"usage":null}\n\n' if self._include_usage else b"}\n\n"
        self._set_id(f"chatcmpl-{secrets.token_hex(12)}")  # replaced by message_start's id
        self._tool_indexes: dict[int, int] = {}  # content block index -> tool call index
        self._thinking: dict[int, list[str]] = {}  # content block index -> thinking so far
        self._usage = [0, 0, 0, 0]  # input, output, cache read, cache creation
        self._finished = False  # the finish_reason chunk was sent
        self._done = False  # [DONE] or an error event was sent: nothing more goes out

    def _set_id(self, chunk_id: str) -> None:
        self._id = orjson.dumps(chunk_id)
        self._head = (
            b'data: {"id":'
            + self._id
            + b',"object":"chat.completion.chunk","created":'
            + str(self._created).encode()
            + b',"model":'
            + self._model
            + b',"choices":[{"index":0,"delta":'
        )

    def _chunk(self, delta: bytes) -> bytes:
        return self._head + delta + _NO_FINISH + self._tail

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
                self._set_id(f"chatcmpl-{message['id']}")
            self._take_usage(message.get("usage"))
        return [self._chunk(_FIRST_DELTA)]

    def _take_usage(self, usage: Any) -> None:
        """message_start and message_delta carry cumulative counts; the latest wins."""
        if not isinstance(usage, dict):
            return
        names = (
            "input_tokens",
            "output_tokens",
            "cache_read_input_tokens",
            "cache_creation_input_tokens",
        )
        for position, name in enumerate(names):
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
            call = {
                "index": position,
                "id": block.get("id"),
                "type": "function",
                "function": {"name": block.get("name"), "arguments": ""},
            }
            return [self._chunk(b'{"tool_calls":' + orjson.dumps([call]) + b"}")]
        if kind == "text" and block.get("text"):
            return [self._chunk(b'{"content":' + orjson.dumps(block["text"]) + b"}")]
        if kind == "thinking":
            text = block.get("thinking") or ""
            self._thinking[index] = [text]
            if text:
                return [self._chunk(b'{"reasoning_content":' + orjson.dumps(text) + b"}")]
        elif kind == "redacted_thinking":
            redacted = [{"type": "redacted_thinking", "data": block.get("data")}]
            return [self._chunk(b'{"thinking_blocks":' + orjson.dumps(redacted) + b"}")]
        return []

    def _on_delta(self, data: JSONObject) -> list[bytes]:
        delta = data.get("delta")
        if not isinstance(delta, dict):
            return []
        kind = delta.get("type")
        if kind == "text_delta":
            text = delta.get("text")
            if not text:
                return []
            return [self._chunk(b'{"content":' + orjson.dumps(text) + b"}")]
        if kind == "input_json_delta":
            position = self._tool_indexes.get(data.get("index", -1))
            fragment = delta.get("partial_json")
            if position is None or not fragment:
                return []  # Anthropic often opens a tool input with an empty fragment.
            call = {"index": position, "function": {"arguments": fragment}}
            return [self._chunk(b'{"tool_calls":' + orjson.dumps([call]) + b"}")]
        if kind == "thinking_delta":
            text = delta.get("thinking")
            if not text:
                return []  # Anthropic closes a thinking block with an empty delta.
            self._thinking.setdefault(data.get("index", -1), []).append(text)
            return [self._chunk(b'{"reasoning_content":' + orjson.dumps(text) + b"}")]
        if kind == "signature_delta":
            pieces = self._thinking.pop(data.get("index", -1), [])
            block = {
                "type": "thinking",
                "thinking": "".join(pieces),
                "signature": delta.get("signature"),
            }
            return [self._chunk(b'{"thinking_blocks":' + orjson.dumps([block]) + b"}")]
        return []  # citations_delta and future delta types

    def _on_message_delta(self, data: JSONObject) -> list[bytes]:
        self._take_usage(data.get("usage"))
        delta = data.get("delta")
        stop_reason = delta.get("stop_reason") if isinstance(delta, dict) else None
        if stop_reason is None or self._finished:
            return []
        return [self._finish_chunk(finish_reason(stop_reason))]

    def _finish_chunk(self, reason: str) -> bytes:
        self._finished = True
        return (
            self._head
            + b'{},"logprobs":null,"finish_reason":'
            + orjson.dumps(reason)
            + b"}]"
            + self._tail
        )

    def _on_message_stop(self) -> list[bytes]:
        self._done = True
        out = [] if self._finished else [self._finish_chunk("stop")]
        if self._include_usage:
            usage = openai_usage(*self._usage)
            out.append(
                b'data: {"id":'
                + self._id
                + b',"object":"chat.completion.chunk","created":'
                + str(self._created).encode()
                + b',"model":'
                + self._model
                + b',"choices":[],"usage":'
                + orjson.dumps(usage)
                + b"}\n\n"
            )
        out.append(DONE_EVENT)
        return out
