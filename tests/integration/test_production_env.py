"""The unprefixed production variables: ENVIRONMENT, CORS_ORIGINS, SSL_CERTFILE/SSL_KEYFILE."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import yaml
from processes import Running, base_env, free_port, sim_provider, start_proxyapi, stop

pytestmark = pytest.mark.integration


def self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture(scope="module")
def production(simulator: Running, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    directory = tmp_path_factory.mktemp("production")
    cert, key = self_signed(directory)
    config = directory / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "providers": [
                    sim_provider("sim", simulator.url, ["gpt-4o-mini"], 1),
                    {
                        "name": "gone",
                        "type": "openai",
                        "api_key_env": "UNSET_FOR_TEST_KEY",
                        "models": ["x"],
                        "priority": 2,
                    },
                ]
            }
        )
    )
    port = free_port()
    env = base_env(
        SIM_KEY="k",
        ENVIRONMENT="production",
        CORS_ORIGINS="https://app.example.com,https://admin.example.com",
        SSL_CERTFILE=str(cert),
        SSL_KEYFILE=str(key),
        PROXY_API_LOG_LEVEL="INFO",
    )
    running = start_proxyapi(
        ["serve", "--config", str(config), "--port", str(port)], env, "/health/live", port, "https"
    )
    yield running
    stop(running.process)


def test_tls_is_served_directly(production: Running) -> None:
    assert production.url.startswith("https://")
    response = httpx.post(
        production.url + "/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        verify=False,
    )
    assert response.status_code == 200


def test_cors_allows_the_configured_origins_only(production: Running) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,authorization",
    }
    allowed = httpx.options(
        production.url + "/v1/chat/completions",
        headers={"Origin": "https://app.example.com", **preflight},
        verify=False,
    )
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    refused = httpx.options(
        production.url + "/v1/chat/completions",
        headers={"Origin": "https://evil.example.com", **preflight},
        verify=False,
    )
    assert "access-control-allow-origin" not in refused.headers


def test_production_logs_are_json_lines(production: Running) -> None:
    lines = [line for line in production.output().splitlines() if "skipped" in line]
    assert lines, production.output()
    record = orjson.loads(lines[0])
    assert record["level"] == "WARNING" and "gone" in record["message"]
