"""The JSON view and the alerts read their numbers back from the Prometheus metrics."""

from __future__ import annotations

import math

import pytest

from proxyapi.observability.figures import (
    quantile,
    read_totals,
    request_figures,
    window_figures,
)
from proxyapi.observability.metrics import ERROR, SUCCESS, Metrics


def test_quantile_interpolates_within_the_bucket_like_histogram_quantile() -> None:
    buckets = {0.1: 50.0, 0.5: 90.0, 1.0: 100.0, math.inf: 100.0}
    assert quantile(0.5, buckets) == pytest.approx(0.1)
    assert quantile(0.7, buckets) == pytest.approx(0.1 + 0.4 * (70 - 50) / 40)
    assert quantile(0.99, buckets) == pytest.approx(0.5 + 0.5 * (99 - 90) / 10)


def test_quantile_of_nothing_is_none_and_past_the_last_bound_is_that_bound() -> None:
    assert quantile(0.5, {}) is None
    assert quantile(0.5, {1.0: 0.0, math.inf: 0.0}) is None
    assert quantile(0.99, {1.0: 1.0, math.inf: 10.0}) == 1.0


def test_totals_add_up_what_the_request_path_recorded() -> None:
    metrics = Metrics("test")
    metrics.record_request("POST", "/v1/chat/completions", 200, 0.2)
    metrics.record_request("POST", "/v1/chat/completions", 502, 0.4)
    metrics.record_request("GET", "/v1/models", 200, 0.01)
    metrics.record_upstream("a", "m", SUCCESS, 0.1)
    metrics.record_upstream("a", "m", ERROR, 0.3)
    metrics.record_tokens("a", "m", prompt=5, completion=7)
    metrics.record_cache("response", hit=True)
    metrics.record_cache("response", hit=False)
    totals = read_totals(metrics.collect())
    assert totals.requests == 3 and totals.server_errors == 1
    assert totals.by_endpoint == {"POST /v1/chat/completions": 2, "GET /v1/models": 1}
    provider = totals.providers["a"]
    assert provider.requests == 2 and provider.errors == 1
    assert provider.latency_sum == pytest.approx(0.4)
    assert (provider.prompt_tokens, provider.completion_tokens) == (5, 7)
    assert totals.cache["response"] == {"hits": 1, "misses": 1}
    figures = request_figures(totals)
    assert figures["error_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert figures["latency_ms"]["p50"] is not None


def test_a_window_judges_only_what_happened_inside_it() -> None:
    metrics = Metrics("test")
    for _ in range(10):
        metrics.record_request("POST", "/v1/chat/completions", 200, 0.05)
    before = read_totals(metrics.collect())
    for status in (200, 200, 503, 503):
        metrics.record_request("POST", "/v1/chat/completions", status, 2.0)
    now = read_totals(metrics.collect())
    figures = window_figures(now, before, seconds=2.0, cpus=2)
    assert figures["requests"] == 4 and figures["requests_per_second"] == 2
    assert figures["error_rate"] == 0.5
    assert figures["avg_response_time_ms"] == pytest.approx(2000)
    assert 1000 < figures["p95_latency_ms"] <= 2500
