"""``validation.response``: what an upstream answer must be before a client sees it.

The shape and size checks run inside the upstream attempt, so a malformed answer
is a provider failure like any other: retried, then the next provider is tried.
Each check costs next to nothing on a clean answer: a structural look at the
parsed JSON, a length, and one bytes search before any sanitizing work.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from proxyapi.config.traffic import ResponseValidation
from proxyapi.errors import InvalidUpstreamResponse, UpstreamResponseTooLarge

# Control characters other than \t \n \r, as JSON escapes them (orjson and the
# adapters never write them raw), plus raw ones from a pass-through provider.
_CONTROL_ESCAPE = re.compile(
    rb"\\u00(?:0[0-8bBcCeEfF]|1[0-9a-fA-F]|7[fF])|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_BYTES = bytes([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])


def _clean_already(data: bytes) -> bool:
    """The fast verdict for almost every answer: ASCII, no ``\\u00`` escape, no raw control.

    A substring test and a byte translation: a tenth of the combined
    pattern's cost, paid on every answer and every stream chunk.
    """
    return (
        data.isascii()
        and b"\\u00" not in data
        and len(data.translate(None, _CONTROL_BYTES)) == len(data)
    )


class ResponseChecks:
    """The response checks in effect; built from config once per gateway."""

    def __init__(self, config: ResponseValidation) -> None:
        self.validate_schema = config.validate_schema
        self.sanitize_output = config.sanitize_output
        self.max_size = config.max_response_size

    def chat(self, body: bytes, provider: str) -> bytes:
        """The chat completion, checked; an error the caller's retries act on if not."""
        self._check_size(body, provider)
        if self.validate_schema:
            check_chat_shape(body, provider)
        return sanitize(body) if self.sanitize_output else body

    def embeddings(self, body: bytes, provider: str) -> bytes:
        self._check_size(body, provider)
        if self.validate_schema:
            check_embeddings_shape(body, provider)
        return body

    def _check_size(self, body: bytes, provider: str) -> None:
        if len(body) > self.max_size:
            raise UpstreamResponseTooLarge(
                f"The answer of provider '{provider}' is over the {self.max_size}-byte limit.",
                provider=provider,
            )

    def first(self, data: bytes, provider: str = "") -> bytes:
        """The first bytes of a stream, before it is committed: over the limit, a 502."""
        self._check_size(data, provider)
        return sanitize_events(data) if self.sanitize_output else data

    def chunk(self, data: bytes, size: int, provider: str) -> bytes:
        """One stream chunk, ``size`` bytes into the stream: sanitized, or refused past the limit.

        Raising ends the stream with an error event (dispatch's pump writes it).
        """
        if size > self.max_size:
            raise UpstreamResponseTooLarge(
                f"The stream of provider '{provider}' went over the {self.max_size}-byte limit.",
                provider=provider,
            )
        return sanitize_events(data) if self.sanitize_output else data


def _invalid(provider: str, what: str) -> InvalidUpstreamResponse:
    return InvalidUpstreamResponse(
        f"Provider '{provider}' sent an answer that is not an OpenAI {what}.", provider=provider
    )


def _load(body: bytes, provider: str, what: str) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise _invalid(provider, what) from None


def check_chat_shape(body: bytes, provider: str) -> None:
    """A ``chat.completion``: an object with a list of choices, each with a message."""
    answer = _load(body, provider, "chat completion")
    choices = answer.get("choices") if isinstance(answer, dict) else None
    if not isinstance(choices, list):
        raise _invalid(provider, "chat completion")
    for choice in choices:
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            raise _invalid(provider, "chat completion")
        content = message.get("content")
        if content is not None and not isinstance(content, str):
            raise _invalid(provider, "chat completion")


def check_embeddings_shape(body: bytes, provider: str) -> None:
    """An embeddings list: ``data`` entries, each with an ``embedding``."""
    answer = _load(body, provider, "embeddings list")
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, list) or not all(
        isinstance(item, dict) and "embedding" in item for item in data
    ):
        raise _invalid(provider, "embeddings list")


def sanitize(body: bytes) -> bytes:
    """A JSON answer without control characters (but \\t \\n \\r) or invalid UTF-8."""
    if _clean_already(body):
        return body
    if body.isascii():
        if _CONTROL_ESCAPE.search(body) is None:
            return body
        text = body.decode("ascii")
    else:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = body.decode("utf-8", "replace")
        else:
            if _CONTROL_ESCAPE.search(body) is None:
                return body
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return body  # not JSON: the shape check (when on) has said so already
    return orjson.dumps(_clean(value))


def sanitize_events(data: bytes) -> bytes:
    """SSE events with each JSON payload sanitized; clean data passes untouched."""
    if _clean_already(data):
        return data
    out: list[bytes] = []
    for event in data.split(b"\n\n"):
        if event.startswith(b"data: {"):
            event = b"data: " + sanitize(event[6:])
        out.append(event)
    return b"\n\n".join(out)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return _CONTROL.sub("", value)
    if isinstance(value, list):
        return [_clean(item) for item in value]
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    return value
