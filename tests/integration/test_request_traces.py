"""Traces of real requests, read from the OpenTelemetry SDK's in-memory exporter.

The gateway runs in this process (uvicorn in a thread, so the exporter is in
reach) and calls the simulator over loopback HTTP; the client is the official
``openai`` SDK, sending a W3C ``traceparent`` as a traced caller would.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
import uvicorn
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from processes import SIM_KEY, Running, free_port, sim_provider

from proxyapi.app import build_app
from proxyapi.config import validate_config
from proxyapi.observability.logging import JsonFormatter, log_context
from proxyapi.observability.tracing import current_ids

pytestmark = pytest.mark.integration

CLIENT_KEY = "pxy-traced-client-0001"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
FAILING = {"x-sim-error-status": "503", "x-sim-error-rate": "1"}


@pytest.fixture(scope="module")
def traced(
    simulator: Running, monkeypatch_module: pytest.MonkeyPatch
) -> Iterator[tuple[str, InMemorySpanExporter]]:
    monkeypatch_module.setenv("SIM_KEY", SIM_KEY)
    config = validate_config(
        {
            "providers": [
                sim_provider("primary", simulator.url, ["gpt-4o-mini"], 1),
                sim_provider(
                    "flaky", simulator.url, ["fallback-model"], 2, headers=FAILING, retry_delay=0
                ),
                sim_provider("backup", simulator.url, ["fallback-model"], 3),
            ],
            "auth": {"api_keys": [CLIENT_KEY]},
            "http_client": {"retry_attempts": 1},
            "circuit_breaker": {"enabled": False},
            "health_check": {"enabled": False},
            "caching": {"enabled": False},  # every request goes upstream
            "telemetry": {
                "enabled": True,
                "service_name": "gateway-under-test",
                "jaeger": {"enabled": False},
                "zipkin": {"enabled": False},
            },
        }
    )
    exporter = InMemorySpanExporter()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            build_app(config, span_exporter=exporter),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "gateway did not start"
        time.sleep(0.05)
    yield url, exporter
    server.should_exit = True
    thread.join(timeout=15)


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def chat(url: str, model: str, **headers: str) -> Any:
    sdk = openai.OpenAI(
        base_url=url + "/v1", api_key=CLIENT_KEY, max_retries=0, default_headers=headers
    )
    return sdk.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])


def spans_of(exporter: InMemorySpanExporter, trace_id: int) -> list[ReadableSpan]:
    deadline = time.monotonic() + 5
    while True:
        found = [s for s in exporter.get_finished_spans() if s.context.trace_id == trace_id]
        if any(s.kind is SpanKind.SERVER for s in found) or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def by_name(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def test_a_request_continues_the_callers_trace_down_to_the_provider(
    traced: tuple[str, InMemorySpanExporter], simulator: Running
) -> None:
    url, exporter = traced
    chat(url, "gpt-4o-mini", traceparent=f"00-{TRACE_ID}-{PARENT_ID}-01")
    spans = spans_of(exporter, int(TRACE_ID, 16))
    (server,) = by_name(spans, "POST /v1/chat/completions")
    assert server.kind is SpanKind.SERVER
    assert server.parent is not None and server.parent.span_id == int(PARENT_ID, 16)
    assert server.attributes is not None
    assert server.attributes["http.response.status_code"] == 200
    assert server.resource.attributes["service.name"] == "gateway-under-test"
    (auth,) = by_name(spans, "auth")
    (attempt,) = by_name(spans, "provider.attempt")
    for child in (auth, attempt):
        assert child.parent is not None and child.parent.span_id == server.context.span_id
    assert attempt.attributes is not None
    assert attempt.attributes["proxyapi.provider"] == "primary"
    assert attempt.attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert attempt.attributes["proxyapi.retry"] == 0
    assert attempt.attributes["proxyapi.outcome"] == "success"
    assert int(attempt.attributes["gen_ai.usage.output_tokens"]) > 0  # type: ignore[arg-type]
    upstream = httpx.get(simulator.url + "/_sim/stats").json()["last_request"]["headers"]
    sent = {k.lower(): v for k, v in upstream.items()}["traceparent"]
    assert sent == f"00-{TRACE_ID}-{attempt.context.span_id:016x}-01"


def test_every_attempt_is_a_span_with_its_retry_number_and_outcome(
    traced: tuple[str, InMemorySpanExporter],
) -> None:
    url, exporter = traced
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    chat(url, "fallback-model", traceparent=f"00-{trace_id}-b7ad6b7169203331-01")
    attempts = sorted(
        by_name(spans_of(exporter, int(trace_id, 16)), "provider.attempt"),
        key=lambda s: s.start_time or 0,
    )
    seen = [
        (a.attributes["proxyapi.provider"], a.attributes["proxyapi.retry"])  # type: ignore[index]
        for a in attempts
    ]
    assert seen == [("flaky", 0), ("flaky", 1), ("backup", 0)]
    assert [a.status.status_code for a in attempts] == [
        StatusCode.ERROR,
        StatusCode.ERROR,
        StatusCode.UNSET,
    ]
    assert attempts[0].attributes["proxyapi.outcome"] == "error"  # type: ignore[index]


def test_without_a_caller_trace_a_new_one_starts(
    traced: tuple[str, InMemorySpanExporter],
) -> None:
    url, exporter = traced
    exporter.clear()
    chat(url, "gpt-4o-mini")
    deadline = time.monotonic() + 5
    while not any(s.kind is SpanKind.SERVER for s in exporter.get_finished_spans()):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    (server,) = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert server.parent is None


def test_log_lines_of_a_traced_request_carry_its_trace_and_span_ids(
    traced: tuple[str, InMemorySpanExporter],
) -> None:
    url, exporter = traced
    sink = io.StringIO()
    handler = logging.StreamHandler(sink)
    handler.setFormatter(JsonFormatter(log_context(trace_ids=current_ids)))
    access = logging.getLogger("proxyapi.access")
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    try:
        trace_id = "5bf92f3577b34da6a3ce929d0e0e4736"
        chat(url, "gpt-4o-mini", traceparent=f"00-{trace_id}-00f067aa0ba902b7-01")
        deadline = time.monotonic() + 5  # the line is written once the answer has gone
        while not sink.getvalue() and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        access.removeHandler(handler)
    (line,) = [json.loads(text) for text in sink.getvalue().splitlines()]
    (server,) = [
        s for s in spans_of(exporter, int(trace_id, 16)) if s.name == "POST /v1/chat/completions"
    ]
    assert line["trace_id"] == trace_id
    assert line["span_id"] == f"{server.context.span_id:016x}"
