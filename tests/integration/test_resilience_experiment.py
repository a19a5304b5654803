"""The issue's proof: a flaky primary and a healthy fallback, 2,000 requests at c=32.

The primary fails 20% of calls with 503 and 5% with a timeout, injected by
chaos engineering in front of the real upstream call, so the real retry,
breaker and fallback code handles them. The README reports the same experiment
(``bench/resilience.py`` prints the figures).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from processes import Running, serving, sim_provider

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REQUESTS = 2000
CONCURRENCY = 32
DEADLINE = 5.0


def experiment_config(sim_url: str) -> dict[str, Any]:
    return {
        "server": {"client_timeout": DEADLINE},
        "circuit_breaker": {
            "failure_threshold": 3,
            "recovery_timeout": 0.5,
            "half_open_max_calls": 1,
        },
        "providers": [
            sim_provider("primary", sim_url, ["gpt-4o-mini"], 1, timeout=0.5, retry_attempts=0),
            sim_provider("fallback", sim_url, ["gpt-4o-mini"], 2),
        ],
        "chaos_engineering": {
            "enabled": True,
            "faults": [
                {"type": "error", "probability": 0.2, "error_code": 503, "target": "primary"},
                # 5% of all calls: 0.05 / (1 - 0.2) of those the 503 fault left.
                {
                    "type": "timeout",
                    "probability": 0.0625,
                    "duration_ms": 2000,
                    "target": "primary",
                },
            ],
            "schedule": {"enabled": False},
            "monitoring": {"auto_stop": False},
        },
        "logging": {"level": "ERROR"},
    }


@pytest.fixture(scope="module")
def experiment(simulator: Running, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with serving(
        experiment_config(simulator.url), tmp_path_factory.mktemp("experiment"), SIM_KEY="k"
    ) as running:
        yield running


async def drive(url: str) -> list[tuple[int, float]]:
    """(status, seconds) of every request, CONCURRENCY at a time."""
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(REQUESTS):
        queue.put_nowait(n)
    results: list[tuple[int, float]] = []
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:

        async def worker() -> None:
            while not queue.empty():
                queue.get_nowait()
                started = time.perf_counter()
                response = await client.post("/v1/chat/completions", json=body)
                results.append((response.status_code, time.perf_counter() - started))

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return results


def test_a_flaky_primary_costs_clients_nothing(experiment: Running) -> None:
    results = asyncio.run(drive(experiment.url))
    succeeded = sum(1 for status, _ in results if status == 200)
    assert len(results) == REQUESTS
    assert succeeded / REQUESTS >= 0.999
    assert max(seconds for _, seconds in results) < DEADLINE
    metrics = httpx.get(experiment.url + "/v1/metrics").json()
    breaker = metrics["providers"]["primary"]["circuit_breaker"]
    assert breaker["times_opened"] >= 1
    assert breaker["transitions"].get("half_open->closed", 0) >= 1
    injected = metrics["chaos"]["injected"]
    assert injected["error"] > 0 and injected["timeout"] > 0
