"""OpenTelemetry tracing from the ``telemetry`` block: one server span per request.

Each :class:`Tracing` owns its ``TracerProvider`` and never installs it as the
global one: a process may build several gateways (config reload, tests), and
each must flush and shut down its own spans. The current span still travels
in the OpenTelemetry context (a contextvar), so :func:`current_ids` can put the
trace and span ids on every log line without holding a ``Tracing``.

Spans are exported over OTLP only; Jaeger and Zipkin collectors accept OTLP
themselves, so their legacy exporters are not supported.
"""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from contextvars import Token
from urllib.parse import urlsplit

from opentelemetry import context, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, Sampler, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

from proxyapi.config.observability import Exporter, TelemetryConfig
from proxyapi.errors import ConfigError

__all__ = ["AttributeValue", "RequestSpan", "SpanExporter", "Tracing", "current_ids"]

logger = logging.getLogger(__name__)

AsgiHeaders = list[tuple[bytes, bytes]]

_PROPAGATOR = TraceContextTextMapPropagator()


class _AsgiHeaderGetter(Getter[AsgiHeaders]):
    """Reads W3C trace headers from an ASGI header list (lower-case byte names)."""

    def get(self, carrier: AsgiHeaders, key: str) -> list[str] | None:
        name = key.encode("latin-1")
        # A header may repeat (tracestate does); the propagator joins the values.
        values = [value.decode("latin-1") for header, value in carrier if header == name]
        return values or None

    def keys(self, carrier: AsgiHeaders) -> list[str]:
        return [header.decode("latin-1") for header, _ in carrier]


_ASGI_GETTER = _AsgiHeaderGetter()


class RequestSpan:
    """The server span of one request, current in the task that started it until :meth:`end`."""

    __slots__ = ("_token", "span")

    def __init__(self, span: Span, token: Token[Context]) -> None:
        self.span = span
        self._token: Token[Context] | None = token

    def end(self, status_code: int) -> None:
        """Record the response status, end the span and restore the previous context.

        Must run in the task that called ``start_request``; a second call does nothing.
        """
        token, self._token = self._token, None
        if token is None:
            return
        self.span.set_attribute("http.response.status_code", status_code)
        # Server spans mark only 5xx as errors; a 4xx is the client's mistake
        # (OpenTelemetry semantic conventions, "Status" for HTTP server spans).
        if status_code >= 500:
            self.span.set_attribute("error.type", str(status_code))
            self.span.set_status(StatusCode.ERROR)
        self.span.end()
        context.detach(token)


