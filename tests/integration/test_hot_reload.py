"""Hot reload: the file, the API and SIGHUP swap configurations under load, invisibly.

Real gateway processes in front of the simulator; clients are the official
``openai`` SDK. The config file is replaced the way operators and Kubernetes
do it (a new file renamed over the old one).
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml
from processes import (
    SIM_KEY,
    Running,
    base_env,
    free_port,
    serving,
    sim_provider,
    start_proxyapi,
    stop,
)

pytestmark = pytest.mark.integration

CLIENT_KEY = "pxy-reload-client-0001"
ROTATED_KEY = "pxy-reload-client-0002"
ADMIN_KEY = "pxy-reload-admin-0003"
ADMIN = {"X-API-Key": ADMIN_KEY}
SLOW_STREAM = {"x-sim-tokens-per-second": "20", "x-sim-reply-tokens": "30"}


def config(sim_url: str, *providers: dict[str, object], key: str = CLIENT_KEY) -> dict[str, Any]:
    return {
        "providers": list(providers),
        "auth": {"api_keys": [key], "admin_keys": [ADMIN_KEY]},
        "http_client": {"retry_attempts": 0},
        "logging": {"level": "INFO"},
        "caching": {"enabled": False},  # every request goes upstream: its provider shows
        "health_check": {"enabled": False},
    }


def alpha(sim_url: str) -> dict[str, object]:
    return sim_provider("alpha", sim_url, ["shared", "only-alpha"], 2)


def beta(sim_url: str) -> dict[str, object]:
    return sim_provider("beta", sim_url, ["shared", "only-beta"], 3)


def replace_file(path: Path, data: dict[str, Any] | str) -> None:
    """Write a new file and rename it over the old one, as editors and ConfigMaps do."""
    text = data if isinstance(data, str) else yaml.safe_dump(data)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def wait_for(check: Callable[[], bool], seconds: float = 5.0) -> float:
    """Seconds until ``check`` held; fails the test past ``seconds``."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < seconds, "condition not met in time"
        time.sleep(0.05)
    return time.monotonic() - started


def sdk(running: Running, key: str = CLIENT_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=running.url + "/v1", api_key=key, max_retries=0)


def answers(running: Running, model: str, key: str = CLIENT_KEY) -> int:
    response = httpx.post(
        running.url + "/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    return response.status_code


def provider_of(running: Running, model: str) -> str:
    raw = sdk(running).chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "hi"}]
    )
    return raw.headers["x-proxyapi-provider"]


@pytest.fixture()
def reloadable(simulator: Running, tmp_path: Path) -> Iterator[tuple[Running, Path]]:
    with serving(config(simulator.url, alpha(simulator.url)), tmp_path, SIM_KEY=SIM_KEY) as gw:
        yield gw, tmp_path / "config.yaml"


def reload_counts(running: Running) -> dict[str, float]:
    counts: dict[str, float] = {}
    for line in httpx.get(running.url + "/metrics").text.splitlines():
        if line.startswith("proxy_api_config_reloads_total{"):
            result = line.split('result="')[1].split('"')[0]
            counts[result] = float(line.rsplit(" ", 1)[1])
    return counts


# -- under load ---------------------------------------------------------------------------


async def _drive(url: str, stop: threading.Event, outcomes: list[str]) -> None:
    client = openai.AsyncOpenAI(base_url=url + "/v1", api_key=CLIENT_KEY, max_retries=0)
    messages: Any = [{"role": "user", "content": "hi"}]

    async def one_client(index: int) -> None:
        stream = index % 2 == 1
        while not stop.is_set():
            try:
                if stream:
                    chunks = await client.chat.completions.create(
                        model="shared", messages=messages, stream=True
                    )
                    async for _ in chunks:
                        pass
                else:
                    await client.chat.completions.create(model="shared", messages=messages)
                outcomes.append("ok")
            except openai.APIStatusError as error:
                outcomes.append(f"status {error.status_code}")
            except openai.APIError as error:
                outcomes.append(f"error {type(error).__name__}")

    await asyncio.gather(*(one_client(i) for i in range(16)))
    await client.close()


