"""API keys end to end: every source of keys, every way to present one, the admin surface.

The gateway runs as a real process; clients are the official ``openai`` SDK and
plain HTTP. The last test reads everything the gateway printed and served and
looks for key material.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from processes import SIM_KEY, Running, base_env, serving, sim_provider

ENV_KEY = "pxy-from-the-environment-0001"
STATIC_KEY = "pxy-static-in-the-file-0002"
HASHED_KEY = "pxy-only-its-hash-is-configured-0003"
ADMIN_KEY = "pxy-admin-0004"
WRONG_KEY = "pxy-wrong-0005"
ALL_KEYS = (ENV_KEY, STATIC_KEY, HASHED_KEY, ADMIN_KEY, WRONG_KEY)
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def sha256(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def config(sim_url: str, **blocks: object) -> dict[str, object]:
    return {
        "providers": [sim_provider("primary", sim_url, ["gpt-4o-mini"], 1)],
        "http_client": {"retry_attempts": 0},
        "logging": {"level": "DEBUG"},
        **blocks,
    }


@pytest.fixture(scope="module")
def locked(simulator: Running, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """A gateway with a key from each source, and an admin key."""
    blocks = {
        "auth": {"api_keys": ["${GATEWAY_KEY}", STATIC_KEY], "admin_keys": [ADMIN_KEY]},
        "authentication": {"api_keys": {"hashed_keys": [sha256(HASHED_KEY)]}},
    }
    with serving(
        config(simulator.url, **blocks),
        tmp_path_factory.mktemp("locked"),
        SIM_KEY=SIM_KEY,
        GATEWAY_KEY=ENV_KEY,
    ) as running:
        yield running


def client(running: Running, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=running.url + "/v1", api_key=key, max_retries=0)


@pytest.mark.parametrize("key", [ENV_KEY, STATIC_KEY, HASHED_KEY, ADMIN_KEY])
def test_a_key_from_any_source_opens_the_client_routes(locked: Running, key: str) -> None:
    reply = client(locked, key).chat.completions.create(**CHAT)  # type: ignore[call-overload]
    assert reply.choices[0].message.content
    assert "gpt-4o-mini" in [m.id for m in client(locked, key).models.list()]


def test_a_wrong_key_is_refused_with_the_openai_error_shape(locked: Running) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        client(locked, WRONG_KEY).chat.completions.create(**CHAT)  # type: ignore[call-overload]
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    assert caught.value.type == "authentication_error"


def test_missing_and_wrong_keys_get_the_same_answer(locked: Running) -> None:
    url = locked.url + "/v1/chat/completions"
    answers = [
        httpx.post(url, json=CHAT),
        httpx.post(url, json=CHAT, headers={"Authorization": f"Bearer {WRONG_KEY}"}),
        httpx.post(url, json=CHAT, headers={"X-API-Key": WRONG_KEY}),
        httpx.post(url, json=CHAT, headers={"Authorization": f"Basic {STATIC_KEY}"}),
        httpx.post(url, json=CHAT, headers={"Authorization": "Bearer"}),
    ]
    assert {a.status_code for a in answers} == {401}
    assert len({a.content for a in answers}) == 1
    assert answers[0].json()["error"]["code"] == "invalid_api_key"


def test_the_key_header_works_as_well_as_bearer(locked: Running) -> None:
    url = locked.url + "/v1/chat/completions"
    assert httpx.post(url, json=CHAT, headers={"X-API-Key": STATIC_KEY}).status_code == 200
    assert httpx.post(url, json=CHAT, headers={"x-api-key": HASHED_KEY}).status_code == 200
    authorization = {"Authorization": f"bearer {ENV_KEY}"}
    assert httpx.post(url, json=CHAT, headers=authorization).status_code == 200


def test_unknown_paths_do_not_tell_strangers_what_exists(locked: Running) -> None:
    assert httpx.get(locked.url + "/v1/nothing-here").status_code == 401
    found = httpx.get(locked.url + "/v1/nothing-here", headers={"X-API-Key": STATIC_KEY})
    assert found.status_code == 404


def test_probes_and_metrics_stay_open(locked: Running) -> None:
    for path in ("/health", "/health/live", "/health/ready", "/v1/metrics"):
        assert httpx.get(locked.url + path).status_code == 200, path


@pytest.mark.parametrize("path", ["/api/keys", "/api/rate-limits", "/debug/circuit-breakers"])
def test_only_an_admin_key_opens_the_admin_surface(locked: Running, path: str) -> None:
    url = locked.url + path
    assert httpx.get(url).status_code == 401
    for key in (STATIC_KEY, ENV_KEY, HASHED_KEY, WRONG_KEY):
        assert httpx.get(url, headers={"Authorization": f"Bearer {key}"}).status_code == 401
    assert httpx.get(url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}).status_code == 200
    assert httpx.get(url, headers={"X-API-Key": ADMIN_KEY}).status_code == 200


def test_the_admin_key_list_names_keys_by_id_only(locked: Running) -> None:
    body = httpx.get(locked.url + "/api/keys", headers={"X-API-Key": ADMIN_KEY}).json()
    roles = [k["role"] for k in body["keys"]]
    assert body["authentication"] is True
    assert roles == ["client", "client", "client", "admin"]
    assert [k["id"] for k in body["keys"]][:2] == [sha256(ENV_KEY)[:12], sha256(STATIC_KEY)[:12]]


def test_without_keys_the_gateway_runs_open_and_says_so_loudly(
    simulator: Running, tmp_path: Path
) -> None:
    with serving(config(simulator.url), tmp_path, SIM_KEY=SIM_KEY) as running:
        reply = client(running, "anything").chat.completions.create(**CHAT)  # type: ignore[call-overload]
        assert reply.choices[0].message.content
        assert httpx.get(running.url + "/api/keys").status_code == 404  # admin surface off
        assert httpx.get(running.url + "/debug/circuit-breakers").status_code == 404
        assert "NO API KEYS ARE CONFIGURED" in running.output()


def test_keys_and_header_name_from_environment_variables(
    simulator: Running, tmp_path: Path
) -> None:
    env = {
        "PROXY_API_PROXY_API_KEYS": f'["{STATIC_KEY}", "{ENV_KEY}"]',
        "PROXY_API_API_KEY_HEADER": "X-Gateway-Key",
    }
    with serving(config(simulator.url), tmp_path, SIM_KEY=SIM_KEY, **env) as running:
        url = running.url + "/v1/chat/completions"
        assert httpx.post(url, json=CHAT, headers={"X-Gateway-Key": ENV_KEY}).status_code == 200
        assert httpx.post(url, json=CHAT, headers={"X-API-Key": ENV_KEY}).status_code == 401
        reply = client(running, STATIC_KEY).chat.completions.create(**CHAT)  # type: ignore[call-overload]
        assert reply.choices[0].message.content
        assert "NO API KEYS ARE CONFIGURED" not in running.output()


def test_api_keys_required_without_any_key_refuses_to_start(
    simulator: Running, tmp_path: Path
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(f"providers:\n  - {sim_provider('p', simulator.url, ['m'], 1)}\n")
    result = subprocess.run(
        [sys.executable, "-m", "proxyapi", "serve", "--config", str(path)],
        env=base_env(API_KEYS_REQUIRED="true", SIM_KEY=SIM_KEY),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "API_KEYS_REQUIRED" in result.stderr and "no client API key" in result.stderr


def test_a_generated_key_works_once_its_hash_is_configured(
    simulator: Running, tmp_path: Path
) -> None:
    proxyapi = [sys.executable, "-m", "proxyapi", "keys"]
    generated = subprocess.run([*proxyapi, "generate"], capture_output=True, text=True, check=True)
    key = generated.stdout.strip()
    hashed = subprocess.run([*proxyapi, "hash", key], capture_output=True, text=True, check=True)
    assert key.startswith("pxy-") and hashed.stdout.strip() == sha256(key)
    assert sha256(key) in generated.stderr  # shown to the operator, not on stdout
    blocks = {"authentication": {"api_keys": {"hashed_keys": [hashed.stdout.strip()]}}}
    with serving(config(simulator.url, **blocks), tmp_path, SIM_KEY=SIM_KEY) as running:
        reply = client(running, key).chat.completions.create(**CHAT)  # type: ignore[call-overload]
        assert reply.choices[0].message.content


def test_no_key_material_in_logs_errors_or_metrics(locked: Running) -> None:
    for key in ALL_KEYS:
        httpx.post(locked.url + "/v1/chat/completions", json=CHAT, headers={"X-API-Key": key})
        httpx.get(locked.url + "/api/keys", headers={"Authorization": f"Bearer {key}"})
    admin = {"X-API-Key": ADMIN_KEY}
    served = [
        httpx.get(locked.url + "/v1/metrics").text,
        httpx.get(locked.url + "/api/keys", headers=admin).text,
        httpx.get(locked.url + "/api/rate-limits", headers=admin).text,
        httpx.get(locked.url + "/debug/circuit-breakers", headers=admin).text,
        httpx.get(locked.url + "/health").text,
    ]
    printed = locked.output()
    assert "DEBUG" in printed or "INFO" in printed or "WARNING" in printed  # it did log
    for key in ALL_KEYS:
        for text in [printed, *served]:
            assert key not in text
            assert sha256(key) not in text  # nor the full digest
