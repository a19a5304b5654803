"""Real processes on loopback ports: the simulator upstream and the gateway in front of it.

Nothing is mocked: the gateway is started with ``python -m proxyapi serve`` and
a YAML file, exactly as an operator would, and talks to the simulator over HTTP.
Provider ``headers`` carry the simulator's knobs, so each provider in the file
behaves as the test needs (failing, slow, tiny context window, ...).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

SIM_KEY = "sk-sim-test-key-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_ready(
    url: str, process: subprocess.Popen[bytes], log: Path, seconds: float = 20
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=0.5, verify=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not become ready in {seconds} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Running:
    url: str
    process: subprocess.Popen[bytes]
    log: Path = field(default_factory=Path)

    def output(self) -> str:
        """What the process printed so far (stdout and stderr)."""
        return self.log.read_text()


def start_proxyapi(
    args: list[str], env: dict[str, str], ready_path: str, port: int, scheme: str = "http"
) -> Running:
    """``python -m proxyapi ARGS``, its output in a file (a pipe nobody reads would block it)."""
    log = Path(tempfile.mkstemp(prefix="proxyapi-", suffix=".log")[1])
    # A directory of its own: whatever the process writes relative to its working
    # directory (the disk cache's default .cache/unified) stays out of the checkout.
    workdir = tempfile.mkdtemp(prefix="proxyapi-cwd-")
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "proxyapi", *args],
            env=env,
            stdout=sink,
            stderr=sink,
            cwd=workdir,
        )
    url = f"{scheme}://127.0.0.1:{port}"
    try:
        wait_until_ready(url + ready_path, process, log)
    except BaseException:
        stop(process)
        raise
    return Running(url, process, log)


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROXY_API_")}
    env.pop("OPENAI_API_KEY", None)
    env.update(extra)
    return env


def sim_provider(
    name: str, sim_url: str, models: list[str], priority: int, **extra: object
) -> dict[str, object]:
    provider: dict[str, object] = {
        "name": name,
        "type": "openai_compatible",
        "base_url": f"{sim_url}/v1",
        "api_key_env": "SIM_KEY",
        "models": models,
        "priority": priority,
    }
    provider.update(extra)
    return provider


def gateway_config(sim_url: str) -> dict[str, object]:
    """One file, many behaviours: each model name picks a differently-behaving provider."""
    failing = {"x-sim-error-status": "503", "x-sim-error-rate": "1"}
    return {
        "server": {"client_timeout": 20},
        "providers": [
            sim_provider(
                "primary", sim_url, ["gpt-4o-mini", "gpt-4o", "text-embedding-3-small"], 1
            ),
            sim_provider(
                "flaky", sim_url, ["fallback-model", "all-fail-model"], 2, headers=failing
            ),
            sim_provider("backup", sim_url, ["fallback-model"], 3),
            sim_provider("dead", "http://127.0.0.1:9", ["dead-model"], 4, timeout=2),
            sim_provider("backup-2", sim_url, ["dead-model"], 5),
            sim_provider(
                "slow",
                sim_url,
                ["slow-model"],
                6,
                timeout=0.5,
                headers={"x-sim-latency-ms": "3000"},
            ),
            sim_provider(
                "tiny", sim_url, ["tiny-model"], 7, headers={"x-sim-context-window": "64"}
            ),
            sim_provider(
                "picky",
                sim_url,
                ["picky-model"],
                8,
                headers={"x-sim-error-status": "400", "x-sim-error-rate": "1"},
            ),
            sim_provider(
                "busy",
                sim_url,
                ["busy-model"],
                9,
                headers={"x-sim-error-status": "429", "x-sim-error-rate": "1"},
            ),
            {
                "name": "keyless",
                "type": "openai",
                "api_key_env": "PROXYAPI_TEST_UNSET_KEY",
                "models": ["keyless-model"],
                "priority": 10,
            },
        ],
        "model_overrides": {"gpt-4o": {"max_tokens": 7, "temperature": 0.25}},
        "validation": {"request": {"max_body_size": "64KB"}},
        "logging": {"level": "WARNING"},
        # These tests are about translation and fallback: no retries, no breakers.
        "http_client": {"retry_attempts": 0},
        "circuit_breaker": {"enabled": False},
    }


@contextmanager
def serving(
    config: dict[str, object], directory: Path, *, args: tuple[str, ...] = (), **env: str
) -> Iterator[Running]:
    """A gateway process serving ``config`` (as directory/config.yaml) for the block's length.

    The response cache is off unless the config has a ``caching`` block: most tests
    repeat one request and mean the upstream to answer every time. Background
    provider checks are off unless it has a ``health_check`` block: they would
    add upstream calls the tests count.
    """
    config = {"caching": {"enabled": False}, "health_check": {"enabled": False}, **config}
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    running = start_proxyapi(
        ["serve", "--config", str(path), "--port", str(port), *args],
        base_env(**env),
        "/health/ready",
        port,
    )
    try:
        yield running
    finally:
        stop(running.process)


def start_redis(port: int) -> subprocess.Popen[bytes]:
    """A private redis-server on ``port`` (nothing on disk), ready when this returns."""
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return process
        except OSError:
            time.sleep(0.05)
    stop(process)
    raise RuntimeError(f"redis-server did not start on port {port}")
