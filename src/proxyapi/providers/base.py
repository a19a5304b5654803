"""The provider adapter contract: pure translation between OpenAI's shape and a provider's.

An adapter does no I/O. The core owns sessions, timeouts, retries and fallbacks;
an adapter only says what to send (``UpstreamRequest``) and what an answer means
(OpenAI JSON bytes, OpenAI SSE chunks, or a classified ``UpstreamError``). That is
what lets every adapter be unit-tested against recorded wire fixtures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from proxyapi.errors import UpstreamError
from proxyapi.transport.sse import SSEEvent

JSONObject = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Deployment:
    """One enabled provider as the request path sees it: where to send, with what key."""

    name: str
    type: str
    base_url: str
    api_key: str | None
    models: tuple[str, ...]
    priority: int
    timeout: float
    headers: Mapping[str, str] = field(default_factory=dict)
    drop_params: bool = False
    deployments: Mapping[str, str] = field(default_factory=dict)
    api_version: str | None = None


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    """An HTTP request for the transport to send; built by an adapter."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None = None


class StreamTranslator(Protocol):
    """Turns one upstream stream into OpenAI ``chat.completion.chunk`` SSE bytes.

    A fresh object per stream: it keeps that stream's state (tool-call indexes,
    usage seen, whether ``[DONE]`` was sent).
    """

    def feed(self, event: SSEEvent) -> list[bytes]: ...

    def close(self) -> list[bytes]: ...


class ProviderAdapter(Protocol):
    """What every wire format implements; see DESIGN.md, "The provider adapter contract"."""

    def build_chat(self, body: JSONObject, deployment: Deployment) -> UpstreamRequest: ...

    def parse_chat(self, status: int, body: bytes, request: JSONObject) -> bytes:
        """The upstream's 2xx answer as OpenAI ``chat.completion`` JSON bytes."""
        ...

    def stream_translator(self, request: JSONObject) -> StreamTranslator: ...

    def build_embeddings(self, body: JSONObject, deployment: Deployment) -> UpstreamRequest: ...

    def parse_embeddings(self, status: int, body: bytes, request: JSONObject) -> bytes: ...

    def build_models(self, deployment: Deployment) -> UpstreamRequest | None:
        """The request listing the provider's models, or None when it has no such endpoint."""
        ...

    def parse_models(self, body: bytes) -> list[str]: ...

    def classify_error(
        self, status: int, headers: Mapping[str, str], body: bytes, provider: str
    ) -> UpstreamError: ...
