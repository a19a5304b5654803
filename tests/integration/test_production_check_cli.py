"""``proxyapi config check [--production] FILE``, run as an operator runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from processes import base_env

from proxyapi.config.env import ENV_PREFIX, EnvOverrides

pytestmark = pytest.mark.integration

CLIENT_KEY = "pxy-client-Zq8c2VrLw1YtK5nB0sPe"
ADMIN_KEY = "pxy-admin-Jf3kT9uQm2XhD7aRc4Lw"
PROVIDER_KEY = "sk-live-4f9d2c7b1a8e6f3d5c0b9a7e"
REDIS_PASSWORD = "r3dis-Pa55-word"
WEBHOOK = "https://hooks.slack.com/services/T0001/B0002/XyZsecretToken"
SECRETS = (CLIENT_KEY, ADMIN_KEY, PROVIDER_KEY, REDIS_PASSWORD, WEBHOOK, "prod-key-1")

PROVIDER = {"name": "openai", "type": "openai", "api_key_env": "OPENAI_API_KEY", "models": ["m"]}
READY: dict[str, Any] = {
    "app": {"environment": "production"},
    "server": {
        "host": "0.0.0.0",
        "workers": 4,
        "trusted_proxies": ["10.0.0.0/8"],
        "cors_origins": ["https://app.example.com"],
    },
    "auth": {"api_keys": [CLIENT_KEY], "admin_keys": [ADMIN_KEY], "required": True},
    "redis": {"enabled": True, "url": f"redis://:{REDIS_PASSWORD}@redis.internal:6379/0"},
    "rate_limit": {"requests_per_window": 1000},
    "metrics": {"prometheus": {"port": 9090}, "alerting": {"webhook_url": WEBHOOK}},
    "providers": [PROVIDER],
}
NOT_READY: dict[str, Any] = {
    "server": {"host": "0.0.0.0", "workers": 4, "cors_origins": ["*"]},
    "auth": {"api_keys": ["prod-key-1", CLIENT_KEY]},
    "metrics": {"alerting": {"webhook_url": WEBHOOK}},
    "providers": [PROVIDER],
}


def clean_env(**extra: str) -> dict[str, str]:
    """base_env without any variable the gateway reads for its settings (they would win)."""
    read = {
        alias.upper()
        for name, field in EnvOverrides.model_fields.items()
        if isinstance(alias := field.validation_alias or ENV_PREFIX + name, str)
    }
    env = {k: v for k, v in base_env().items() if k.upper() not in read}
    env.update(extra)
    return env


def run_check(
    tmp_path: Path, document: dict[str, Any], *options: str, **env: str
) -> subprocess.CompletedProcess[str]:
    file = tmp_path / "config.yaml"
    file.write_text(yaml.safe_dump(document), encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "proxyapi", "config", "check", *options, str(file)],
        capture_output=True,
        text=True,
        env=clean_env(**env),
        cwd=tmp_path,  # no stray .env
        timeout=60,
    )


def test_a_ready_file_passes_with_every_line_green(tmp_path: Path) -> None:
    result = run_check(tmp_path, READY, "--production", OPENAI_API_KEY=PROVIDER_KEY)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert all(line.startswith("✅ ") for line in lines), lines
    assert "✅ auth.api_keys: 1 client key(s)" in lines
    assert "✅ providers[0].api_key_env: openai: OPENAI_API_KEY is set" in lines
    assert lines[-1] == (
        f"✅ Ready for production: 0 error(s), 0 warning(s) in {tmp_path / 'config.yaml'}"
    )
    assert not any(secret in result.stdout + result.stderr for secret in SECRETS)


def test_a_file_that_is_not_ready_lists_each_error_and_exits_1(tmp_path: Path) -> None:
    result = run_check(tmp_path, NOT_READY, "--production")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    starts = [
        "❌ auth.api_keys[0]: key ",
        "❌ server.ssl_certfile: plain HTTP on 0.0.0.0:",
        "❌ server.cors_origins: contains '*':",
        "❌ redis.enabled: is false with server.workers 4:",
        "❌ providers[0].api_key_env: openai: OPENAI_API_KEY is not set",
        "⚠️  app.environment: is 'development':",
        "⚠️  logging.format: is text:",
    ]
    for start in starts:
        assert any(line.startswith(start) for line in lines), start
    assert lines[-1].startswith("❌ Not ready for production: 5 error(s), ")
    assert not any(secret in result.stdout + result.stderr for secret in SECRETS)


def test_without_production_it_only_validates(tmp_path: Path) -> None:
    result = run_check(tmp_path, NOT_READY)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"✅ Configuration is valid: {tmp_path / 'config.yaml'} (1 providers)"
    ]


def test_an_invalid_file_is_reported_as_by_validate(tmp_path: Path) -> None:
    result = run_check(tmp_path, {"providers": [{**PROVIDER, "type": "nope"}]}, "--production")
    assert result.returncode == 1
    assert result.stderr.startswith("❌ CONFIGURATION ERROR:")
    assert result.stdout == ""
