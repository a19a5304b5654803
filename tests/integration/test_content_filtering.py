"""validation.content_filter and validation.response, on a real gateway with the openai SDK."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from processes import SIM_KEY, Running, serving, sim_provider

pytestmark = pytest.mark.integration

RULES = [
    {"type": "keyword", "keywords": ["forbidden"], "action": "block", "name": "no-forbidden"},
    {"type": "keyword", "keywords": ["zebra cobalt"], "action": "redact", "name": "zebra"},
    {"type": "regex", "patterns": [r"\bpin \d{4}\b"], "action": "flag", "name": "pins"},
    # Answers only: the simulator echoes the prompt one word per chunk, so these
    # two-word keywords reach the gateway split across chunks.
    {
        "type": "keyword",
        "keywords": ["lighthouse keeper"],
        "action": "block",
        "name": "keeper",
        "applies_to": ["response"],
    },
    {
        "type": "keyword",
        "keywords": ["violet harbor"],
        "action": "redact",
        "name": "harbor",
        "applies_to": ["response"],
    },
]
PACED = {"x-sim-tokens-per-second": "100"}  # one chunk per upstream read


class Malformed(BaseHTTPRequestHandler):
    """An upstream that answers every call 200 with a body that is not a chat completion."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = b'{"oops": true}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def malformed_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Malformed)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def filtering(
    simulator: Running, malformed_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    config = {
        "providers": [
            sim_provider("sim", simulator.url, ["filtered-model"], 1, headers=PACED),
            sim_provider("broken", malformed_url, ["fallback-model"], 2),
            sim_provider("good", simulator.url, ["fallback-model"], 3),
        ],
        "validation": {"content_filter": {"enabled": True, "rules": RULES}},
        "http_client": {"retry_attempts": 0},
        "circuit_breaker": {"enabled": False},
        "logging": {"level": "INFO"},
    }
    with serving(config, tmp_path_factory.mktemp("content-filter"), SIM_KEY="k") as running:
        yield running


def client(gateway: Running) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-client", max_retries=0)


def ask(gateway: Running, text: str, **extra: Any) -> Any:
    return client(gateway).chat.completions.create(
        model="filtered-model", messages=[{"role": "user", "content": text}], **extra
    )


def count(gateway: Running, rule: str, action: str, direction: str) -> float:
    text = httpx.get(gateway.url + "/metrics").text
    prefix = (
        f'proxy_api_content_filter_total{{action="{action}",direction="{direction}",'
        f'rule="{rule}"}} '
    )
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix) :])
    return 0.0


def test_a_blocked_request_is_a_400_content_filter(filtering: Running) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        ask(filtering, "tell me the forbidden thing")
    assert caught.value.code == "content_filter"
    assert "forbidden thing" not in str(caught.value.body)


def test_a_redacted_request_reaches_the_provider_masked(filtering: Running) -> None:
    reply = ask(filtering, "say zebra cobalt please")
    content = reply.choices[0].message.content or ""
    assert "***" in content and "zebra" not in content.lower()
    assert count(filtering, "zebra", "redact", "request") >= 1


def test_a_flagged_request_passes_and_is_counted(filtering: Running) -> None:
    before = count(filtering, "pins", "flag", "request")
    reply = ask(filtering, "my pin 1234 here")
    assert "pin 1234" in (reply.choices[0].message.content or "")
    assert count(filtering, "pins", "flag", "request") == before + 1
    assert count(filtering, "pins", "flag", "response") >= 1


def test_a_blocked_answer_ends_with_finish_reason_content_filter(filtering: Running) -> None:
    reply = ask(filtering, "describe a lighthouse keeper at night")
    assert reply.choices[0].finish_reason == "content_filter"
    assert "keeper" not in (reply.choices[0].message.content or "")
    assert count(filtering, "keeper", "block", "response") >= 1


def test_a_redacted_answer_is_masked(filtering: Running) -> None:
    reply = ask(filtering, "a violet harbor at dawn")
    content = reply.choices[0].message.content or ""
    assert "*** at dawn" in content and "violet" not in content


def streamed(filtering: Running, text: str) -> tuple[str, list[str | None]]:
    chunks = list(ask(filtering, text, stream=True))
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return content, [c.choices[0].finish_reason for c in chunks if c.choices]


def test_a_stream_is_blocked_when_a_match_spans_chunks(filtering: Running) -> None:
    text, reasons = streamed(filtering, "describe a lighthouse keeper at night")
    assert "keeper" not in text and "at night" not in text.split(":", 1)[-1]
    assert reasons[-1] == "content_filter"


def test_a_stream_redacts_a_match_split_across_chunks(filtering: Running) -> None:
    text, reasons = streamed(filtering, "a violet harbor at dawn")
    assert "*** at dawn" in text and "violet" not in text
    assert reasons[-1] == "stop"


def test_a_stream_flags_a_match_split_across_chunks(filtering: Running) -> None:
    before = count(filtering, "pins", "flag", "response")
    text, _ = streamed(filtering, "my pin 5678 here")
    assert "pin 5678" in text
    assert count(filtering, "pins", "flag", "response") == before + 1


def test_a_malformed_upstream_answer_falls_back_to_the_next_provider(
    filtering: Running,
) -> None:
    response = httpx.post(
        filtering.url + "/v1/chat/completions",
        json={"model": "fallback-model", "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )
    assert response.status_code == 200
    assert response.headers["x-proxyapi-provider"] == "good"
    assert "oops" not in response.text


def test_a_stream_past_max_response_size_ends_with_an_error_event(
    simulator: Running, tmp_path: Path
) -> None:
    config = {
        "providers": [
            sim_provider(
                "long", simulator.url, ["gpt-4o-mini"], 1, headers={"x-sim-reply-tokens": "400"}
            )
        ],
        "validation": {"response": {"max_response_size": "4KB"}},
    }
    with serving(config, tmp_path, SIM_KEY=SIM_KEY) as gw:
        with httpx.stream(
            "POST",
            gw.url + "/v1/chat/completions",
            json={
                "model": "gpt-4o-mini",
                "stream": True,
                "messages": [{"role": "user", "content": "hi"}],
            },
            timeout=30,
        ) as response:
            assert response.status_code == 200  # the stream was committed before the limit
            events = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert '"response_too_large"' in events[-1]
    assert sum(len(e) for e in events[:-1]) <= 4096 + 1024  # cut near the limit, not at the end
