"""One access line per request, with what the pipeline learnt on the way."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import generate_latest

from proxyapi.config import validate_config
from proxyapi.observability.access import RequestRecord, close_record, fields_of
from proxyapi.observability.logging import configure_logging
from proxyapi.observability.metrics import Metrics


def test_token_counts_come_from_the_usage_object_of_a_body() -> None:
    record = RequestRecord("POST", "/v1/chat/completions", 0.0)
    body = b'{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":34,"total_tokens":46}}'
    assert record.read_usage(body)
    assert (record.prompt_tokens, record.completion_tokens) == (12, 34)


def test_a_null_usage_or_none_at_all_leaves_the_counts_unknown() -> None:
    record = RequestRecord("POST", "/v1/chat/completions", 0.0)
    assert not record.read_usage(b'data: {"choices":[],"usage":null}\n\n')
    assert not record.read_usage(b'{"data":[]}')
    assert record.prompt_tokens is None


def test_fields_leave_out_what_is_unknown() -> None:
    record = RequestRecord("GET", "/health", 0.0, status=200)
    assert set(fields_of(record, 0.001)) == {"method", "route", "status", "latency_ms"}


def test_closing_counts_the_request_and_writes_one_line(caplog: pytest.LogCaptureFixture) -> None:
    metrics = Metrics("test")
    record = RequestRecord("POST", "/v1/chat/completions", 0.0, status=200)
    record.provider, record.model, record.cache = "a", "m", "MISS"
    record.prompt_tokens, record.completion_tokens = 3, 4
    with caplog.at_level(logging.INFO, logger="proxyapi.access"):
        close_record(record, metrics, log_access=True)
    (line,) = caplog.records
    assert line.fields["provider"] == "a" and line.fields["cache"] == "MISS"  # type: ignore[attr-defined]
    text = metrics.exposition().decode()
    assert 'llm_tokens_total{model="m",provider="a",type="completion"} 4.0' in text
    assert 'proxy_api_cache_misses_total{cache_type="response"} 1.0' in text


def test_a_client_gone_before_any_answer_is_a_499_and_no_line_when_access_log_is_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = Metrics("test")
    record = RequestRecord("POST", "/v1/chat/completions", 0.0)
    with caplog.at_level(logging.INFO, logger="proxyapi.access"):
        close_record(record, metrics, log_access=False)
    assert not caplog.records
    assert 'status_code="499"' in metrics.exposition().decode()


def test_a_key_shaped_model_name_from_a_client_is_redacted_in_the_access_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(validate_config({"providers": [], "logging": {"format": "json"}}).logging)
    try:
        record = RequestRecord("POST", "/v1/chat/completions", 0.0, status=404)
        record.model = "sk-live-0123456789abcdefghij"
        close_record(record, None, log_access=True)
        line = capsys.readouterr().err.strip().splitlines()[-1]
    finally:
        root = logging.getLogger("proxyapi")
        for handler in list(root.handlers):
            root.removeHandler(handler)
            handler.close()
        root.propagate = True
    assert "0123456789" not in line and '"model":"***"' in line


async def test_requests_are_counted_in_batches_and_a_scrape_sees_every_one() -> None:
    metrics = Metrics("test")
    for _ in range(3):
        close_record(RequestRecord("GET", "/health", 0.0, status=200), metrics, log_access=False)
    assert 'endpoint="/health"' not in generate_latest(metrics.registry).decode()  # noted only
    assert 'method="GET",status_code="200"} 3.0' in metrics.exposition().decode()
