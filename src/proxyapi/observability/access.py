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

from proxyapi.observability.figures import ms
from proxyapi.observability.metrics import Metrics

RECORD: Final = "proxyapi.record"
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
    """The access line's structured fields (None values are left out)."""
    fields: dict[str, Any] = {
        "method": record.method,
        "route": record.route,
        "status": record.status,
        "latency_ms": round(seconds * 1000, 2),
    }
    optional = {
        "provider": record.provider,
        "model": record.model,
        "attempts": record.attempts,
        "cache": record.cache,
        "stream": record.stream or None,
        "ttft_ms": ms(record.first_token),
        "prompt_tokens": record.prompt_tokens,
        "completion_tokens": record.completion_tokens,
        "client_ip": record.client_ip,
        "key_id": record.key_id,
    }
    fields.update((k, v) for k, v in optional.items() if v is not None)
    if record.content is not None:
        fields["content"] = record.content
    return fields


def close_record(record: RequestRecord, metrics: Metrics | None, log_access: bool) -> None:
    """The request is over: count it, and write its access line."""
    seconds = time.perf_counter() - record.started
    status = record.status or 499  # the client left before any answer started
    record.status = status
    if metrics is not None:
        metrics.record_request(record.method, record.route, status, seconds)
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
    if log_access and access_logger.isEnabledFor(logging.INFO):
        access_logger.info(
            "%s %s %d %.1fms",
            record.method,
            record.route,
            status,
            seconds * 1000,
            extra={"fields": fields_of(record, seconds)},
        )
