"""The monitoring kit (monitoring/) is valid for Prometheus and only asks for metrics
the gateway exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from kit_names import (
    ALERT_RULES,
    DASHBOARD,
    MONITORING_DIR,
    alert_expressions,
    dashboard_expressions,
    dashboard_panels,
    kit_metric_names,
    metric_names_in,
    series_names,
)

# The gateway's metrics contract (observability issue), family name -> type.
GATEWAY_METRICS = {
    "proxy_api_requests_total": "counter",
    "proxy_api_request_duration_seconds": "histogram",
    "proxy_api_requests_in_flight": "gauge",
    "proxy_api_provider_requests_total": "counter",
    "proxy_api_provider_latency_seconds": "histogram",
    "proxy_api_time_to_first_token_seconds": "histogram",
    "proxy_api_provider_retries_total": "counter",
    "proxy_api_fallbacks_total": "counter",
    "proxy_api_rate_limit_rejections_total": "counter",
    "proxy_api_auth_failures_total": "counter",
    "proxy_api_circuit_breaker_state": "gauge",
    "proxy_api_cache_hits_total": "counter",
    "proxy_api_cache_misses_total": "counter",
    "proxy_api_cache_entries": "gauge",
    "proxy_api_cache_size_bytes": "gauge",
    "proxy_api_memory_usage_bytes": "gauge",
    "proxy_api_system_memory_usage_ratio": "gauge",
    "proxy_api_cpu_seconds_total": "counter",
    "llm_tokens_total": "counter",
    "provider_status": "gauge",
    "proxy_api_health_checks_total": "counter",
    "proxy_api_info": "gauge",
}

EXPECTED_ALERTS = {
    "LLMProxyDown",
    "HighMemoryUsage",
    "HighErrorRate",
    "HighLatencyP95",
    "ProviderHighErrorRate",
    "ProviderUnhealthy",
    "CircuitBreakerOpen",
    "LowCacheHitRate",
    "RateLimitRejectionsHigh",
}

# Seed 003's panels (and a few more): title -> metrics its queries must read.
EXPECTED_PANELS = {
    "Service health": {"up"},
    "Provider health": {"provider_status"},
    "Requests in flight": {"proxy_api_requests_in_flight"},
    "Request rate": {"proxy_api_requests_total"},
    "Latency (p50 / p95 / p99)": {"proxy_api_request_duration_seconds_bucket"},
    "Memory": {"proxy_api_memory_usage_bytes", "proxy_api_system_memory_usage_ratio"},
    "CPU": {"proxy_api_cpu_seconds_total"},
    "Cache hit rate": {"proxy_api_cache_hits_total", "proxy_api_cache_misses_total"},
    "Provider errors": {"proxy_api_provider_requests_total"},
    "Circuit breaker state": {"proxy_api_circuit_breaker_state"},
    "Tokens per second": {"llm_tokens_total"},
}

GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$instance": ".*"}

promtool_path = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    promtool_path is None,
    reason="promtool not installed (Debian package 'prometheus'; scripts/ensure-promtool.sh)",
)


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert promtool_path is not None
    return subprocess.run(
        [promtool_path, *args], capture_output=True, text=True, timeout=30, check=False
    )


# -- Prometheus accepts the files ------------------------------------------------------


@needs_promtool
def test_prometheus_config_is_valid_and_loads_the_rules() -> None:
    result = promtool("check", "config", str(MONITORING_DIR / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout


@needs_promtool
def test_alert_rules_are_valid() -> None:
    result = promtool("check", "rules", str(ALERT_RULES))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_alert_rule_unit_tests_pass() -> None:
    result = promtool("test", "rules", str(MONITORING_DIR / "alert_rules_test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query as a recording rule, Grafana's variables filled in."""
    rules = []
    for i, expr in enumerate(dashboard_expressions()):
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, f"unknown Grafana variable in {expr}"
        rules.append({"record": f"dashboard:query_{i}", "expr": expr})
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_scrape_config_targets_the_gateway() -> None:
    config = yaml.safe_load((MONITORING_DIR / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alert_rules.yml"]
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "llm-proxy")
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == ["localhost:8000"]


def test_alert_rules_have_the_seed_group_and_alerts() -> None:
    groups = yaml.safe_load(ALERT_RULES.read_text())["groups"]
    assert [g["name"] for g in groups] == ["llm_proxy_alerts"]
    rules = groups[0]["rules"]
    assert {r["alert"] for r in rules} == EXPECTED_ALERTS
    for rule in rules:
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}
        assert {"summary", "description"} <= set(rule["annotations"])


