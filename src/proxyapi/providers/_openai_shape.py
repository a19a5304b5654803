"""OpenAI-shaped answers, built once for every adapter that translates to them.

The shapes follow OpenAI's API reference ("The chat completion object", "The chat
completion chunk object", "The embedding object"). Adapters read their provider's
answer and hand the pieces here; nothing in this module knows a provider.

``ChunkWriter`` owns one stream's id, model, ``created`` and ``include_usage`` and
encodes each ``chat.completion.chunk`` from pre-encoded bytes around the one
fragment that changes: streams are the gateway's hot path.
"""

from __future__ import annotations

import base64
import secrets
import sys
import time
from array import array
from collections.abc import Iterable
from typing import Any

import orjson

from proxyapi.errors import ProxyError
from proxyapi.providers.base import JSONObject
from proxyapi.transport.sse import DONE_EVENT, encode_data

_NO_FINISH = b',"logprobs":null,"finish_reason":null}]'
_ROLE_DELTA = b'{"role":"assistant","content":""}'


def new_completion_id() -> str:
    """``chatcmpl-`` and 24 hex digits, for answers whose upstream gives no id."""
    return f"chatcmpl-{secrets.token_hex(12)}"


def includes_usage(request: JSONObject) -> bool:
    """Whether the client asked for the final usage chunk (``stream_options.include_usage``)."""
    options = request.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def usage(
    prompt: int,
    completion: int,
    *,
    cached: int | None = None,
    reasoning: int | None = None,
    total: int | None = None,
) -> JSONObject:
    """OpenAI ``usage``; the details objects only when their counts are known."""
    out: JSONObject = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion if total is None else total,
    }
    if cached is not None:
        out["prompt_tokens_details"] = {"cached_tokens": cached}
    if reasoning is not None:
        out["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return out


def tool_call(call_id: Any, name: Any, arguments: str) -> JSONObject:
    """One entry of ``message.tool_calls`` (without the ``index`` a stream delta adds)."""
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def assistant_message(
    content: str | None,
    *,
    reasoning: str | None = None,
    tool_calls: list[JSONObject] | None = None,
) -> JSONObject:
    """A ``chat.completion`` message; ``reasoning_content`` and ``tool_calls`` when present."""
    message: JSONObject = {"role": "assistant", "content": content, "refusal": None}
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    if tool_calls:
        message["tool_calls"] = tool_calls
    return message


def choice(message: JSONObject, finish_reason: str, index: int = 0) -> JSONObject:
    return {"index": index, "message": message, "logprobs": None, "finish_reason": finish_reason}


def completion(
    completion_id: str, model: Any, choices: list[JSONObject], usage: JSONObject | None
) -> JSONObject:
    """A ``chat.completion`` object; ``usage`` is left out when the upstream sent none."""
    out: JSONObject = {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
    }
    if usage is not None:
        out["usage"] = usage
    return out


def encode_float32(vector: list[float]) -> str:
    """Base64 of little-endian float32s: what OpenAI sends and its SDK decodes."""
    packed = array("f", vector)
    if sys.byteorder != "little":
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode("ascii")


def embeddings_body(
    vectors: Iterable[list[float]], model: Any, prompt_tokens: int, encoding_format: Any
) -> JSONObject:
    """OpenAI's embeddings list; ``encoding_format: base64`` packs each vector as float32."""
    is_base64 = encoding_format == "base64"
    return {
        "object": "list",
        "data": [
            {
                "object": "embedding",
                "index": index,
                "embedding": encode_float32(vector) if is_base64 else vector,
            }
            for index, vector in enumerate(vectors)
        ],
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }


def error_event(message: str, error_type: str, code: str | None) -> bytes:
    """The OpenAI error event that ends a failed stream (no ``[DONE]`` follows it)."""
    body = {"error": {"message": message, "type": error_type, "param": None, "code": code}}
    return encode_data(orjson.dumps(body))


def error_event_of(error: ProxyError) -> bytes:
    """``error`` as the OpenAI error event that ends a failed stream."""
    return encode_data(orjson.dumps(error.to_dict()))


class ChunkWriter:
    """Encodes one stream's ``chat.completion.chunk`` events.

    Every chunk carries the same id, ``created`` and model; with ``include_usage``
    each also carries ``"usage": null`` and ``usage_chunk`` sends the counts last.
    """

    __slots__ = ("_created", "_first", "_id", "_model", "_prefix", "_tail", "include_usage")

    def __init__(self, request: JSONObject, chunk_id: str | None = None) -> None:
        self.include_usage = includes_usage(request)
        self._model = orjson.dumps(request.get("model"))
        self._created = str(int(time.time())).encode()
        self._tail = b',"usage":null}\n\n' if self.include_usage else b"}\n\n"
        self.set_id(chunk_id or new_completion_id())

    def set_id(self, chunk_id: str) -> None:
        """Use the upstream's id once it is known (chunks sent so far keep the old one)."""
        self._id = orjson.dumps(chunk_id)
        self._prefix = (
            b'data: {"id":'
            + self._id
            + b',"object":"chat.completion.chunk","created":'
            + self._created
            + b',"model":'
            + self._model
            + b',"choices":'
        )
        self._first = self._prefix + b'[{"index":0,"delta":'

    def delta(self, delta: JSONObject | bytes, index: int = 0) -> bytes:
        """A chunk with one choice's ``delta`` (a dict, or its JSON already encoded)."""
        encoded = delta if isinstance(delta, bytes) else orjson.dumps(delta)
        return self._choice(index) + encoded + _NO_FINISH + self._tail

    def role(self, index: int = 0) -> bytes:
        """The opening chunk: ``{"role": "assistant", "content": ""}``."""
        return self.delta(_ROLE_DELTA, index)

    def content(self, text: str, index: int = 0) -> bytes:
        return self.delta(b'{"content":' + orjson.dumps(text) + b"}", index)

    def reasoning(self, text: str, index: int = 0) -> bytes:
        return self.delta(b'{"reasoning_content":' + orjson.dumps(text) + b"}", index)

    def tool_calls(self, calls: list[JSONObject], index: int = 0) -> bytes:
        """``delta.tool_calls``; each call has its own ``index`` among the tool calls."""
        return self.delta(b'{"tool_calls":' + orjson.dumps(calls) + b"}", index)

    def tool_call_start(
        self, position: int, call_id: Any, name: Any, arguments: str = "", index: int = 0
    ) -> bytes:
        """The first delta of tool call ``position``: its id, name and first arguments."""
        return self.tool_calls([{"index": position, **tool_call(call_id, name, arguments)}], index)

    def tool_call_arguments(self, position: int, fragment: str, index: int = 0) -> bytes:
        return self.tool_calls([{"index": position, "function": {"arguments": fragment}}], index)

    def finish(self, reason: str, index: int = 0) -> bytes:
        """The choice's last chunk: an empty delta with its ``finish_reason``."""
        return (
            self._choice(index)
            + b'{},"logprobs":null,"finish_reason":'
            + orjson.dumps(reason)
            + b"}]"
            + self._tail
        )

    def usage_chunk(self, counts: JSONObject) -> bytes:
        """The choice-less chunk ``stream_options.include_usage`` asks for."""
        return self._prefix + b'[],"usage":' + orjson.dumps(counts) + b"}\n\n"

    def end(self, counts: JSONObject) -> list[bytes]:
        """The usage chunk when the client asked for it, then ``[DONE]``."""
        if self.include_usage:
            return [self.usage_chunk(counts), DONE_EVENT]
        return [DONE_EVENT]

    def _choice(self, index: int) -> bytes:
        if index == 0:
            return self._first
        return self._prefix + b'[{"index":' + str(index).encode() + b',"delta":'
