"""What an operator sees: Prometheus text, the JSON view, /health, logs, alerts.

Real gateway processes in front of the simulator; the official ``openai`` SDK
as the client; ``promtool`` (Debian's prometheus package) as the judge of the
exposition format.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from processes import SIM_KEY, Running, free_port, serving, sim_provider
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.integration

CLIENT_KEY = "pxy-observed-client-key-0001"
ADMIN_KEY = "pxy-observed-admin-key-0002"
WRONG_KEY = "sk-wrong-secret-presented-0003"
SECRET_CONTENT = "the-private-words-of-a-user-7731"
FAILING = {"x-sim-error-status": "503", "x-sim-error-rate": "1"}


def config(sim_url: str, **blocks: object) -> dict[str, object]:
    return {
        "providers": [
            sim_provider("primary", sim_url, ["gpt-4o-mini", "text-embedding-3-small"], 1),
            sim_provider("flaky", sim_url, ["fallback-model"], 2, headers=FAILING),
            sim_provider("backup", sim_url, ["fallback-model"], 3),
            sim_provider("dead", "http://127.0.0.1:9", ["dead-model"], 4, timeout=1),
        ],
        "auth": {"api_keys": [CLIENT_KEY], "admin_keys": [ADMIN_KEY]},
        "http_client": {"retry_attempts": 0},
        "logging": {"level": "INFO", "format": "json"},
        **blocks,
    }


@pytest.fixture(scope="module")
def observed(simulator: Running, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    blocks = {"health_check": {"interval": 0.3, "timeout": 1, "unhealthy_threshold": 2}}
    with serving(
        config(simulator.url, **blocks), tmp_path_factory.mktemp("observed"), SIM_KEY=SIM_KEY
    ) as running:
        yield running


def client(running: Running) -> openai.OpenAI:
    return openai.OpenAI(base_url=running.url + "/v1", api_key=CLIENT_KEY, max_retries=0)


def traffic(running: Running) -> None:
    """One of each: chat, stream, embeddings, a fallback, a model listing."""
    sdk = client(running)
    messages: Any = [{"role": "user", "content": SECRET_CONTENT}]
    sdk.chat.completions.create(model="gpt-4o-mini", messages=messages)
    for _ in sdk.chat.completions.create(
        model="gpt-4o-mini",
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},
    ):
        pass
    sdk.embeddings.create(model="text-embedding-3-small", input="hello")
    sdk.chat.completions.create(model="fallback-model", messages=messages)
    sdk.models.list()


def scrape(running: Running, path: str = "/metrics") -> str:
    response = httpx.get(running.url + path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, frozenset(labels.items())), 0.0)


def promtool_check(text: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: run scripts/ensure-promtool.sh (make test does)"
    return subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )


def wait_for(check: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


# -- Prometheus ---------------------------------------------------------------------------


def test_both_prometheus_paths_pass_promtool_without_a_complaint(observed: Running) -> None:
    traffic(observed)
    for path in ("/metrics", "/v1/metrics/prometheus"):
        checked = promtool_check(scrape(observed, path))
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert checked.stdout.strip() == "" and checked.stderr.strip() == ""


def test_the_seed_metrics_are_there_with_their_labels(observed: Running) -> None:
    traffic(observed)
    text = scrape(observed)
    chat = {"method": "POST", "endpoint": "/v1/chat/completions", "status_code": "200"}
    assert value(text, "proxy_api_requests_total", **chat) >= 3
    assert (
        value(
            text,
            "proxy_api_request_duration_seconds_count",
            method="POST",
            endpoint="/v1/chat/completions",
        )
        >= 3
    )
    primary = {"provider": "primary", "model": "gpt-4o-mini"}
    assert value(text, "proxy_api_provider_requests_total", status="success", **primary) >= 2
    assert value(text, "proxy_api_provider_latency_seconds_count", **primary) >= 2
    assert value(text, "proxy_api_time_to_first_token_seconds_count", **primary) >= 1
    assert value(text, "llm_tokens_total", type="prompt", **primary) > 0
    assert value(text, "llm_tokens_total", type="completion", **primary) > 0
    flaky = {"provider": "flaky", "model": "fallback-model"}
    assert value(text, "proxy_api_provider_requests_total", status="error", **flaky) >= 1
    assert value(text, "proxy_api_fallbacks_total", **flaky) >= 1
    assert value(text, "proxy_api_cache_misses_total", cache_type="models") >= 1
    assert value(text, "proxy_api_memory_usage_bytes") > 10_000_000
    assert value(text, "proxy_api_circuit_breaker_state", provider="primary") == 0
    assert value(text, "proxy_api_requests_in_flight") >= 1  # this scrape
    assert value(text, "provider_status", provider="primary") == 1


def test_endpoint_labels_are_route_templates_never_raw_paths(observed: Running) -> None:
    headers = {"Authorization": f"Bearer {CLIENT_KEY}"}
    for name in ("gpt-4o-mini", "text-embedding-3-small", "no-such-model"):
        httpx.get(f"{observed.url}/v1/models/{name}", headers=headers)
    for junk in ("/v1/a", "/v1/b", "/wp-login.php"):
        httpx.get(observed.url + junk, headers=headers)
    endpoints = {
        dict(labels)["endpoint"]
        for (name, labels) in samples(scrape(observed))
        if name == "proxy_api_requests_total"
    }
    assert "/v1/models/{model_id}" in endpoints and "unmatched" in endpoints
    assert not any(e.startswith(("/v1/models/gpt", "/v1/a", "/wp")) for e in endpoints)


def test_refusals_are_counted_by_kind(observed: Running) -> None:
    before = scrape(observed)
    httpx.get(observed.url + "/v1/models", headers={"Authorization": f"Bearer {WRONG_KEY}"})
    after = scrape(observed)
    name = "proxy_api_auth_failures_total"
    assert value(after, name) == value(before, name) + 1


# -- the JSON view --------------------------------------------------------------------------


def test_the_json_view_has_the_same_figures(observed: Running) -> None:
    traffic(observed)
    report = httpx.get(observed.url + "/v1/metrics").json()
    text = scrape(observed)
    requests = report["requests"]
    assert requests["total"] >= 5 and requests["by_status"]["200"] >= 5
    assert requests["latency_ms"]["p50"] > 0
    assert requests["latency_ms"]["p50"] <= requests["latency_ms"]["p95"]
    assert requests["latency_ms"]["p95"] <= requests["latency_ms"]["p99"]
    flaky = report["providers"]["flaky"]
    assert flaky["error_rate"] == 1.0 and flaky["errors"] >= 1
    primary = report["providers"]["primary"]
    assert primary["error_rate"] == 0.0 and primary["avg_response_time_ms"] > 0
    success = value(
        text,
        "proxy_api_provider_requests_total",
        provider="primary",
        model="gpt-4o-mini",
        status="success",
    )
    assert primary["requests"] >= success  # embeddings count too
    assert report["tokens"]["completion"] > 0
    assert report["circuit_breakers"]["primary"] == "closed"
    assert {"hits", "misses", "hit_rate", "layers"} <= set(report["cache"])
    assert "rate_limit" in report and report["auth"]["enabled"] is True


# -- health -----------------------------------------------------------------------------------


def test_background_checks_find_the_dead_provider(observed: Running) -> None:
    def dead_is_unhealthy() -> bool:
        providers = httpx.get(observed.url + "/health").json()["checks"]["providers"]
        return bool(providers.get("unhealthy") == ["dead", "flaky"])  # flaky fails all

    wait_for(dead_is_unhealthy)
    response = httpx.get(observed.url + "/health")
    body = response.json()
    assert response.status_code == 200 and body["status"] == "degraded"
    providers = body["checks"]["providers"]
    assert providers["usable"] == 4 and providers["healthy"] == 2
    assert providers["checks"]["dead"]["consecutive_failures"] >= 2
    text = scrape(observed)
    assert value(text, "provider_status", provider="dead") == 0
    assert value(text, "provider_status", provider="primary") == 1
    assert value(text, "proxy_api_health_checks_total", provider="dead", result="failure") >= 2
    memory = body["checks"]["memory"]
    assert memory["used_mb"] > 0 and memory["total_mb"] > memory["available_mb"] > 0


# -- logs -------------------------------------------------------------------------------------


def json_lines(running: Running) -> list[dict[str, Any]]:
    lines = []
    for line in running.output().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def access_lines(running: Running) -> list[dict[str, Any]]:
    return [line for line in json_lines(running) if line["logger"] == "proxyapi.access"]


def test_every_line_of_a_request_carries_its_request_id(observed: Running) -> None:
    sdk = client(observed).with_options(default_headers={"X-Request-ID": "trace-me-42"})
    raw = sdk.chat.completions.with_raw_response.create(
        model="fallback-model", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-request-id"] == "trace-me-42"
    wait_for(lambda: any(x.get("request_id") == "trace-me-42" for x in access_lines(observed)))
    mine = [line for line in json_lines(observed) if line.get("request_id") == "trace-me-42"]
    assert {line["logger"] for line in mine} >= {"proxyapi.dispatch", "proxyapi.access"}
    access = [line for line in mine if line["logger"] == "proxyapi.access"]
    assert len(access) == 1
    assert (
        access[0]
        | {
            "method": "POST",
            "route": "/v1/chat/completions",
            "status": 200,
            "provider": "backup",
            "model": "fallback-model",
            "attempts": 2,
        }
        == access[0]
    )
    assert access[0]["latency_ms"] > 0 and access[0]["completion_tokens"] > 0


def test_one_access_line_per_request(observed: Running) -> None:
    time.sleep(0.3)  # earlier tests' lines are all out (written within 0.1 s)
    before = len([x for x in json_lines(observed) if x["logger"] == "proxyapi.access"])
    for _ in range(3):
        httpx.get(observed.url + "/health/live")
    wait_for(lambda: len(access_lines(observed)) >= before + 3)
    time.sleep(0.3)  # and no more than that
    after = access_lines(observed)
    assert len(after) == before + 3
    assert after[-1]["route"] == "/health/live" and after[-1]["status"] == 200


def test_secrets_and_content_never_reach_the_log(observed: Running) -> None:
    traffic(observed)
    httpx.get(observed.url + "/v1/models", headers={"Authorization": f"Bearer {WRONG_KEY}"})
    httpx.get(observed.url + "/v1/models", headers={"X-API-Key": WRONG_KEY})
    time.sleep(0.5)  # every line written (they are flushed within 0.1 s)
    output = observed.output()
    for secret in (CLIENT_KEY, ADMIN_KEY, WRONG_KEY, SIM_KEY, SECRET_CONTENT):
        assert secret not in output


def test_log_content_true_logs_the_messages(simulator: Running, tmp_path: Path) -> None:
    blocks = {"logging": {"level": "INFO", "format": "json", "log_content": True}}
    with serving(config(simulator.url, **blocks), tmp_path, SIM_KEY=SIM_KEY) as running:
        client(running).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": SECRET_CONTENT}]
        )
        wait_for(lambda: bool(access_lines(running)))
        access = access_lines(running)
    assert access[-1]["content"]["messages"][0]["content"] == SECRET_CONTENT
    assert "Simulated reply" in access[-1]["content"]["response"]


def test_text_logs_in_development_json_with_log_json_format(
    simulator: Running, tmp_path: Path
) -> None:
    plain = config(simulator.url, logging={"level": "INFO"})
    (tmp_path / "text").mkdir()
    (tmp_path / "json").mkdir()
    with serving(plain, tmp_path / "text", SIM_KEY=SIM_KEY) as running:
        httpx.get(running.url + "/health/live", headers={"X-Request-ID": "plain-1"})
        wait_for(lambda: "[plain-1]" in running.output())
        text = running.output()
    assert "[plain-1]: GET /health/live 200" in text and '"logger"' not in text
    with serving(plain, tmp_path / "json", SIM_KEY=SIM_KEY, LOG_JSON_FORMAT="true") as running:
        httpx.get(running.url + "/health/live", headers={"X-Request-ID": "json-1"})
        wait_for(lambda: any(x.get("request_id") == "json-1" for x in json_lines(running)))
        lines = json_lines(running)
    assert any(line.get("request_id") == "json-1" for line in lines)


# -- switches and workers ---------------------------------------------------------------------


def test_metrics_port_serves_them_apart_from_the_api(simulator: Running, tmp_path: Path) -> None:
    port = free_port()
    with serving(
        config(simulator.url), tmp_path, SIM_KEY=SIM_KEY, METRICS_PORT=str(port)
    ) as running:
        client(running).models.list()
        separate = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    assert 'proxy_api_requests_total{endpoint="/v1/models"' in separate
    assert promtool_check(separate).returncode == 0


def test_metrics_enabled_false_turns_them_off(simulator: Running, tmp_path: Path) -> None:
    with serving(config(simulator.url), tmp_path, SIM_KEY=SIM_KEY, METRICS_ENABLED="false") as gw:
        client(gw).models.list()
        assert httpx.get(gw.url + "/metrics").status_code == 404
        assert httpx.get(gw.url + "/v1/metrics/prometheus").status_code == 404
        report = httpx.get(gw.url + "/v1/metrics").json()
    assert report["metrics_enabled"] is False and "requests" not in report


def test_two_workers_count_together(simulator: Running, tmp_path: Path) -> None:
    with serving(config(simulator.url), tmp_path, args=("--workers", "2"), SIM_KEY=SIM_KEY) as gw:
        sent = 0
        pids: set[int] = set()
        while len(pids) < 2 and sent < 400:
            for _ in range(20):  # a new connection each: the kernel spreads them
                with httpx.Client(headers={"X-API-Key": CLIENT_KEY}) as fresh:
                    assert fresh.get(gw.url + "/v1/models").status_code == 200
                sent += 1
            time.sleep(0.3)
            pids = {
                line["pid"]
                for line in json_lines(gw)
                if line["logger"] == "proxyapi.access" and line["route"] == "/v1/models"
            }
        assert len(pids) == 2, "one worker took every connection"
        for _ in range(6):  # whichever worker answers the scrape, it counts both
            text = scrape(gw)
            assert (
                value(
                    text,
                    "proxy_api_requests_total",
                    method="GET",
                    endpoint="/v1/models",
                    status_code="200",
                )
                == sent
            )
        assert (
            httpx.get(gw.url + "/v1/metrics").json()["requests"]["by_endpoint"]["GET /v1/models"]
            == sent
        )


# -- alerts -----------------------------------------------------------------------------------


class Receiver(ThreadingHTTPServer):
    """A Slack-style incoming webhook on loopback that keeps what it is sent."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        super().__init__(("127.0.0.1", 0), _Hook)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/T000/B000/secret-token"


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        assert isinstance(self.server, Receiver)
        self.server.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_breaker_opening_and_closing_sends_one_alert_and_one_resolution(
    simulator: Running, tmp_path: Path, receiver: Receiver
) -> None:
    blocks = {
        "circuit_breaker": {"failure_threshold": 2, "recovery_timeout": 60},
        "metrics": {"alerting": {"evaluation_interval": 0.2, "min_hold": 0.5}},
    }
    with serving(
        config(simulator.url, **blocks),
        tmp_path,
        SIM_KEY=SIM_KEY,
        ALERT_WEBHOOK_URL=receiver.url,
    ) as gw:
        sdk = client(gw)
        for _ in range(4):
            sdk.chat.completions.create(
                model="fallback-model", messages=[{"role": "user", "content": "hi"}]
            )

        def about_flaky() -> list[dict[str, Any]]:
            return [m for m in receiver.received if m["alert"] == "circuit_breaker_open:flaky"]

        wait_for(lambda: len(about_flaky()) == 1)
        assert about_flaky()[0]["status"] == "firing"
        assert "flaky" in about_flaky()[0]["text"]
        reset = httpx.post(
            gw.url + "/debug/circuit-breakers/reset", headers={"X-API-Key": ADMIN_KEY}
        )
        assert reset.status_code == 200
        wait_for(lambda: len(about_flaky()) == 2)
        assert about_flaky()[1]["status"] == "resolved"
        time.sleep(1.0)  # and nothing more: no repeats, no flood
        assert len(about_flaky()) == 2
        output = gw.output()
    assert "secret-token" not in output


def test_a_failed_config_reload_alerts_and_the_next_good_one_resolves_it(
    simulator: Running, tmp_path: Path, receiver: Receiver
) -> None:
    blocks = {"metrics": {"alerting": {"evaluation_interval": 0.2, "min_hold": 0.3}}}
    good = config(simulator.url, **blocks)
    with serving(good, tmp_path, SIM_KEY=SIM_KEY, ALERT_WEBHOOK_URL=receiver.url) as gw:
        path = tmp_path / "config.yaml"
        written = path.read_text()
        path.write_text("providers: [{name: x, type: no-such-type}]\n")

        def about_reloads() -> list[dict[str, Any]]:
            return [m for m in receiver.received if m["alert"] == "config_reload_failed"]

        wait_for(lambda: len(about_reloads()) == 1)
        assert about_reloads()[0]["status"] == "firing"
        time.sleep(0.4)  # past min_hold
        path.write_text(written + "\n# fixed\n")
        httpx.post(gw.url + "/api/config/reload", headers={"X-API-Key": ADMIN_KEY})
        path.write_text(written.replace("level: INFO", "level: WARNING"))
        wait_for(lambda: len(about_reloads()) == 2)
        assert about_reloads()[1]["status"] == "resolved"
