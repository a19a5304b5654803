"""``Tracing`` turns requests into server spans with child spans, continuing the client's trace."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from proxyapi.config.observability import TelemetryConfig
from proxyapi.errors import ConfigError
from proxyapi.observability.tracing import Tracing, current_ids

CLIENT_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN_ID = "00f067aa0ba902b7"
SAMPLED_PARENT = f"00-{CLIENT_TRACE_ID}-{CLIENT_SPAN_ID}-01".encode()

MakeTracing = Callable[..., tuple[Tracing, InMemorySpanExporter]]


def telemetry(**values: Any) -> TelemetryConfig:
    """An enabled telemetry block with the legacy exporters off unless asked for."""
    block: dict[str, Any] = {"enabled": True, "jaeger": {}, "zipkin": {}, **values}
    return TelemetryConfig.model_validate(block)


@pytest.fixture
def make_tracing() -> Iterator[MakeTracing]:
    built: list[Tracing] = []

    def make(**values: Any) -> tuple[Tracing, InMemorySpanExporter]:
        exporter = InMemorySpanExporter()
        tracing = Tracing(telemetry(**values), version="1.2.3", exporter=exporter)
        built.append(tracing)
        return tracing, exporter

    yield make
    for tracing in built:
        tracing.shutdown()


@pytest.fixture
def tracing_and_spans(make_tracing: MakeTracing) -> tuple[Tracing, InMemorySpanExporter]:
    return make_tracing()


def test_a_request_span_parents_its_child_spans(
    tracing_and_spans: tuple[Tracing, InMemorySpanExporter],
) -> None:
    tracing, exporter = tracing_and_spans
    request = tracing.start_request("POST", "/v1/chat/completions", [])
    with tracing.span("auth"):
        pass
    with tracing.span("provider.attempt", {"retry": 0}) as attempt:
        attempt.set_attribute("provider", "openai")
    request.end(200)

    auth, provider, server = exporter.get_finished_spans()
    assert server.name == "POST /v1/chat/completions" and server.kind is SpanKind.SERVER
    assert server.parent is None
    assert dict(server.attributes or {}) == {
        "http.request.method": "POST",
        "http.route": "/v1/chat/completions",
        "http.response.status_code": 200,
    }
    assert (auth.name, auth.kind) == ("auth", SpanKind.INTERNAL)
    assert provider.attributes == {"retry": 0, "provider": "openai"}
    for child in (auth, provider):
        assert child.parent is not None and server.context is not None
        assert child.parent.span_id == server.context.span_id
        assert child.context is not None and child.context.trace_id == server.context.trace_id


def test_a_5xx_response_marks_the_request_span_as_error_but_a_4xx_does_not(
    tracing_and_spans: tuple[Tracing, InMemorySpanExporter],
) -> None:
    tracing, exporter = tracing_and_spans
    tracing.start_request("POST", "/v1/chat/completions", []).end(503)
    tracing.start_request("POST", "/v1/chat/completions", []).end(429)
    failed, rejected = exporter.get_finished_spans()
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes is not None and failed.attributes["error.type"] == "503"
    assert rejected.status.status_code is StatusCode.UNSET


def test_a_client_traceparent_is_continued(
    tracing_and_spans: tuple[Tracing, InMemorySpanExporter],
) -> None:
    tracing, exporter = tracing_and_spans
    headers = [(b"content-type", b"application/json"), (b"traceparent", SAMPLED_PARENT)]
    tracing.start_request("GET", "/v1/models", iter(headers)).end(200)
    (server,) = exporter.get_finished_spans()
    assert server.context is not None and server.parent is not None
    assert format(server.context.trace_id, "032x") == CLIENT_TRACE_ID
    assert format(server.parent.span_id, "016x") == CLIENT_SPAN_ID
    assert server.parent.is_remote


def test_a_malformed_traceparent_starts_a_new_trace(
    tracing_and_spans: tuple[Tracing, InMemorySpanExporter],
) -> None:
    tracing, exporter = tracing_and_spans
    tracing.start_request("GET", "/v1/models", [(b"traceparent", b"garbage")]).end(200)
    (server,) = exporter.get_finished_spans()
    assert server.parent is None


def test_inject_names_the_current_span_and_carries_the_client_tracestate(
    tracing_and_spans: tuple[Tracing, InMemorySpanExporter],
) -> None:
    tracing, _ = tracing_and_spans
    headers = [(b"traceparent", SAMPLED_PARENT), (b"tracestate", b"vendor=abc")]
    request = tracing.start_request("POST", "/v1/chat/completions", headers)
    with tracing.span("provider.attempt") as attempt:
        upstream: dict[str, str] = {"content-type": "application/json"}
        tracing.inject(upstream)
    request.end(200)
    span_id = format(attempt.get_span_context().span_id, "016x")
    assert upstream["traceparent"] == f"00-{CLIENT_TRACE_ID}-{span_id}-01"
    assert upstream["tracestate"] == "vendor=abc"


def test_inject_writes_nothing_outside_a_span(
    tracing_and_spans: tuple[Tracing, InMemorySpanExporter],
) -> None:
    tracing, _ = tracing_and_spans
    upstream: dict[str, str] = {}
    tracing.inject(upstream)
    assert upstream == {}


def test_probability_zero_exports_nothing(make_tracing: MakeTracing) -> None:
    tracing, exporter = make_tracing(sampling={"probability": 0})
    request = tracing.start_request("GET", "/v1/models", [])
    with tracing.span("auth"):
        pass
    request.end(200)
    assert exporter.get_finished_spans() == ()


def test_parent_based_sampling_follows_a_sampled_client_despite_probability_zero(
    make_tracing: MakeTracing,
) -> None:
    tracing, exporter = make_tracing(sampling={"probability": 0, "parent_based": True})
    tracing.start_request("GET", "/v1/models", [(b"traceparent", SAMPLED_PARENT)]).end(200)
    assert len(exporter.get_finished_spans()) == 1


def test_without_parent_based_sampling_the_client_decision_is_ignored(
    make_tracing: MakeTracing,
) -> None:
    tracing, exporter = make_tracing(sampling={"probability": 0, "parent_based": False})
    tracing.start_request("GET", "/v1/models", [(b"traceparent", SAMPLED_PARENT)]).end(200)
    assert exporter.get_finished_spans() == ()


def test_a_sampling_rule_for_the_service_overrides_the_probability(
    make_tracing: MakeTracing,
) -> None:
    rules = [{"service": "other", "probability": 1}, {"service": "gw", "probability": 0}]
    tracing, exporter = make_tracing(service_name="gw", sampling={"probability": 1, "rules": rules})
    tracing.start_request("GET", "/v1/models", []).end(200)
    assert exporter.get_finished_spans() == ()


def test_unsampled_requests_still_give_log_lines_ids(make_tracing: MakeTracing) -> None:
    tracing, _ = make_tracing(sampling={"probability": 0})
    request = tracing.start_request("GET", "/v1/models", [])
    assert current_ids() is not None
    request.end(200)


def test_an_exception_in_a_span_marks_it_as_error_and_propagates(
    tracing_and_spans: tuple[Tracing, InMemorySpanExporter],
) -> None:
    tracing, exporter = tracing_and_spans
    with pytest.raises(TimeoutError), tracing.span("provider.attempt"):
        raise TimeoutError("upstream took too long")
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert [event.name for event in span.events] == ["exception"]


def test_ending_a_request_twice_is_harmless(
    tracing_and_spans: tuple[Tracing, InMemorySpanExporter],
) -> None:
    tracing, exporter = tracing_and_spans
    request = tracing.start_request("GET", "/v1/models", [])
    request.end(200)
    request.end(500)
    (server,) = exporter.get_finished_spans()
    assert server.attributes is not None
    assert server.attributes["http.response.status_code"] == 200
    assert current_ids() is None


def test_current_ids_name_the_current_span_and_none_outside(
    tracing_and_spans: tuple[Tracing, InMemorySpanExporter],
) -> None:
    tracing, _ = tracing_and_spans
    assert current_ids() is None
    request = tracing.start_request("GET", "/v1/models", [(b"traceparent", SAMPLED_PARENT)])
    with tracing.span("cache.lookup") as span:
        span_id = format(span.get_span_context().span_id, "016x")
        assert current_ids() == (CLIENT_TRACE_ID, span_id)
    assert current_ids() == (
        CLIENT_TRACE_ID,
        format(request.span.get_span_context().span_id, "016x"),
    )
    request.end(200)
    assert current_ids() is None


async def test_concurrent_requests_each_see_their_own_span(
    tracing_and_spans: tuple[Tracing, InMemorySpanExporter],
) -> None:
    tracing, _ = tracing_and_spans

    async def handle(route: str) -> str:
        request = tracing.start_request("GET", route, [])
        own = request.span.get_span_context()
        with tracing.span("auth"):
            await asyncio.sleep(0)
        assert current_ids() == (format(own.trace_id, "032x"), format(own.span_id, "016x"))
        request.end(200)
        return format(own.trace_id, "032x")

    first, second = await asyncio.gather(handle("/a"), handle("/b"))
    assert first != second
    assert current_ids() is None


def test_the_resource_names_the_service_its_version_and_extra_attributes(
    make_tracing: MakeTracing,
) -> None:
    tracing, exporter = make_tracing(service_name="gw", resource={"deployment.environment": "prod"})
    tracing.start_request("GET", "/v1/models", []).end(200)
    (server,) = exporter.get_finished_spans()
    attributes = server.resource.attributes
    assert attributes["service.name"] == "gw"
    assert attributes["service.version"] == "1.2.3"
    assert attributes["deployment.environment"] == "prod"


def test_a_configured_service_version_wins_over_the_package_version(
    make_tracing: MakeTracing,
) -> None:
    tracing, exporter = make_tracing(service_version="2024.1")
    tracing.start_request("GET", "/v1/models", []).end(200)
    (server,) = exporter.get_finished_spans()
    assert server.resource.attributes["service.version"] == "2024.1"


def test_tracing_leaves_the_global_tracer_provider_alone(make_tracing: MakeTracing) -> None:
    before = trace.get_tracer_provider()
    make_tracing()
    assert trace.get_tracer_provider() is before


def test_without_otlp_or_an_exporter_spans_are_made_but_not_exported() -> None:
    tracing = Tracing(telemetry(), version="1.2.3")
    try:
        request = tracing.start_request("GET", "/v1/models", [])
        assert tracing.exporter is None and current_ids() is not None
        request.end(200)
    finally:
        tracing.shutdown()


@pytest.fixture
def otlp_tracing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> Iterator[Callable[..., Tracing]]:
    """Builds OTLP tracings without sending anything; asserts their shutdown is quick and quiet."""
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", raising=False)
    built: list[Tracing] = []

    def make(protocol: str | None, **otlp: Any) -> Tracing:
        if protocol is None:
            monkeypatch.delenv("OTEL_EXPORTER_OTLP_PROTOCOL", raising=False)
        else:
            monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
        settings = telemetry(otlp={"enabled": True, **otlp})
        built.append(Tracing(settings, version="1.2.3", export_timeout=0.2))
        return built[-1]

    caplog.set_level(logging.WARNING)
    yield make
    started = time.monotonic()
    for tracing in built:
        tracing.shutdown()
    assert time.monotonic() - started < 5
    assert [record for record in caplog.records if record.levelno >= logging.WARNING] == []


def test_otlp_uses_grpc_by_default(otlp_tracing: Callable[..., Tracing]) -> None:
    tracing = otlp_tracing(None, endpoint="http://collector:4317")
    assert isinstance(tracing.exporter, GrpcSpanExporter)


def test_otlp_uses_http_when_the_protocol_says_http_protobuf(
    otlp_tracing: Callable[..., Tracing],
) -> None:
    tracing = otlp_tracing("http/protobuf", endpoint="http://collector:4318")
    assert isinstance(tracing.exporter, HttpSpanExporter)
    # The SDK has no public accessor for the URL it posts to.
    assert tracing.exporter._endpoint == "http://collector:4318/v1/traces"


def test_an_otlp_http_endpoint_with_a_path_is_used_as_is(
    otlp_tracing: Callable[..., Tracing],
) -> None:
    tracing = otlp_tracing("http/protobuf", endpoint="https://otel.example/custom/traces")
    assert isinstance(tracing.exporter, HttpSpanExporter)
    assert tracing.exporter._endpoint == "https://otel.example/custom/traces"


def test_an_unknown_otlp_protocol_is_a_config_error(
    otlp_tracing: Callable[..., Tracing],
) -> None:
    with pytest.raises(ConfigError) as raised:
        otlp_tracing("http/json")
    assert "OTEL_EXPORTER_OTLP_PROTOCOL" in raised.value.problems[0]


@pytest.fixture
def tracing_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    # Attached to the logger itself: another test may have stopped "proxyapi" propagating.
    logger = logging.getLogger("proxyapi.observability.tracing")
    propagate, level = logger.propagate, logger.level
    logger.addHandler(caplog.handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    yield caplog
    logger.removeHandler(caplog.handler)
    logger.propagate, logger.level = propagate, level


def test_enabled_jaeger_or_zipkin_get_one_line_saying_spans_go_only_to_otlp(
    tracing_log: pytest.LogCaptureFixture,
) -> None:
    settings = telemetry(jaeger={"enabled": True}, zipkin={"enabled": True})
    Tracing(settings, version="1.2.3").shutdown()
    (record,) = tracing_log.records
    assert record.levelno == logging.INFO
    assert "jaeger and zipkin" in record.getMessage() and "only to OTLP" in record.getMessage()


def test_jaeger_and_zipkin_are_not_mentioned_when_telemetry_is_off(
    tracing_log: pytest.LogCaptureFixture,
) -> None:
    Tracing(TelemetryConfig(), version="1.2.3").shutdown()
    assert tracing_log.records == []
