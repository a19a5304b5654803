"""A real gateway's /metrics scrape is clean Prometheus text and has every metric the
monitoring kit (monitoring/alert_rules.yml, monitoring/grafana-dashboard.json) reads."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from kit_names import kit_metric_names, series_names
from openai.types.chat import ChatCompletionMessageParam
from processes import SIM_KEY, Running, serving, sim_provider
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def monitored(simulator: Running, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    config: dict[str, object] = {
        "providers": [sim_provider("primary", simulator.url, ["gpt-4o-mini"], 1)],
        "caching": {"enabled": True},
        "logging": {"level": "WARNING"},
    }
    with serving(config, tmp_path_factory.mktemp("monitored"), SIM_KEY=SIM_KEY) as running:
        yield running


@pytest.fixture(scope="module")
def scrape(monitored: Running) -> str:
    """/metrics after one chat completion and one streaming chat completion."""
    # Two different questions: each goes upstream, neither is a cache HIT.
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Hello, metrics"}]
    streamed: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Stream, metrics"}]
    with openai.OpenAI(base_url=monitored.url + "/v1", api_key="sk-client", max_retries=0) as sdk:
        reply = sdk.chat.completions.create(model="gpt-4o-mini", messages=messages)
        assert reply.choices[0].message.content
        chunks = list(
            sdk.chat.completions.create(
                model="gpt-4o-mini",
                messages=streamed,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        assert chunks
    # The stream is counted once its last byte is sent, an instant after the
    # client has read [DONE]: give it that instant.
    deadline = time.monotonic() + 5
    while True:
        response = httpx.get(monitored.url + "/metrics")
        assert response.status_code == 200, response.text
        if chat_answers(response.text) >= 2 or time.monotonic() > deadline:
            return response.text
        time.sleep(0.05)


def families_of(text: str) -> list[Metric]:
    return list(text_string_to_metric_families(text))


def chat_answers(text: str) -> float:
    """proxy_api_requests_total of the chat route answered 200."""
    return sum(
        s.value
        for f in families_of(text)
        for s in f.samples
        if s.name == "proxy_api_requests_total"
        and s.labels.get("endpoint") == "/v1/chat/completions"
        and s.labels.get("status_code") == "200"
    )


def test_scrape_passes_promtool_check_metrics(scrape: str) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian 'prometheus'; scripts/ensure-promtool.sh)")
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=scrape,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    problems = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 and problems == "", problems


def test_scrape_has_every_metric_the_kit_queries(scrape: str) -> None:
    exposed: set[str] = set()
    for family in families_of(scrape):
        # A family declared with no sample yet (a counter nothing has counted) still
        # counts: its series appear with the first event.
        exposed |= series_names(family.name, family.type)
        exposed |= {sample.name for sample in family.samples}
    missing = kit_metric_names() - {"up"} - exposed
    assert not missing, f"queried by monitoring/ but not in the scrape: {sorted(missing)}"


def test_scrape_counts_the_requests_just_made(scrape: str) -> None:
    samples = [s for f in families_of(scrape) for s in f.samples]
    first_tokens = sum(
        s.value for s in samples if s.name == "proxy_api_time_to_first_token_seconds_count"
    )
    tokens = sum(s.value for s in samples if s.name == "llm_tokens_total")
    assert chat_answers(scrape) >= 2 and first_tokens >= 1 and tokens > 0
