"""``proxyapi config migrate`` and legacy files at startup, run as an operator runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml
from processes import SIM_KEY, Running, base_env, free_port, start_proxyapi, stop

pytestmark = pytest.mark.integration

FLAT_YAML = b"""\
# The gateway's settings, in the old flat layout.
HOST: 127.0.0.1
port: 8123
api_keys: "key-1,key-2"
rate_limit_requests: 100
providers:
  openai:
    api_key_env: OPENAI_API_KEY
    models: [gpt-4o]
"""
SETTINGS_MODULE = b'''\
"""Production settings."""
import os

HOST = "127.0.0.1"
PORT = 8123
API_KEYS = ["key-1"]
PROVIDERS = {"openai": {"api_key_env": "OPENAI_API_KEY", "models": ["gpt-4o"]}}
'''
LEGACY_SELECTIONS = b'{"openai": "gpt-3.5-turbo"}\n'

# format -> (legacy file, its content, the file that holds the migrated result)
LEGACY_FILES = {
    "yaml": ("config.yaml", FLAT_YAML, "config.yaml"),
    "python": ("production_config.py", SETTINGS_MODULE, "config.yaml"),
    "model_selections": ("config/model_selections.json", LEGACY_SELECTIONS, None),
}
# format -> (legacy file, its corrupt content, the start of the problem line)
CORRUPT_FILES = {
    "yaml": (
        "config.yaml",
        b"port: 8123\nproviders: {openai: [unclosed\n",
        "  line 3, column 1: invalid YAML: ",
    ),
    "python": (
        "production_config.py",
        b'PORT = int(os.getenv("PORT", "8000"))\n',
        "  line 1: PORT = `int(os.getenv('PORT', '8000'))` is not a literal",
    ),
    "model_selections": (
        "config/model_selections.json",
        b'{"openai": "gpt-4o",\n',
        "  line 2, column 1: invalid JSON: ",
    ),
}


def run_cli(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "proxyapi", *args],
        capture_output=True,
        text=True,
        env=base_env(**env),
        cwd=cwd,
        timeout=60,
    )


def files_of(directory: Path) -> dict[str, bytes]:
    """Every file's bytes, the migration history aside."""
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.name != ".migration_history.jsonl"
    }


def history(directory: Path) -> list[dict[str, object]]:
    lines = (directory / "config" / ".migration_history.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def write(directory: Path, name: str, content: bytes) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("name", sorted(LEGACY_FILES))
def test_each_legacy_format_migrates_validates_and_rolls_back_byte_for_byte(
    name: str, tmp_path: Path
) -> None:
    legacy_name, content, config_name = LEGACY_FILES[name]
    write(tmp_path, legacy_name, content)
    before = files_of(tmp_path)

    check = run_cli(tmp_path, "config", "migrate", "--check")
    assert check.returncode == 1, check.stderr
    assert f"{name:<16} legacy" in check.stdout

    migrated = run_cli(tmp_path, "config", "migrate", "--format", name)
    assert migrated.returncode == 0, migrated.stderr
    assert migrated.stdout.startswith(f"✅ {name}: ")
    assert (tmp_path / f"{legacy_name}.legacy").read_bytes() == content
    assert run_cli(tmp_path, "config", "migrate", "--check").returncode == 0

    validated = run_cli(tmp_path, "config", "validate")
    assert validated.returncode == 0, validated.stderr
    assert "legacy" not in validated.stderr
    if config_name is not None:
        assert validated.stdout.startswith(f"✅ Configuration is valid: {tmp_path / config_name}")
        assert yaml.safe_load((tmp_path / config_name).read_text())["server"]["port"] == 8123
    else:
        selections = json.loads((tmp_path / legacy_name).read_bytes())
        assert selections["openai"]["model_name"] == "gpt-3.5-turbo"

    rolled_back = run_cli(tmp_path, "config", "migrate", "--rollback", name)
    assert rolled_back.returncode == 0, rolled_back.stderr
    assert files_of(tmp_path) == before
    assert [(r["action"], r["format"], r["result"]) for r in history(tmp_path)] == [
        ("migrate", name, "ok"),
        ("rollback", name, "ok"),
    ]


@pytest.mark.parametrize("name", sorted(CORRUPT_FILES))
def test_a_corrupt_legacy_file_fails_with_a_clear_error_and_changes_nothing(
    name: str, tmp_path: Path
) -> None:
    legacy_name, content, problem = CORRUPT_FILES[name]
    path = write(tmp_path, legacy_name, content)
    before = files_of(tmp_path)

    result = run_cli(tmp_path, "config", "migrate")

    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[:2] == ["❌ CONFIGURATION ERROR:", f"Configuration validation failed for {path}:"]
    assert lines[2].startswith(problem)  # where the file is broken, and how
    assert lines[-1] == "Nothing was changed."
    assert "Traceback" not in result.stderr
    assert files_of(tmp_path) == before
    [record] = history(tmp_path)
    assert (record["action"], record["format"], record["result"]) == ("migrate", name, "failed")


def test_a_dry_run_prints_the_result_and_writes_nothing(tmp_path: Path) -> None:
    write(tmp_path, "config.yaml", FLAT_YAML)
    result = run_cli(tmp_path, "config", "migrate", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "🔍 yaml: " in result.stdout
    assert "requests_per_window: 100" in result.stdout
    assert files_of(tmp_path) == {"config.yaml": FLAT_YAML}


def test_the_report_shows_states_and_history(tmp_path: Path) -> None:
    write(tmp_path, "config.yaml", FLAT_YAML)
    assert run_cli(tmp_path, "config", "migrate").returncode == 0
    report = run_cli(tmp_path, "config", "migrate", "--report")
    assert report.returncode == 0
    assert "yaml             current config.yaml (backup config.yaml.legacy" in report.stdout
    assert "History (config/.migration_history.jsonl): 1 operation(s)" in report.stdout


def test_options_that_do_not_go_together_are_a_usage_error(tmp_path: Path) -> None:
    assert run_cli(tmp_path, "config", "migrate", "--check", "--report").returncode == 2
    assert run_cli(tmp_path, "config", "migrate", "--rollback", "toml").returncode == 2
    assert not (tmp_path / "config").exists()


def test_serve_runs_a_legacy_flat_yaml_and_says_it_is_deprecated(
    simulator: Running, tmp_path: Path
) -> None:
    port = free_port()
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "port": port,  # the flat key, not --port
                "log_level": "warning",
                "providers": {
                    "sim": {
                        "type": "openai_compatible",
                        "base_url": f"{simulator.url}/v1",
                        "api_key_env": "SIM_KEY",
                        "models": ["gpt-4o-mini"],
                    }
                },
                "caching": {"enabled": False},
                "health_check": {"enabled": False},
            }
        )
    )
    running = start_proxyapi(
        ["serve", "--config", str(config)], base_env(SIM_KEY=SIM_KEY), "/health/ready", port
    )
    try:
        reply = httpx.post(
            running.url + "/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
            timeout=10,
        )
        assert reply.status_code == 200, reply.text
    finally:
        stop(running.process)
    assert f"{config} is a legacy flat configuration (deprecated)" in running.output()
    assert f"proxyapi config migrate --config {config}" in running.output()
    assert not (tmp_path / "config.yaml.legacy").exists()  # nothing written at startup