class Tracing:
    """Spans for the gateway, built from a ``TelemetryConfig`` with ``enabled`` on.

    ``exporter`` replaces OTLP (tests pass an ``InMemorySpanExporter``) and is
    fed synchronously. Without it, spans go to OTLP in batches when
    ``telemetry.otlp.enabled``, else nowhere: they are still created, so log
    lines carry trace ids. ``export_timeout`` (seconds) bounds one OTLP export,
    and with it :meth:`shutdown`. ``exporter`` is kept as an attribute (None
    when spans go nowhere). An unsupported ``OTEL_EXPORTER_OTLP_PROTOCOL``
    raises ``ConfigError``.
    """

    def __init__(
        self,
        settings: TelemetryConfig,
        *,
        version: str,
        exporter: SpanExporter | None = None,
        export_timeout: float = 10.0,
    ) -> None:
        self._provider = TracerProvider(
            sampler=_build_sampler(settings),
            resource=_build_resource(settings, version),
        )
        processor: SpanProcessor | None = None
        if exporter is not None:
            processor = SimpleSpanProcessor(exporter)
        elif settings.otlp.enabled:
            exporter = _build_otlp_exporter(settings.otlp, timeout=export_timeout)
            processor = BatchSpanProcessor(exporter)
        if processor is not None:
            self._provider.add_span_processor(processor)
        self.exporter = exporter
        self._tracer = self._provider.get_tracer("proxyapi", version)
        legacy = [name for name in ("jaeger", "zipkin") if getattr(settings, name).enabled]
        if settings.enabled and legacy:
            logger.info(
                "telemetry: %s export is not supported; spans go only to OTLP "
                "(point telemetry.otlp.endpoint at the collector's OTLP port)",
                " and ".join(legacy),
            )

    def start_request(
        self, method: str, route: str, headers: Iterable[tuple[bytes, bytes]]
    ) -> RequestSpan:
        """Start the server span of a request and make it current in this task's context.

        A W3C ``traceparent`` (and ``tracestate``) from the client is continued.
        """
        carrier = headers if isinstance(headers, list) else list(headers)
        parent = _PROPAGATOR.extract(carrier, getter=_ASGI_GETTER)
        span = self._tracer.start_span(
            f"{method} {route}",
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "http.route": route},
        )
        token = context.attach(trace.set_span_in_context(span))
        return RequestSpan(span, token)

    def span(
        self, name: str, attributes: Mapping[str, AttributeValue] | None = None
    ) -> AbstractContextManager[Span]:
        """A child span of the current one for the block; an exception escaping it is recorded."""
        return self._tracer.start_as_current_span(name, attributes=attributes)

    def inject(self, headers: dict[str, str]) -> None:
        """Write ``traceparent`` (and ``tracestate``) naming the current span into ``headers``."""
        _PROPAGATOR.inject(headers)

    def shutdown(self) -> None:
        """Export what is buffered and stop.

        Blocks while the last batches go out: each export gives up after
        ``export_timeout``, and the SDK stops waiting for its worker after 30 s.
        """
        self._provider.shutdown()


def current_ids() -> tuple[str, str] | None:
    """``(trace_id, span_id)`` of the current span as 32 and 16 hex digits, or None."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return format(span_context.trace_id, "032x"), format(span_context.span_id, "016x")


def _build_sampler(settings: TelemetryConfig) -> Sampler:
    """Ratio sampling; a rule naming this service overrides the probability."""
    sampling = settings.sampling
    probability = next(
        (rule.probability for rule in sampling.rules if rule.service == settings.service_name),
        sampling.probability,
    )
    ratio = TraceIdRatioBased(probability)
    return ParentBased(ratio) if sampling.parent_based else ratio


def _build_resource(settings: TelemetryConfig, version: str) -> Resource:
    return Resource.create(
        {
            **settings.resource,
            "service.name": settings.service_name,
            "service.version": settings.service_version or version,
        }
    )


def _build_otlp_exporter(settings: Exporter, *, timeout: float) -> SpanExporter:
    """The OTLP exporter for ``OTEL_EXPORTER_OTLP_PROTOCOL``: grpc (default) or http/protobuf.

    Each exporter is imported only when chosen: grpcio is slow to import.
    """
    protocol = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "grpc"
    ).strip()
    headers = dict(settings.headers)
    if settings.username is not None:
        credentials = f"{settings.username}:{settings.password or ''}".encode()
        headers.setdefault("Authorization", "Basic " + base64.b64encode(credentials).decode())
    endpoint = settings.endpoint or None
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcSpanExporter,
        )

        # gRPC metadata keys must be lower case.
        metadata = {name.lower(): value for name, value in headers.items()}
        return GrpcSpanExporter(endpoint=endpoint, headers=metadata, timeout=timeout)
    if protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpSpanExporter,
        )

        # OTLP/HTTP sends traces to a signal path; a bare collector URL gets the
        # standard one (OTLP exporter spec, "Endpoint URLs for OTLP/HTTP").
        if endpoint is not None and urlsplit(endpoint).path in ("", "/"):
            endpoint = endpoint.rstrip("/") + "/v1/traces"
        return HttpSpanExporter(endpoint=endpoint, headers=headers, timeout=timeout)
    raise ConfigError(
        [f"OTEL_EXPORTER_OTLP_PROTOCOL: '{protocol}' is not supported; use grpc or http/protobuf"]
    )