def test_twenty_rewrites_under_load_lose_no_request(
    reloadable: tuple[Running, Path], simulator: Running
) -> None:
    gw, path = reloadable
    versions: list[dict[str, Any] | str] = [
        config(simulator.url, beta(simulator.url)),  # the running file has alpha
        config(simulator.url, alpha(simulator.url)),
        "providers:\n  - name: broken\n    type: not-a-provider-type\n",
    ]
    stop = threading.Event()
    outcomes: list[str] = []
    load = threading.Thread(target=lambda: asyncio.run(_drive(gw.url, stop, outcomes)))
    load.start()
    try:
        time.sleep(0.5)
        for i in range(20):
            done = sum(reload_counts(gw).values())
            replace_file(path, versions[i % 3])
            wait_for(lambda: sum(reload_counts(gw).values()) > done)  # noqa: B023
            time.sleep(0.2)
    finally:
        stop.set()
        load.join(timeout=30)
    failures = [o for o in outcomes if o != "ok"]
    assert len(outcomes) > 200 and failures == []
    counts = reload_counts(gw)
    assert counts.get("failed") == 6  # every invalid version (i = 2, 5, ..., 17) refused...
    assert counts.get("reloaded") == 14  # ...and every valid one applied
    assert provider_of(gw, "shared") == "alpha"  # the last version (i = 19 -> alpha)


# -- what a reload changes ----------------------------------------------------------------


def test_an_added_provider_takes_traffic_within_two_seconds(
    reloadable: tuple[Running, Path], simulator: Running
) -> None:
    gw, path = reloadable
    assert answers(gw, "only-beta") == 404
    replace_file(path, config(simulator.url, alpha(simulator.url), beta(simulator.url)))
    assert wait_for(lambda: answers(gw, "only-beta") == 200, seconds=2.0) < 2.0


