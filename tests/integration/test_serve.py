"""``proxyapi serve`` and ``proxyapi config``: as an operator runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml
from processes import Running, base_env, free_port, sim_provider, start_proxyapi, stop

pytestmark = pytest.mark.integration


def run_cli(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "proxyapi", *args],
        capture_output=True,
        text=True,
        env=base_env(**env),
        cwd=cwd,
        timeout=60,
    )


def test_an_invalid_config_stops_startup_with_the_seed_report_and_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "config.yaml"
    bad.write_text(
        yaml.safe_dump(
            {
                "providers": [
                    {
                        "name": "a",
                        "type": "invalid_provider",
                        "api_key_env": "A_KEY",
                        "models": ["m"],
                    },
                    {"name": "a", "type": "openai", "api_key_env": "A_KEY", "models": ["m"]},
                ]
            }
        )
    )
    result = run_cli("serve", "--config", str(bad), "--port", str(free_port()))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] == "❌ CONFIGURATION ERROR:"
    assert lines[1] == f"Configuration validation failed for {bad}:"
    assert any(
        line.startswith("  providers[0].type: 'invalid_provider' is not one of [") for line in lines
    )
    assert "  providers[1].name: Provider names must be unique" in lines
    assert lines[-1] == "🔧 Please fix the configuration file and restart the application."
    assert "Traceback" not in result.stderr


def test_a_malformed_environment_value_names_the_variable(tmp_path: Path) -> None:
    result = run_cli("config", "validate", cwd=tmp_path, PROXY_API_PORT="abc")
    assert result.returncode == 1
    assert "PROXY_API_PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_validate_accepts_a_good_file_and_warns_on_unknown_keys(tmp_path: Path) -> None:
    good = tmp_path / "config.yaml"
    good.write_text(
        yaml.safe_dump(
            {
                "providers": [
                    {
                        "name": "o",
                        "type": "openai",
                        "api_key_env": "O_KEY",
                        "models": ["m"],
                        "timout": 3,
                    }
                ]
            }
        )
    )
    result = run_cli("config", "validate", str(good))
    assert result.returncode == 0, result.stderr
    assert "providers[0].timout" in result.stderr


def test_config_schema_prints_a_2020_12_json_schema() -> None:
    import json

    from jsonschema import Draft202012Validator

    result = run_cli("config", "schema")
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_environment_overrides_the_file_port(simulator: Running, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "server": {"port": free_port()},
                "providers": [sim_provider("sim", simulator.url, ["gpt-4o-mini"], 1)],
            }
        )
    )
    port = free_port()
    running = start_proxyapi(
        ["serve"],
        base_env(PROXY_API_CONFIG_FILE=str(config), PROXY_API_PORT=str(port), SIM_KEY="k"),
        "/health/ready",
        port,
    )
    try:
        reply = httpx.post(
            running.url + "/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert reply.status_code == 200
    finally:
        stop(running.process)


def test_two_workers_serve_the_same_configuration(simulator: Running, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump({"providers": [sim_provider("sim", simulator.url, ["gpt-4o-mini"], 1)]})
    )
    port = free_port()
    running = start_proxyapi(
        ["serve", "--config", str(config), "--port", str(port), "--workers", "2"],
        base_env(SIM_KEY="k"),
        "/health/ready",
        port,
    )
    try:
        for _ in range(4):
            reply = httpx.post(
                running.url + "/v1/chat/completions",
                json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
            )
            assert reply.status_code == 200
    finally:
        stop(running.process)


def test_sigterm_lets_an_in_flight_request_finish(simulator: Running, tmp_path: Path) -> None:
    import threading
    import time

    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "providers": [
                    sim_provider(
                        "sim",
                        simulator.url,
                        ["gpt-4o-mini"],
                        1,
                        headers={"x-sim-latency-ms": "1000"},
                    )
                ]
            }
        )
    )
    port = free_port()
    running = start_proxyapi(
        ["serve", "--config", str(config), "--port", str(port)],
        base_env(SIM_KEY="k"),
        "/health/ready",
        port,
    )
    result: dict[str, int] = {}

    def call() -> None:
        reply = httpx.post(
            running.url + "/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
            timeout=10,
        )
        result["status"] = reply.status_code

    thread = threading.Thread(target=call)
    thread.start()
    time.sleep(0.3)
    running.process.terminate()
    thread.join(timeout=10)
    running.process.wait(timeout=10)
    assert result.get("status") == 200