def test_alert_rule_unit_tests_cover_every_alert() -> None:
    tests = yaml.safe_load((MONITORING_DIR / "alert_rules_test.yml").read_text())["tests"]
    fired = {
        case["alertname"]
        for test in tests
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert fired == EXPECTED_ALERTS


def test_promtool_installer_runs_in_the_make_test_target() -> None:
    makefile = (MONITORING_DIR.parent / "Makefile").read_text()
    recipe = re.search(r"^test:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert recipe is not None
    lines = [line.strip() for line in recipe.group(1).splitlines()]
    assert lines.index("bash scripts/ensure-promtool.sh") == (
        lines.index("bash scripts/ensure-redis.sh") + 1
    )


# -- The dashboard ---------------------------------------------------------------------


def test_dashboard_has_the_required_panels_reading_the_right_metrics() -> None:
    panels = {p["title"]: p for p in dashboard_panels() if p["type"] != "row"}
    for title, metrics in EXPECTED_PANELS.items():
        assert title in panels, f"missing panel {title!r}"
        exprs = [t["expr"] for t in panels[title]["targets"]]
        read = set().union(*(metric_names_in(e) for e in exprs))
        assert metrics <= read, f"{title!r} reads {sorted(read)}"


def test_dashboard_queries_the_templated_prometheus_datasource() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert 36 <= dashboard["schemaVersion"] <= 41
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    datasource = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
    for panel in dashboard_panels():
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == datasource, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == datasource, panel["title"]
            assert target["expr"].strip(), panel["title"]


def test_dashboard_panels_have_unique_ids_and_fit_the_grid() -> None:
    panels = dashboard_panels()
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]


# -- Only the gateway's metric names ---------------------------------------------------


def test_every_metric_the_kit_queries_is_in_the_gateway_contract() -> None:
    exported = {"up"}.union(*(series_names(n, k) for n, k in GATEWAY_METRICS.items()))
    names = kit_metric_names()
    assert names - exported == set()
    # The extraction found the kit's metrics at all (and not, say, nothing).
    assert {"up", "proxy_api_requests_total", "proxy_api_circuit_breaker_state"} <= names


def test_alert_rules_and_dashboard_both_contribute_names() -> None:
    from_alerts = set().union(*(metric_names_in(e) for e in alert_expressions()))
    from_dashboard = set().union(*(metric_names_in(e) for e in dashboard_expressions()))
    assert "provider_status" in from_alerts
    assert "proxy_api_cpu_seconds_total" in from_dashboard
    assert "proxy_api_info" in from_dashboard  # the instance variable's label_values(...)


# -- docs/troubleshooting.md -----------------------------------------------------------


def troubleshooting_queries() -> list[str]:
    """The PromQL of docs/troubleshooting.md's ```promql blocks, one expression each.

    A line indented under another continues it; ``#`` starts a comment.
    """
    text = (MONITORING_DIR.parent / "docs" / "troubleshooting.md").read_text()
    exprs: list[str] = []
    for block in re.findall(r"```promql\n(.*?)```", text, re.S):
        for line in block.splitlines():
            code = line.split("#", 1)[0].rstrip()
            if not code.strip():
                continue
            if code[0].isspace() and exprs:
                exprs[-1] += " " + code.strip()
            else:
                exprs.append(code)
    return exprs


@needs_promtool
def test_troubleshooting_queries_are_valid_promql(tmp_path: Path) -> None:
    exprs = troubleshooting_queries()
    assert len(exprs) >= 10
    rules = [{"record": f"doc:query_{i}", "expr": e} for i, e in enumerate(exprs)]
    path = tmp_path / "troubleshooting_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "troubleshooting", "rules": rules}]}))
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_troubleshooting_queries_use_only_the_gateway_metrics() -> None:
    exported = set().union(*(series_names(n, k) for n, k in GATEWAY_METRICS.items()))
    names = set().union(*(metric_names_in(e) for e in troubleshooting_queries()))
    assert names and names - exported == set()


# -- The name helpers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('up{job="llm-proxy"} == 0', {"up"}),
        (
            "histogram_quantile(0.95, sum by (job, le) "
            "(rate(proxy_api_request_duration_seconds_bucket[5m]))) > 5",
            {"proxy_api_request_duration_seconds_bucket"},
        ),
        (
            "sum(rate(a_total[$__rate_interval])) by (job) / ignoring (x) group_left (y) b",
            {"a_total", "b"},
        ),
        (
            '(hits_total or 0 * misses_total{x=~"a{2}|by"}) > bool 1e3 unless on (job) c offset 5m',
            {"hits_total", "misses_total", "c"},
        ),
        ("max_over_time(gauge[2m:30s]) == 2 and group_left_over", {"gauge", "group_left_over"}),
        ('label_replace(m, "dst", "$1", "src", "(.*)")', {"m"}),
    ],
)
def test_metric_names_in_strips_functions_labels_keywords_and_numbers(
    expr: str, names: set[str]
) -> None:
    assert metric_names_in(expr) == names


@pytest.mark.parametrize(
    ("family", "kind", "names"),
    [
        ("x_seconds", "histogram", {"x_seconds_bucket", "x_seconds_sum", "x_seconds_count"}),
        ("llm_tokens", "counter", {"llm_tokens_total"}),
        ("llm_tokens_total", "counter", {"llm_tokens_total"}),
        ("provider_status", "gauge", {"provider_status"}),
    ],
)
def test_series_names_maps_a_family_to_what_promql_selects(
    family: str, kind: str, names: set[str]
) -> None:
    assert series_names(family, kind) == names
