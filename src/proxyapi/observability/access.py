"""What one request did, gathered as it goes, then logged and counted once at its end.

The door (``app.GatewayApp``) opens a ``RequestRecord`` per HTTP request and
puts it in the ASGI scope; the pipeline fills in what only it knows (provider,
model, attempts, cache status, tokens, time to first token); the door closes
it when the last byte is sent or the client is gone: one access-log line, the
request metrics.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any, Final

from starlette.types import Scope

from proxyapi.observability.logging import write_access
from proxyapi.observability.metrics import Metrics

RECORD: Final = "proxyapi.record"
UNTRUSTED: Final = ("model", "content")  # access fields whose values a client chose
access_logger = logging.getLogger("proxyapi.access")

_PROMPT: Final = re.compile(rb'"prompt_tokens":\s*(\d+)')
_COMPLETION: Final = re.compile(rb'"completion_tokens":\s*(\d+)')
USAGE: Final = b'"usage":'


@dataclass(slots=True)
class RequestRecord:
    method: str
    route: str
    started: float
    status: int = 0
    provider: str | None = None
    model: str | None = None
    attempts: int | None = None
    cache: str | None = None
    stream: bool = False
    first_token: float | None = None  # seconds from arrival to the first chunk
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    client_ip: str | None = None
    key_id: str | None = None
    content: dict[str, Any] | None = None  # only with logging.log_content

    def read_usage(self, body: bytes) -> bool:
        """Take the token counts from an OpenAI-shaped body or chunk; False if it has none."""
        at = body.rfind(USAGE)
        if at < 0:
            return False
        prompt = _PROMPT.search(body, at)
        completion = _COMPLETION.search(body, at)
        if prompt is None and completion is None:
            return False
        self.prompt_tokens = int(prompt.group(1)) if prompt else 0
        self.completion_tokens = int(completion.group(1)) if completion else 0
        return True


def record_of(scope: Scope) -> RequestRecord | None:
    record: RequestRecord | None = scope.get(RECORD)
    return record


def fields_of(record: RequestRecord, seconds: float) -> dict[str, Any]:
    """The access line's structured fields (unknown ones are left out)."""
    fields: dict[str, Any] = {
        "method": record.method,
        "route": record.route,
        "status": record.status,
        "latency_ms": round(seconds * 1000, 2),
    }
    if record.provider is not None:
        fields["provider"] = record.provider
    if record.model is not None:
        fields["model"] = record.model
    if record.attempts is not None:
        fields["attempts"] = record.attempts
    if record.cache is not None:
        fields["cache"] = record.cache
    if record.stream:
        fields["stream"] = True
    if record.first_token is not None:
        fields["ttft_ms"] = round(record.first_token * 1000, 2)
    if record.prompt_tokens is not None:
        fields["prompt_tokens"] = record.prompt_tokens
    if record.completion_tokens is not None:
        fields["completion_tokens"] = record.completion_tokens
    if record.client_ip is not None:
        fields["client_ip"] = record.client_ip
    if record.key_id is not None:
        fields["key_id"] = record.key_id
    if record.content is not None:
        fields["content"] = record.content
    return fields


def close_record(record: RequestRecord, metrics: Metrics | None, log_access: bool) -> None:
    """The request is over: count it, and write its access line.

    Both are only noted here and done in batches shortly after, off the request
    path (see ``Metrics.note`` and ``logging.write_access``).
    """
    seconds = time.perf_counter() - record.started
    record.status = record.status or 499  # the client left before any answer started
    if metrics is not None:
        metrics.note(count_request, record, seconds)
    if log_access and access_logger.isEnabledFor(logging.INFO):
        write_access(access_logger, AccessLine(record, seconds), UNTRUSTED)


def count_request(metrics: Metrics, record: RequestRecord, seconds: float) -> None:
    """A finished request's metrics (run by ``Metrics.apply``, in a batch)."""
    metrics.record_request(record.method, record.route, record.status, seconds)
    provider, model = record.provider, record.model
    if provider is not None and model is not None and provider != "cache":
        if record.prompt_tokens or record.completion_tokens:
            metrics.record_tokens(
                provider, model, record.prompt_tokens or 0, record.completion_tokens or 0
            )
        if record.first_token is not None:
            metrics.record_first_token(provider, model, record.first_token)
    if record.cache in ("HIT", "MISS"):
        metrics.record_cache("response", record.cache == "HIT")


class AccessLine:
    """A finished request's access line, built only when it is written."""

    __slots__ = ("record", "seconds")

    def __init__(self, record: RequestRecord, seconds: float) -> None:
        self.record = record
        self.seconds = seconds

    def message(self) -> str:
        r = self.record
        return f"{r.method} {r.route} {r.status} {self.seconds * 1000:.1f}ms"

    def fields(self) -> dict[str, Any]:
        return fields_of(self.record, self.seconds)