def test_a_removed_provider_finishes_its_streams_then_gets_nothing(
    reloadable: tuple[Running, Path], simulator: Running
) -> None:
    gw, path = reloadable
    slow = sim_provider("slow", simulator.url, ["shared"], 1, headers=SLOW_STREAM)
    replace_file(path, config(simulator.url, slow, alpha(simulator.url)))
    wait_for(lambda: provider_of(gw, "shared") == "slow")
    stream = sdk(gw).chat.completions.create(
        model="shared", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    first = next(iter(stream))
    replace_file(path, config(simulator.url, alpha(simulator.url)))
    wait_for(lambda: provider_of(gw, "shared") == "alpha")
    rest = list(stream)  # the stream that started on "slow" runs to its end
    assert first.choices and rest and rest[-1].choices[0].finish_reason == "stop"
    assert {provider_of(gw, "shared") for _ in range(5)} == {"alpha"}


def test_a_rotated_api_key_applies_without_a_restart(
    reloadable: tuple[Running, Path], simulator: Running
) -> None:
    gw, path = reloadable
    pid = gw.process.pid
    assert answers(gw, "shared", CLIENT_KEY) == 200
    replace_file(path, config(simulator.url, alpha(simulator.url), key=ROTATED_KEY))
    wait_for(lambda: answers(gw, "shared", ROTATED_KEY) == 200)
    assert answers(gw, "shared", CLIENT_KEY) == 401
    assert gw.process.pid == pid and gw.process.poll() is None


def test_restart_only_settings_are_reported_not_ignored(
    reloadable: tuple[Running, Path], simulator: Running
) -> None:
    gw, path = reloadable
    moved = config(simulator.url, alpha(simulator.url))
    moved["server"] = {"port": 1}
    replace_file(path, moved)
    reply = httpx.post(gw.url + "/api/config/reload", headers=ADMIN).json()
    last = httpx.get(gw.url + "/api/config", headers=ADMIN).json()["active"]["last_reload"]
    assert "server.port" in last["requires_restart"] or "server.port" in reply["requires_restart"]
    assert "server.port changed and requires restart" in gw.output()
    assert answers(gw, "shared") == 200  # still on its original port


# -- the API and SIGHUP -------------------------------------------------------------------


def test_the_api_refuses_an_invalid_file_with_the_startup_problems(
    reloadable: tuple[Running, Path], simulator: Running
) -> None:
    gw, path = reloadable
    before = httpx.get(gw.url + "/api/config", headers=ADMIN).json()["active"]["hash"]
    bad = config(simulator.url, alpha(simulator.url))
    bad["rate_limit"] = {"requests_per_window": -5}
    replace_file(path, bad)
    reply = httpx.post(gw.url + "/api/config/reload", headers=ADMIN)
    assert reply.status_code == 422
    body = reply.json()
    assert body["error"]["code"] == "invalid_config"
    assert any(p.startswith("rate_limit.requests_per_window:") for p in body["problems"])
    assert answers(gw, "shared") == 200
    assert httpx.get(gw.url + "/api/config", headers=ADMIN).json()["active"]["hash"] == before
    assert httpx.post(gw.url + "/api/config/reload").status_code == 401  # admin only


def test_the_active_config_is_shown_without_secrets(
    reloadable: tuple[Running, Path], simulator: Running
) -> None:
    gw, _ = reloadable
    shown = httpx.get(gw.url + "/api/config", headers=ADMIN)
    assert shown.status_code == 200
    body = shown.json()
    assert body["active"]["hash"] == httpx.get(gw.url + "/health").json()["config"]["hash"]
    assert body["config"]["providers"][0]["name"] == "alpha"
    for secret in (CLIENT_KEY, ADMIN_KEY, SIM_KEY):
        assert secret not in shown.text


def test_sighup_reloads(reloadable: tuple[Running, Path], simulator: Running) -> None:
    gw, path = reloadable
    gw.process.send_signal(signal.SIGHUP)

    def reloaded_by_signal() -> bool:
        active = httpx.get(gw.url + "/api/config", headers=ADMIN).json()["active"]
        return bool(active["last_reload"] and active["last_reload"]["trigger"] == "signal")

    wait_for(reloaded_by_signal)
    assert gw.process.poll() is None and answers(gw, "shared") == 200


# -- several workers ----------------------------------------------------------------------


def hashes_by_worker(gw: Running, rounds: int = 30) -> dict[int, str]:
    seen: dict[int, str] = {}
    for _ in range(rounds):
        with httpx.Client() as fresh:  # a new connection: either worker may answer
            found = fresh.get(gw.url + "/health").json()["config"]
        seen[found["worker_pid"]] = found["hash"]
    return seen


def test_with_two_workers_a_file_change_reloads_both(simulator: Running, tmp_path: Path) -> None:
    with serving(
        config(simulator.url, alpha(simulator.url)),
        tmp_path,
        args=("--workers", "2"),
        SIM_KEY=SIM_KEY,
    ) as gw:
        wait_for(lambda: len(hashes_by_worker(gw)) == 2, seconds=15)
        (before,) = set(hashes_by_worker(gw).values())
        replace_file(
            tmp_path / "config.yaml",
            config(simulator.url, alpha(simulator.url), beta(simulator.url)),
        )

        def both_moved() -> bool:
            seen = hashes_by_worker(gw)
            return len(seen) == 2 and before not in seen.values()

        wait_for(both_moved, seconds=10)
        assert len(set(hashes_by_worker(gw).values())) == 1
        # SIGHUP to the supervisor reloads every worker in place (none restarts).
        pids = set(hashes_by_worker(gw))
        gw.process.send_signal(signal.SIGHUP)

        def every_worker_heard_it() -> bool:
            seen: set[int] = set()
            for _ in range(30):
                with httpx.Client(headers=ADMIN) as fresh:
                    active = fresh.get(gw.url + "/api/config").json()["active"]
                last = active["last_reload"]
                if last and last["trigger"] == "signal":
                    seen.add(active["worker_pid"])
            return seen == pids

        wait_for(every_worker_heard_it, seconds=10)


def configmap_update(mount: Path, version: int, data: dict[str, Any]) -> None:
    """What the kubelet does: a new timestamped directory, ``..data`` swapped onto it."""
    fresh = mount / f"..2026_11_25_{version:02d}"
    fresh.mkdir()
    (fresh / "config.yaml").write_text(yaml.safe_dump(data))
    link = mount / "..data_tmp"
    link.symlink_to(fresh.name)
    os.replace(link, mount / "..data")
    if not (mount / "config.yaml").is_symlink():
        (mount / "config.yaml").symlink_to("..data/config.yaml")


def test_a_kubernetes_configmap_update_reloads(simulator: Running, tmp_path: Path) -> None:
    mount = tmp_path / "config"
    mount.mkdir()
    configmap_update(mount, 1, config(simulator.url, alpha(simulator.url)))
    port = free_port()
    gw = start_proxyapi(
        ["serve", "--config", str(mount / "config.yaml"), "--port", str(port)],
        base_env(SIM_KEY=SIM_KEY),
        "/health/ready",
        port,
    )
    try:
        assert answers(gw, "only-beta") == 404
        configmap_update(mount, 2, config(simulator.url, alpha(simulator.url), beta(simulator.url)))
        wait_for(lambda: answers(gw, "only-beta") == 200)
        configmap_update(mount, 3, config(simulator.url, beta(simulator.url)))
        wait_for(lambda: answers(gw, "only-alpha") == 404)
    finally:
        stop(gw.process)
