"""Knobs: settings from YAML, header overrides, pacing, and the /_sim control routes."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
import pydantic
import pytest
from sse_reader import StartSimulator

from proxyapi.simulator import RunningSimulator, SimulatorSettings, load_settings

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "pace me"}]}


def test_load_settings_reads_yaml(tmp_path: Path) -> None:
    path = tmp_path / "sim.yaml"
    path.write_text("ttft_ms: 150\nmodels: [a, b]\napi_key: sk-x\nstrict_models: true\n")
    settings = load_settings(str(path))
    assert settings.ttft_ms == 150 and settings.models == ("a", "b")
    assert settings.api_key == "sk-x" and settings.strict_models
    assert load_settings(None) == SimulatorSettings()


def test_load_settings_rejects_unknown_keys(tmp_path: Path) -> None:
    path = tmp_path / "sim.yaml"
    path.write_text("ttft: 150\n")
    with pytest.raises(pydantic.ValidationError, match="ttft"):
        load_settings(str(path))


async def first_chunk_delay(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str]
) -> tuple[float, float]:
    """Seconds until the first SSE event and until the end of the stream."""
    started = time.perf_counter()
    first = None
    body = {**CHAT, "stream": True}
    async with http.post(f"{url}/v1/chat/completions", json=body, headers=headers) as response:
        async for _ in response.content.iter_any():
            first = first or time.perf_counter() - started
    assert first is not None
    return first, time.perf_counter() - started


async def test_ttft_from_settings_and_header(
    start: StartSimulator, http: aiohttp.ClientSession
) -> None:
    simulator = await start(ttft_ms=200)
    first, _ = await first_chunk_delay(http, simulator.url, {})
    assert first >= 0.18
    first, _ = await first_chunk_delay(http, simulator.url, {"x-sim-ttft-ms": "0"})
    assert first < 0.15


async def test_tokens_per_second_paces_the_stream(
    simulator: RunningSimulator, http: aiohttp.ClientSession
) -> None:
    # 30 tokens at 150 tokens/s: about 0.2 s after the first token.
    _, total = await first_chunk_delay(http, simulator.url, {"x-sim-tokens-per-second": "150"})
    assert 0.15 <= total < 1.0


async def test_non_streamed_delay_is_ttft_plus_tokens_over_rate(
    simulator: RunningSimulator, http: aiohttp.ClientSession
) -> None:
    headers = {"x-sim-ttft-ms": "50", "x-sim-tokens-per-second": "200", "x-sim-latency-ms": "50"}
    started = time.perf_counter()
    async with http.post(f"{simulator.url}/v1/chat/completions", json=CHAT, headers=headers) as r:
        usage = (await r.json())["usage"]
    elapsed = time.perf_counter() - started
    assert elapsed >= 0.1 + usage["completion_tokens"] / 200 - 0.02


async def test_stats_record_requests_and_reset(
    simulator: RunningSimulator, http: aiohttp.ClientSession
) -> None:
    headers = {"Authorization": "Bearer sk-provider-key", "X-Custom": "1"}
    for _ in range(2):
        async with http.post(f"{simulator.url}/v1/chat/completions", json=CHAT, headers=headers):
            pass
    async with http.get(f"{simulator.url}/v1/models"):
        pass
    async with http.get(f"{simulator.url}/_sim/stats") as response:
        stats = await response.json()
    assert stats["requests"] == {"/v1/chat/completions": 2, "/v1/models": 1}
    last = stats["last_request"]
    assert last["method"] == "GET" and last["path"] == "/v1/models" and last["body"] is None
    async with http.post(f"{simulator.url}/v1/chat/completions", json=CHAT, headers=headers):
        pass
    async with http.get(f"{simulator.url}/_sim/stats") as response:
        last = (await response.json())["last_request"]
    assert last["body"] == CHAT
    assert last["headers"]["Authorization"] == "Bearer sk-provider-key"
    async with http.post(f"{simulator.url}/_sim/reset") as response:
        assert response.status == 200
    async with http.get(f"{simulator.url}/_sim/stats") as response:
        assert await response.json() == {"requests": {}, "in_flight": 0, "last_request": None}
