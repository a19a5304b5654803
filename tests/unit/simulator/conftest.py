"""Fixtures: a simulator on a loopback port, the official SDK and a raw HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from openai import AsyncOpenAI
from sse_reader import StartSimulator

from proxyapi.simulator import RunningSimulator, SimulatorSettings, start_simulator


@pytest.fixture
async def start() -> AsyncIterator[StartSimulator]:
    """Start simulators with given settings; every one is stopped at teardown."""
    running: list[RunningSimulator] = []

    async def _start(**settings: Any) -> RunningSimulator:
        simulator = await start_simulator(SimulatorSettings(**settings))
        running.append(simulator)
        return simulator

    yield _start
    for simulator in running:
        await simulator.close()


@pytest.fixture
async def simulator(start: StartSimulator) -> RunningSimulator:
    return await start()


@pytest.fixture
async def client(simulator: RunningSimulator) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(base_url=f"{simulator.url}/v1", api_key="sk-test", max_retries=0) as sdk:
        yield sdk


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
