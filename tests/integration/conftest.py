"""Fixtures: the simulator and the gateway as real processes (see processes.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from processes import (
    SIM_KEY,
    Running,
    base_env,
    free_port,
    gateway_config,
    serving,
    start_proxyapi,
    stop,
)


@pytest.fixture(scope="session")
def simulator() -> Iterator[Running]:
    port = free_port()
    running = start_proxyapi(["simulate", "--port", str(port)], base_env(), "/v1/models", port)
    yield running
    stop(running.process)


@pytest.fixture(scope="session")
def gateway(simulator: Running, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with serving(
        gateway_config(simulator.url), tmp_path_factory.mktemp("gateway"), SIM_KEY=SIM_KEY
    ) as running:
        yield running


@pytest.fixture()
def sim_stats(simulator: Running) -> Iterator[Callable[[], dict[str, object]]]:
    """Reset the simulator's request log, then hand out a reader for it."""
    httpx.post(simulator.url + "/_sim/reset")

    def read() -> dict[str, object]:
        data: dict[str, object] = httpx.get(simulator.url + "/_sim/stats").json()
        return data

    yield read
