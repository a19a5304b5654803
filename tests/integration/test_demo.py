"""``proxyapi demo`` (what ``make run`` starts): a first curl works with no key."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest
from processes import Running, base_env, free_port, start_proxyapi, stop

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def demo() -> Iterator[Running]:
    port, sim_port = free_port(), free_port()
    running = start_proxyapi(
        ["demo", "--port", str(port), "--simulator-port", str(sim_port)],
        base_env(),
        "/health/ready",
        port,
    )
    yield running
    stop(running.process)


def test_the_readme_curl_gets_a_completion(demo: Running) -> None:
    response = httpx.post(
        demo.url + "/v1/chat/completions",
        headers={"Content-Type": "application/json"},
        content=b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}',
    )
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"]


def test_the_sdk_streams_from_the_demo(demo: Running) -> None:
    sdk = openai.OpenAI(base_url=demo.url + "/v1", api_key="anything", max_retries=0)
    stream = sdk.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


def test_the_demo_stops_its_simulator_when_it_stops() -> None:
    port, sim_port = free_port(), free_port()
    running = start_proxyapi(
        ["demo", "--port", str(port), "--simulator-port", str(sim_port)],
        base_env(),
        "/health/ready",
        port,
    )
    stop(running.process)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{sim_port}/v1/models", timeout=2)


def test_with_openai_api_key_set_the_demo_routes_to_openai_instead() -> None:
    port, sim_port = free_port(), free_port()
    running = start_proxyapi(
        ["demo", "--port", str(port), "--simulator-port", str(sim_port)],
        base_env(OPENAI_API_KEY="sk-not-a-real-key"),
        "/health/ready",
        port,
    )
    try:
        health = httpx.get(running.url + "/health").json()
        assert health["checks"]["providers"]["usable"] == 1
        ready = httpx.get(running.url + "/health/ready").json()
        assert ready["providers"] == 1
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{sim_port}/v1/models", timeout=2)
        assert "routing to the real OpenAI API" in running.output()
    finally:
        stop(running.process)
