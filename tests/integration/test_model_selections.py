"""Model selections end to end: a real gateway, the simulator upstream, the official SDK.

The simulator echoes the requested model in the answer's ``model``, so the
answer says which model a provider name resolved to; ``x-proxyapi-provider``
says which provider answered. Each gateway gets its selections file at an
absolute path: every process runs in a fresh working directory.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam
from processes import SIM_KEY, Running, serving, sim_provider

pytestmark = pytest.mark.integration

CLIENT_KEY = "pxy-client-selections-0001"
ADMIN_KEY = "pxy-admin-selections-0002"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]


def config(sim_url: str, selections: Path) -> dict[str, object]:
    return {
        "app": {"model_selections_file": str(selections)},
        "providers": [
            sim_provider("primary", sim_url, ["gpt-4o-mini", "gpt-4o"], 1),
            sim_provider("second", sim_url, ["gpt-4o"], 2),
            sim_provider("locked", sim_url, ["gpt-4o-mini", "gpt-4o"], 3),
        ],
        "auth": {"api_keys": [CLIENT_KEY], "admin_keys": [ADMIN_KEY]},
        "http_client": {"retry_attempts": 0},
        "logging": {"level": "WARNING"},
    }


def sdk(running: Running) -> openai.OpenAI:
    return openai.OpenAI(base_url=running.url + "/v1", api_key=CLIENT_KEY, max_retries=0)


def answer(running: Running, model: str) -> tuple[str, str]:
    """(the model that answered, the provider that answered) for a chat with ``model``."""
    raw = sdk(running).chat.completions.with_raw_response.create(model=model, messages=MESSAGES)
    return raw.parse().model, raw.headers["x-proxyapi-provider"]


def put(running: Running, provider: str, model: str, **headers: str) -> httpx.Response:
    return httpx.put(
        f"{running.url}/api/model-selections/{provider}",
        json={"model_name": model},
        headers=headers or ADMIN,
    )


def eventually(check: Any, seconds: float = 3.0) -> Any:
    """``check()`` once it returns something true, polling; its last value otherwise."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_a_selection_is_used_survives_a_restart_and_follows_hand_edits(
    simulator: Running, tmp_path: Path
) -> None:
    path = tmp_path / "config" / "model_selections.json"
    settings = config(simulator.url, path)
    with serving(settings, tmp_path, SIM_KEY=SIM_KEY) as running:
        assert answer(running, "primary") == ("gpt-4o-mini", "primary")  # no file: first model
        assert put(running, "primary", "gpt-4o").status_code == 200
        assert answer(running, "primary") == ("gpt-4o", "primary")
    assert json.loads(path.read_text())["primary"]["model_name"] == "gpt-4o"

    with serving(settings, tmp_path, SIM_KEY=SIM_KEY) as running:
        assert answer(running, "primary") == ("gpt-4o", "primary")
        entry = {"model_name": "gpt-4.1-mini", "editable": True, "last_updated": None}
        path.write_text(json.dumps({"primary": entry}))
        started = time.monotonic()
        assert eventually(lambda: answer(running, "primary")[0] == "gpt-4.1-mini")
        assert time.monotonic() - started < 1.5


@pytest.fixture(scope="module")
def gateway(
    simulator: Running, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Running, Path]]:
    """A gateway whose file locks provider ``locked`` to gpt-4o (``editable: false``)."""
    directory = tmp_path_factory.mktemp("selections")
    path = directory / "model_selections.json"
    entry = {"model_name": "gpt-4o", "editable": False, "last_updated": "2025-09-12T03:54:29"}
    path.write_text(json.dumps({"locked": entry}))
    with serving(config(simulator.url, path), directory, SIM_KEY=SIM_KEY) as running:
        yield running, path


def test_get_lists_every_usable_provider_with_its_source(gateway: tuple[Running, Path]) -> None:
    running, _ = gateway
    listed = httpx.get(running.url + "/api/model-selections", headers=ADMIN).json()
    assert listed["locked"] == {
        "model_name": "gpt-4o",
        "editable": False,
        "last_updated": "2025-09-12T03:54:29",
        "source": "file",
    }
    assert listed["second"] == {
        "model_name": "gpt-4o",
        "editable": True,
        "last_updated": None,
        "source": "default",
    }
    assert set(listed) == {"primary", "second", "locked"}


def test_a_locked_selection_is_used_and_refuses_a_put(gateway: tuple[Running, Path]) -> None:
    running, path = gateway
    before = path.read_bytes()
    refused = put(running, "locked", "gpt-4o-mini")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"
    assert path.read_bytes() == before
    assert answer(running, "locked") == ("gpt-4o", "locked")


def test_a_put_of_a_model_the_provider_does_not_offer_is_refused(
    gateway: tuple[Running, Path],
) -> None:
    running, _ = gateway
    refused = put(running, "second", "no-such-model")
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "model_name"
    assert put(running, "nobody", "gpt-4o").status_code == 404


def test_a_put_may_select_a_model_the_provider_reports_without_configuring_it(
    gateway: tuple[Running, Path],
) -> None:
    running, _ = gateway
    accepted = put(running, "second", "gpt-4.1-mini")  # in the simulator's own /v1/models
    assert accepted.status_code == 200
    body = accepted.json()
    assert (body["provider"], body["model_name"], body["source"]) == (
        "second",
        "gpt-4.1-mini",
        "file",
    )
    assert answer(running, "second") == ("gpt-4.1-mini", "second")


def test_only_admin_keys_may_put(gateway: tuple[Running, Path]) -> None:
    running, _ = gateway
    refused = put(running, "primary", "gpt-4o", Authorization=f"Bearer {CLIENT_KEY}")
    assert refused.status_code == 401


def test_provider_slash_model_pins_the_provider(gateway: tuple[Running, Path]) -> None:
    running, _ = gateway
    assert answer(running, "gpt-4o") == ("gpt-4o", "primary")  # by priority
    assert answer(running, "second/gpt-4o") == ("gpt-4o", "second")
    with pytest.raises(openai.NotFoundError) as caught:
        answer(running, "second/not-a-model")
    assert caught.value.code == "model_not_found"


def test_provider_slash_default_is_its_selected_model(gateway: tuple[Running, Path]) -> None:
    running, _ = gateway
    assert answer(running, "primary/default") == ("gpt-4o-mini", "primary")
    assert answer(running, "locked/default") == ("gpt-4o", "locked")


def test_a_stream_resolves_a_provider_name_too(gateway: tuple[Running, Path]) -> None:
    running, _ = gateway
    stream = sdk(running).chat.completions.create(model="locked", messages=MESSAGES, stream=True)
    assert {chunk.model for chunk in stream} == {"gpt-4o"}
