"""Retries, circuit breakers, deadlines and injected faults, against real processes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from processes import Running, serving, sim_provider

pytestmark = pytest.mark.integration

ADMIN = "admin-test-key"
FAILING = {"x-sim-error-status": "503", "x-sim-error-rate": "1"}


def resilience_config(sim_url: str) -> dict[str, Any]:
    no_retry = {"retry_attempts": 0}
    return {
        "server": {"client_timeout": 1.5},  # the slow-answer test ends long before it
        "auth": {"admin_keys": [ADMIN]},
        "circuit_breaker": {"failure_threshold": 2, "recovery_timeout": 30},
        "providers": [
            sim_provider("shaky", sim_url, ["breaker-model"], 1, headers=FAILING, **no_retry),
            sim_provider("steady", sim_url, ["breaker-model"], 2),
            sim_provider("down-a", sim_url, ["down-model"], 3, headers=FAILING, **no_retry),
            sim_provider("down-b", sim_url, ["down-model"], 4, headers=FAILING, **no_retry),
            sim_provider(
                "limited",
                sim_url,
                ["limited-model"],
                5,
                headers={"x-sim-error-status": "429", "x-sim-retry-after": "1"},
                retry_config={"max_attempts": 2, "base_delay": 0.01, "max_delay": 5},
            ),
            sim_provider(
                "hanging", sim_url, ["hang-model"], 6, headers={"x-sim-latency-ms": "10000"}
            ),
            sim_provider("chaotic", sim_url, ["chaos-model"], 7, **no_retry),
            sim_provider("calm", sim_url, ["chaos-model"], 8),
            sim_provider(
                "slow-answer", sim_url, ["slow-answer"], 9, headers={"x-sim-latency-ms": "3000"}
            ),
            sim_provider(
                "impatient",
                sim_url,
                ["pause-model"],
                11,
                headers={"x-sim-error-status": "429", "x-sim-retry-after": "5"},
                retry_config={"max_attempts": 3, "base_delay": 0.01, "max_delay": 1},
            ),
            sim_provider("patient", sim_url, ["pause-model"], 12),
            sim_provider(
                "narrow",
                sim_url,
                ["narrow-model"],
                10,
                headers={"x-sim-latency-ms": "200"},
                max_keepalive_connections=1,
            ),
        ],
        "chaos_engineering": {
            "enabled": True,
            "faults": [
                {"type": "error", "probability": 1.0, "error_code": 503, "target": "chaotic"}
            ],
            "schedule": {"enabled": False},
            "monitoring": {"auto_stop": False},
        },
        "logging": {"level": "WARNING"},
    }


@pytest.fixture(scope="module")
def resilient(simulator: Running, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with serving(
        resilience_config(simulator.url), tmp_path_factory.mktemp("resilience"), SIM_KEY="k"
    ) as running:
        yield running


def chat(gateway: Running, model: str) -> httpx.Response:
    return httpx.post(
        gateway.url + "/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )


def breakers(gateway: Running) -> dict[str, Any]:
    metrics = httpx.get(gateway.url + "/v1/metrics").json()
    return {name: p["circuit_breaker"]["state"] for name, p in metrics["providers"].items()}


def test_a_failing_provider_opens_its_breaker_and_is_then_skipped(resilient: Running) -> None:
    for _ in range(2):
        assert chat(resilient, "breaker-model").headers["x-proxyapi-provider"] == "steady"
    assert breakers(resilient)["shaky"] == "open"
    skipped = chat(resilient, "breaker-model")
    assert skipped.status_code == 200
    assert skipped.headers["x-proxyapi-attempts"] == "1"  # shaky was not called at all


def test_the_admin_reset_closes_every_breaker(resilient: Running) -> None:
    chat(resilient, "breaker-model")
    chat(resilient, "breaker-model")
    denied = httpx.post(resilient.url + "/debug/circuit-breakers/reset")
    assert denied.status_code == 401
    reset = httpx.post(
        resilient.url + "/debug/circuit-breakers/reset",
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert reset.status_code == 200
    assert set(breakers(resilient).values()) == {"closed"}


def test_with_every_breaker_open_clients_get_503_at_once(resilient: Running) -> None:
    for _ in range(2):
        chat(resilient, "down-model")
    assert {breakers(resilient)[n] for n in ("down-a", "down-b")} == {"open"}
    body = {"model": "down-model", "messages": [{"role": "user", "content": "hi"}]}
    with httpx.Client(base_url=resilient.url) as client:
        client.get("/health/live")  # connected before the clock starts
        started = time.perf_counter()
        response = client.post("/v1/chat/completions", json=body)
        elapsed = time.perf_counter() - started
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "no_provider_available"
    assert elapsed < 0.05


def test_retry_after_is_honoured_before_retrying(resilient: Running, sim_stats) -> None:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    response = chat(resilient, "limited-model")
    elapsed = time.perf_counter() - started
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert sim_stats()["requests"]["/v1/chat/completions"] == 2
    assert elapsed >= 1.0  # never sooner than the provider asked


def test_a_hanging_provider_ends_at_the_deadline_with_504_and_no_leaked_connection(
    resilient: Running,
) -> None:
    started = time.perf_counter()
    response = chat(resilient, "hang-model")
    elapsed = time.perf_counter() - started
    assert response.status_code == 504
    assert 1.4 <= elapsed < 2.5  # server.client_timeout is 1.5 s
    hanging = httpx.get(resilient.url + "/v1/metrics").json()["providers"]["hanging"]
    assert hanging["active_connections"] == 0


def test_injected_faults_go_through_the_real_fallback_and_are_counted(resilient: Running) -> None:
    response = chat(resilient, "chaos-model")
    assert response.status_code == 200
    assert response.headers["x-proxyapi-provider"] == "calm"
    assert response.headers["x-proxyapi-attempts"] == "2"
    chaos = httpx.get(resilient.url + "/v1/metrics").json()["chaos"]
    assert chaos["injected"]["error"] >= 1


def test_metrics_report_pools_and_retries_per_provider(resilient: Running) -> None:
    chat(resilient, "breaker-model")
    steady = httpx.get(resilient.url + "/v1/metrics").json()["providers"]["steady"]
    assert steady["requests"] >= 1 and steady["connection_reuse_rate"] >= 0
    assert {"attempts", "retries", "successes_after_retry", "consecutive_failures"} <= set(
        steady["retry"]
    )


def in_flight(simulator: Running) -> int:
    count: int = httpx.get(simulator.url + "/_sim/stats").json()["in_flight"]
    return count


@pytest.mark.parametrize("stream", [False, True])
def test_a_client_that_hangs_up_cancels_its_upstream_call(
    resilient: Running, simulator: Running, stream: bool
) -> None:
    body = {"model": "slow-answer", "messages": [{"role": "user", "content": "hi"}]}
    if stream:
        body["stream"] = True
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(resilient.url + "/v1/chat/completions", json=body, timeout=0.5)
    deadline = time.monotonic() + 0.6  # still before the gateway's own 1.5 s deadline
    while in_flight(simulator) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert in_flight(simulator) == 0  # long before the upstream's 3 s answer


def test_idle_connections_are_capped_at_max_keepalive_connections(resilient: Running) -> None:
    async def burst() -> None:
        body = {"model": "narrow-model", "messages": [{"role": "user", "content": "hi"}]}
        async with httpx.AsyncClient(base_url=resilient.url, timeout=10) as client:
            replies = await asyncio.gather(
                *(client.post("/v1/chat/completions", json=body) for _ in range(4))
            )
        assert all(r.status_code == 200 for r in replies)

    asyncio.run(burst())
    narrow = httpx.get(resilient.url + "/v1/metrics").json()["providers"]["narrow"]
    assert narrow["connections_opened"] >= 4
    assert narrow["idle_connections"] == 1
    assert narrow["active_connections"] == 0


def test_a_provider_that_asked_for_a_pause_is_not_called_again_before_it(
    resilient: Running, sim_stats
) -> None:  # type: ignore[no-untyped-def]
    time.sleep(1.1)  # any pause an earlier test caused is over
    chat(resilient, "limited-model")  # 429, Retry-After 1, retried once after 1 s
    calls = sim_stats()["requests"]["/v1/chat/completions"]
    assert calls == 2
    started = time.perf_counter()
    response = chat(resilient, "limited-model")
    assert time.perf_counter() - started < 0.5  # answered at once, not after a wait
    assert response.status_code == 429 and "retry-after" in response.headers
    assert sim_stats()["requests"].get("/v1/chat/completions") == calls  # the provider was spared


def test_a_pause_longer_than_max_delay_falls_back_instead_of_waiting(resilient: Running) -> None:
    started = time.perf_counter()
    response = chat(resilient, "pause-model")
    assert time.perf_counter() - started < 1.0  # the provider asked for 5 s; max_delay is 1 s
    assert response.status_code == 200
    assert response.headers["x-proxyapi-provider"] == "patient"
