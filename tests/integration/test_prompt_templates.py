"""Prompt templates end to end: a real gateway renders files from its directory and
sends the result down the normal chat path (streaming, cache, fallback) to the simulator.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from processes import SIM_KEY, Running, serving, sim_provider

pytestmark = pytest.mark.integration

KEY = "pxy-prompt-client"
Stats = Callable[[], dict[str, Any]]

GREETING = {
    "description": "Greet someone.",
    "variables": {"who": "Who to greet", "tone": {"description": "How", "default": "warmly"}},
    "defaults": {"model": "gpt-4o-mini", "temperature": 0.3},
    "messages": [
        {"role": "system", "content": "You are {{ app_name }}; answer {{ tone }}."},
        {"role": "user", "content": "Greet {{ who }} ({{ who | hash('md5') }})."},
    ],
}


def write_templates(directory: Path) -> None:
    directory.mkdir()
    files = {
        "greeting.yaml": GREETING,
        "fallback.yaml": {
            "defaults": {"model": "fallback-model"},
            "messages": [{"role": "user", "content": "Hello {{ name }}"}],
        },
        "sandboxed.yaml": {"messages": [{"role": "user", "content": "{{ ''.__class__ }}"}]},
        "broken.yaml": {"messages": [{"role": "user", "content": "{{ unclosed"}]},
    }
    for name, spec in files.items():
        (directory / name).write_text(yaml.safe_dump(spec, sort_keys=False))


@pytest.fixture(scope="module")
def gateway(simulator: Running, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    directory = tmp_path_factory.mktemp("prompts")
    write_templates(directory / "templates")
    url = simulator.url
    config = {
        "providers": [
            sim_provider("primary", url, ["gpt-4o-mini", "gpt-4o"], 1),
            sim_provider(
                "flaky",
                url,
                ["fallback-model"],
                2,
                headers={"x-sim-error-status": "503", "x-sim-error-rate": "1"},
            ),
            sim_provider("backup", url, ["fallback-model"], 3),
        ],
        "auth": {"api_keys": [KEY]},
        "templates": {
            "directory": str(directory / "templates"),
            "variables": {"app_name": "Acme"},
        },
        "caching": {"enabled": True},
        "cache": {"unified": {"disk_cache_dir": str(directory / "disk-cache")}},
        "http_client": {"retry_attempts": 0},
        "circuit_breaker": {"enabled": False},
        "logging": {"level": "WARNING"},
    }
    with serving(config, directory, SIM_KEY=SIM_KEY) as running:
        yield running


def complete(gw: Running, name: str, body: dict[str, Any], key: str = KEY) -> httpx.Response:
    return httpx.post(
        f"{gw.url}/v1/prompts/{name}/completions",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=20,
    )


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


def test_a_template_renders_into_the_upstream_request(gateway: Running, sim_stats: Stats) -> None:
    who = f"Ada-{uuid.uuid4().hex}"
    response = complete(gateway, "greeting", {"variables": {"who": who}})
    assert response.status_code == 200, response.text
    assert response.json()["object"] == "chat.completion"
    assert response.headers["x-proxyapi-provider"] == "primary"
    assert len(response.headers.get_list("x-request-id")) == 1
    sent = sim_stats()["last_request"]["body"]
    assert sent["model"] == "gpt-4o-mini"
    assert sent["temperature"] == 0.3
    assert sent["messages"] == [
        {"role": "system", "content": "You are Acme; answer warmly."},
        {"role": "user", "content": f"Greet {who} ({hashlib.md5(who.encode()).hexdigest()})."},
    ]


def test_client_parameters_override_the_template_defaults(
    gateway: Running, sim_stats: Stats
) -> None:
    body = {
        "variables": {"who": uuid.uuid4().hex, "tone": "briefly"},
        "model": "gpt-4o",
        "temperature": 0.9,
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "And say bye."}],
    }
    assert complete(gateway, "greeting", body).status_code == 200
    sent = sim_stats()["last_request"]["body"]
    assert (sent["model"], sent["temperature"], sent["max_tokens"]) == ("gpt-4o", 0.9, 5)
    assert sent["messages"][0]["content"].endswith("answer briefly.")
    assert sent["messages"][-1] == {"role": "user", "content": "And say bye."}


def test_streaming_through_a_template(gateway: Running) -> None:
    body = {"variables": {"who": uuid.uuid4().hex}, "stream": True}
    with httpx.stream(
        "POST",
        f"{gateway.url}/v1/prompts/greeting/completions",
        json=body,
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=20,
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text


def test_the_response_cache_answers_a_repeated_prompt(gateway: Running) -> None:
    body = {"variables": {"who": uuid.uuid4().hex}}
    first = complete(gateway, "greeting", body)
    second = complete(gateway, "greeting", body)
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
    assert second.json()["choices"] == first.json()["choices"]


def test_a_template_request_falls_back_like_any_other(gateway: Running) -> None:
    response = complete(gateway, "fallback", {"variables": {"name": uuid.uuid4().hex}})
    assert response.status_code == 200, response.text
    assert response.headers["x-proxyapi-provider"] == "backup"
    assert response.headers["x-proxyapi-attempts"] == "2"


def test_listing_shows_templates_with_their_variables_and_defaults(gateway: Running) -> None:
    response = httpx.get(f"{gateway.url}/v1/prompts", headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 200
    listed = {p["name"]: p for p in response.json()["data"]}
    assert set(listed) == {"greeting", "fallback", "sandboxed", "broken"}
    greeting = listed["greeting"]
    assert [v["name"] for v in greeting["variables"]] == ["who", "tone"]
    assert greeting["defaults"] == {"model": "gpt-4o-mini", "temperature": 0.3}
    assert [v["name"] for v in listed["fallback"]["variables"]] == ["name"]
    assert listed["broken"]["error"]["code"] == "template_error"


@pytest.mark.parametrize("path", ["/v1/prompts", "/v1/prompts/greeting/completions"])
def test_prompt_routes_need_the_client_key(gateway: Running, path: str) -> None:
    response = httpx.request(
        "GET" if path == "/v1/prompts" else "POST", gateway.url + path, json={}
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("name", "body", "code", "named"),
    [
        ("nope", {"variables": {}}, "template_not_found", "nope"),
        ("greeting", {"variables": {}}, "missing_variable", "who"),
        ("fallback", {}, "missing_variable", "name"),
        ("sandboxed", {}, "template_error", "sandboxed"),
        ("broken", {}, "template_error", "broken"),
        ("greeting", {"variables": ["who"]}, "invalid_request", "variables"),
    ],
)
def test_every_template_error_is_a_400_naming_it(
    gateway: Running, name: str, body: dict[str, Any], code: str, named: str
) -> None:
    response = complete(gateway, name, body)
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["code"] == code
    assert error["type"] == "invalid_request_error"
    assert named in error["message"]


def test_a_body_that_is_not_json_is_a_400(gateway: Running) -> None:
    response = httpx.post(
        f"{gateway.url}/v1/prompts/greeting/completions",
        content=b"{nope",
        headers={"Authorization": f"Bearer {KEY}", "content-type": "application/json"},
    )
    assert response.status_code == 400


def test_completions_take_post_only(gateway: Running) -> None:
    response = httpx.get(
        f"{gateway.url}/v1/prompts/greeting/completions",
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert response.status_code == 405


def test_disabled_templates_answer_404(simulator: Running, tmp_path: Path) -> None:
    config = {
        "providers": [sim_provider("primary", simulator.url, ["gpt-4o-mini"], 1)],
        "templates": {"enabled": False},
        "logging": {"level": "WARNING"},
    }
    with serving(config, tmp_path, SIM_KEY=SIM_KEY) as running:
        listed = httpx.get(f"{running.url}/v1/prompts")
        completed = httpx.post(f"{running.url}/v1/prompts/any/completions", json={})
    assert (listed.status_code, completed.status_code) == (404, 404)
    assert "templates.enabled" in error_of(completed)["message"]
