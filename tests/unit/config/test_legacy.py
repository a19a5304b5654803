"""Seed 004's legacy formats: conversion, startup loading, migration, rollback, history."""

from __future__ import annotations

import json
import os
import re
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml

import proxyapi.config
import proxyapi.config.legacy
from proxyapi.config import (
    check_legacy_presence,
    get_migration_report,
    get_migration_status,
    load_config,
    load_config_with_legacy_support,
    migrate_specific_format,
    rollback_format,
)
from proxyapi.config.env import EnvOverrides
from proxyapi.config.legacy import (
    FLAT_KEYS,
    describe_destination,
    describe_migration,
    describe_rollback,
    migrate_legacy_formats,
    migration as migration_module,
)
from proxyapi.config.legacy.flat import convert_flat_document, is_flat_document
from proxyapi.config.legacy.model_selections import convert_selections, parse_selections_file
from proxyapi.config.legacy.python_module import find_settings_module, read_settings_module
from proxyapi.errors import ConfigError
from proxyapi.keys import KeyDigest

README = Path(__file__).resolve().parents[3] / "README.md"

PROVIDERS_MAPPING = {"openai": {"api_key_env": "OPENAI_API_KEY", "models": ["gpt-4o"]}}
FLAT_YAML = """\
HOST: 0.0.0.0
port: 9000
api_keys: "k1,k2"
rate_limit_requests: 100
providers:
  openai:
    api_key_env: OPENAI_API_KEY
    models: [gpt-4o]
  local:
    type: openai_compatible
    base_url: http://127.0.0.1:8001/v1
    models: [llama]
"""
SETTINGS_MODULE = '''\
"""Old settings."""
import os

HOST = "127.0.0.1"
PORT: int = 8123
API_KEYS = ("key-1",)
PROVIDERS = {"openai": {"api_key_env": "OPENAI_API_KEY", "models": ["gpt-4o"]}}
_BASE = os.getcwd()


def check():
    return 1


if __name__ == "__main__":
    print(check())
'''
LEGACY_SELECTIONS = b'{"openai": "gpt-3.5-turbo", "anthropic": "claude-3-haiku"}\n'


def convert(document: dict[str, Any]) -> dict[str, Any]:
    return convert_flat_document(document, "legacy.yaml")


def problems_of(document: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        convert(document)
    return caught.value.problems


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file's bytes, the migration history aside."""
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.name != ".migration_history.jsonl"
    }


def history(directory: Path) -> list[dict[str, Any]]:
    path = directory / "config" / ".migration_history.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


# The flat layout.


def _sample(key: str) -> Any:
    """A valid value for each flat key, by its variable's type."""
    samples: dict[str, Any] = {
        "host": "0.0.0.0",
        "api_key_header": "X-Key",
        "api_keys": ["k1", "k2"],
        "proxy_api_keys": ["k1", "k2"],
        "admin_keys": ["admin-1"],
        "cors_origins": ["https://a.example"],
        "trusted_proxies": ["10.0.0.0/8"],
        "log_file": "/tmp/proxyapi.log",
        "log_level": "info",
        "environment": "staging",
        "redis_url": "redis://127.0.0.1:6379/0",
        "alert_webhook_url": "https://hooks.example/x",
        "otel_exporter_otlp_endpoint": "http://127.0.0.1:4317",
        "otel_service_name": "gateway",
        "ssl_certfile": "/tmp/cert.pem",
        "ssl_keyfile": "/tmp/key.pem",
    }
    if key in samples:
        return samples[key]
    annotation = EnvOverrides.model_fields[FLAT_KEYS[key].field].annotation
    text = str(typing.get_args(annotation) or annotation)
    return True if "bool" in text else 2.5 if "float" in text else 7


def _as_variable(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return ",".join(value) if isinstance(value, list) else str(value)


# Settings that are only valid with a partner.
_PARTNERS: dict[str, dict[str, Any]] = {
    "ssl_certfile": {"ssl_keyfile": "/tmp/key.pem"},
    "ssl_keyfile": {"ssl_certfile": "/tmp/cert.pem"},
    "api_keys_required": {"api_keys": ["k1"]},
}


@pytest.mark.parametrize("key", sorted(FLAT_KEYS))
def test_each_flat_key_lands_where_its_variable_does(key: str, tmp_path: Path) -> None:
    settings = {key: _sample(key), **_PARTNERS.get(key, {})}
    flat = tmp_path / "flat.yaml"
    flat.write_text(yaml.safe_dump({**settings, "providers": PROVIDERS_MAPPING}))
    current = tmp_path / "current.yaml"
    provider = {"name": "openai", "type": "openai", **PROVIDERS_MAPPING["openai"]}
    current.write_text(yaml.safe_dump({"providers": [provider]}))
    environ = {FLAT_KEYS[k].variable: _as_variable(v) for k, v in settings.items()}

    from_flat = load_config(flat, environ={}, cwd=tmp_path).config
    from_env = load_config(current, environ=environ, cwd=tmp_path).config

    assert from_flat.model_dump() == from_env.model_dump()


def test_flat_keys_are_the_documented_variables_without_their_prefix() -> None:
    assert FLAT_KEYS["rate_limit_requests"].variable == "PROXY_API_RATE_LIMIT_REQUESTS"
    assert FLAT_KEYS["api_keys"].variable == "PROXY_API_PROXY_API_KEYS"
    assert FLAT_KEYS["workers"].variable == "WORKERS"
    assert FLAT_KEYS["log_level"].variable == "PROXY_API_LOG_LEVEL"
    assert "config_file" not in FLAT_KEYS


@pytest.mark.parametrize(
    ("document", "is_flat"),
    [
        ({"host": "x"}, True),
        ({"PORT": 1}, True),
        ({"providers": {"openai": {}}}, True),
        ({"providers": [], "server": {"port": 1}}, False),
        ({"logging": {"level": "INFO"}}, False),
        ({}, False),
    ],
)
def test_a_flat_document_is_recognised_by_a_flat_key_or_a_providers_mapping(
    document: dict[str, Any], is_flat: bool
) -> None:
    assert is_flat_document(document) is is_flat


def test_providers_mapping_becomes_the_list_with_names_and_default_types() -> None:
    tree = convert({"providers": {**PROVIDERS_MAPPING, "vllm": {"type": "openai_compatible"}}})
    assert tree["providers"] == [
        {"name": "openai", "type": "openai", "api_key_env": "OPENAI_API_KEY", "models": ["gpt-4o"]},
        {"name": "vllm", "type": "openai_compatible"},
    ]


def test_keys_in_either_case_and_blocks_are_kept_in_the_schema_order() -> None:
    tree = convert(
        {"LOGGING": {"level": "INFO"}, "Port": 9000, "providers": PROVIDERS_MAPPING, "x": 1}
    )
    assert list(tree) == ["server", "providers", "logging", "x"]
    assert tree["server"] == {"port": 9000}


def test_special_keys_convert_as_their_variables_do() -> None:
    tree = convert({"log_json_format": False, "log_max_size": 2, "redis_url": "redis://r:1"})
    assert tree["logging"] == {"format": "text", "max_file_size": 2 * 1024**2}
    assert tree["redis"] == {"url": "redis://r:1", "enabled": True}


def test_a_reference_in_a_number_key_is_kept_for_load_time(tmp_path: Path) -> None:
    assert convert({"port": "${PORT}"})["server"] == {"port": "${PORT}"}
    (tmp_path / "config.yaml").write_text(
        yaml.safe_dump({"port": "${PORT:-8001}", "providers": PROVIDERS_MAPPING})
    )
    loaded = load_config(environ={"PORT": "9123"}, cwd=tmp_path)
    assert loaded.config.server.port == 9123


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"port": "abc"}, "port: 'abc' is not a valid integer"),
        ({"HOST": "a", "host": "b"}, "host: the same setting as 'HOST'; keep one"),
        ({"api_keys": ["a"], "proxy_api_keys": ["b"]}, "proxy_api_keys: the same setting as"),
        ({"host": "a", "server": {"host": "b"}}, "host: also set as server.host; keep one"),
        ({"providers": "openai"}, "providers: 'openai' is not a mapping of provider name"),
        ({"providers": {"openai": None}}, "providers.openai: None is not a mapping of provider"),
        ({"providers": {"a": {"name": "b"}}}, "providers.a.name: 'b' differs from the key"),
        ({"host": {"a": 1}}, "host: {'a': 1} is not a single value or a list"),
    ],
)
def test_a_bad_flat_document_is_refused_naming_the_key(
    document: dict[str, Any], problem: str
) -> None:
    assert any(line.startswith(problem) for line in problems_of(document)), problems_of(document)


def test_every_problem_is_reported_at_once() -> None:
    assert len(problems_of({"port": "abc", "workers": "many", "providers": "x"})) == 3


# The Python settings module.


def test_a_settings_module_is_read_as_a_flat_document_without_running_it(tmp_path: Path) -> None:
    module = tmp_path / "production_config.py"
    module.write_text(SETTINGS_MODULE)
    assert read_settings_module(module) == {
        "HOST": "127.0.0.1",
        "PORT": 8123,
        "API_KEYS": ["key-1"],
        "PROVIDERS": PROVIDERS_MAPPING,
    }


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("PORT = int('8000')\n", "line 1: PORT = `int('8000')` is not a literal"),
        ("HOST = 'a'\nprint(HOST)\n", "line 2: `print(HOST)` would have to run"),
        ("A, B = 1, 2\n", "line 1: `A, B = (1, 2)` would have to run"),
        ("X = {1, 2}\n", "line 1: X: set values are not supported"),
        ("PORT = (\n", "line 1, column 8: invalid Python: '(' was never closed"),
    ],
)
def test_anything_but_a_literal_is_refused_with_its_line(
    source: str, problem: str, tmp_path: Path
) -> None:
    module = tmp_path / "settings.py"
    module.write_text(source)
    with pytest.raises(ConfigError) as caught:
        read_settings_module(module)
    assert caught.value.source == str(module)
    assert caught.value.problems[0].startswith(problem), caught.value.problems


def test_the_settings_module_is_found_by_name_and_by_its_settings(tmp_path: Path) -> None:
    assert find_settings_module(tmp_path) is None
    (tmp_path / "settings.py").write_text("INSTALLED = ['x']\n")
    assert find_settings_module(tmp_path) is None  # no ProxyAPI setting: someone else's
    (tmp_path / "settings.py").write_text("PORT = 1\n")
    assert find_settings_module(tmp_path) == tmp_path / "settings.py"
    (tmp_path / "production_config.py").write_text("PORT = (\n")  # broken: reported, not skipped
    assert find_settings_module(tmp_path) == tmp_path / "production_config.py"


# The model selections file.


def test_legacy_selections_become_entries_and_current_ones_stay() -> None:
    selections = {"openai": "gpt-4o", "anthropic": {"model_name": "claude", "editable": False}}
    assert convert_selections(selections, "s.json", "2025-09-12T03:54:29+00:00") == {
        "openai": {
            "model_name": "gpt-4o",
            "editable": True,
            "last_updated": "2025-09-12T03:54:29+00:00",
        },
        "anthropic": {"model_name": "claude", "editable": False},
    }


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b'{"openai": ', "line 1, column 12: invalid JSON:"),
        (b'["gpt-4o"]', "(root): ['gpt-4o'] is not an object of provider -> selection"),
        (b'{"openai": 3}', "openai: 3 is not a model name or a selection object"),
        (b'{"openai": ""}', "openai.model_name: '' is not a model name"),
    ],
)
def test_corrupt_selections_are_refused(data: bytes, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        convert_selections(parse_selections_file(data, "s.json"), "s.json", "now")
    assert caught.value.problems[0].startswith(problem), caught.value.problems


# Startup: the loader reads legacy files through the migration.


def test_a_flat_config_yaml_loads_with_a_deprecation_warning(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(FLAT_YAML)
    loaded = load_config(environ={}, cwd=tmp_path)
    assert (loaded.config.server.host, loaded.config.server.port) == ("0.0.0.0", 9000)
    assert loaded.config.auth.api_keys == [KeyDigest.of("k1"), KeyDigest.of("k2")]
    assert [p.name for p in loaded.config.providers] == ["openai", "local"]
    [warning] = loaded.warnings
    assert warning.startswith(f"{tmp_path / 'config.yaml'} is a legacy flat configuration")
    assert "`proxyapi config migrate --config" in warning
    assert not (tmp_path / "config.yaml.legacy").exists()  # nothing written at startup


def test_environment_variables_still_win_over_a_flat_file(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(FLAT_YAML)
    loaded = load_config(environ={"PROXY_API_PORT": "9999"}, cwd=tmp_path)
    assert loaded.config.server.port == 9999


def test_a_settings_module_is_used_only_when_there_is_no_config_file(tmp_path: Path) -> None:
    (tmp_path / "production_config.py").write_text(SETTINGS_MODULE)
    loaded = load_config(environ={}, cwd=tmp_path)
    assert loaded.source == str(tmp_path / "production_config.py")
    assert loaded.config.server.port == 8123
    assert "legacy Python settings module (deprecated)" in loaded.warnings[0]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"providers": []}))
    assert load_config(environ={}, cwd=tmp_path).source == str(tmp_path / "config.yaml")


def test_an_explicit_settings_module_is_read_too(tmp_path: Path) -> None:
    (tmp_path / "old.py").write_text(SETTINGS_MODULE)
    loaded = load_config("old.py", environ={}, cwd=tmp_path)
    assert loaded.config.server.host == "127.0.0.1"


def test_a_broken_settings_module_stops_startup_naming_the_line(tmp_path: Path) -> None:
    (tmp_path / "production_config.py").write_text("PORT = int('1')\n")
    with pytest.raises(ConfigError) as caught:
        load_config(environ={}, cwd=tmp_path)
    assert caught.value.problems[0].startswith("line 1: PORT")


def test_legacy_selections_are_only_reported_at_startup(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    selections = tmp_path / "config" / "model_selections.json"
    selections.write_bytes(LEGACY_SELECTIONS)
    [warning] = load_config(environ={}, cwd=tmp_path).warnings
    assert warning.startswith(f"{selections} holds legacy model selections")
    assert "--format model_selections" in warning
    selections.write_text('{"openai": {"model_name": "gpt-4o"}}')
    assert load_config(environ={}, cwd=tmp_path).warnings == []
    selections.write_text("{not json")  # the selections store reports its own read errors
    assert load_config(environ={}, cwd=tmp_path).warnings == []


def test_load_config_with_legacy_support_is_the_loader(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(FLAT_YAML)
    assert load_config_with_legacy_support(environ={}, cwd=tmp_path) == load_config(
        environ={}, cwd=tmp_path
    )


# Migration and rollback.


@pytest.fixture
def legacy_dir(tmp_path: Path) -> Path:
    """A working directory with a flat config.yaml and legacy selections."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "model_selections.json").write_bytes(LEGACY_SELECTIONS)
    (tmp_path / "config.yaml").write_text(FLAT_YAML)
    return tmp_path


def test_migrating_the_flat_yaml_keeps_the_original_and_writes_a_valid_file(
    legacy_dir: Path,
) -> None:
    original = (legacy_dir / "config.yaml").read_bytes()
    result = migrate_specific_format("yaml", legacy_dir, environ={})
    assert (legacy_dir / "config.yaml.legacy").read_bytes() == original
    assert (legacy_dir / "config.yaml").read_bytes() == result.content
    migrated = load_config(environ={}, cwd=legacy_dir)
    assert migrated.config.server.port == 9000
    assert not any("legacy flat" in warning for warning in migrated.warnings)
    assert yaml.safe_load(result.content)["providers"][0]["name"] == "openai"


def test_migrating_selections_rewrites_every_entry(legacy_dir: Path) -> None:
    migrate_specific_format("model_selections", legacy_dir, environ={})
    data = json.loads((legacy_dir / "config" / "model_selections.json").read_bytes())
    assert data["openai"]["model_name"] == "gpt-3.5-turbo"
    assert data["openai"]["editable"] is True
    assert data["anthropic"]["last_updated"] == data["openai"]["last_updated"]


def test_migrating_a_settings_module_writes_config_yaml_beside_it(tmp_path: Path) -> None:
    module = tmp_path / "production_config.py"
    module.write_text(SETTINGS_MODULE)
    result = migrate_specific_format("python", tmp_path, environ={})
    assert result.target == tmp_path / "config.yaml"
    assert not module.exists()
    assert (tmp_path / "production_config.py.legacy").read_text() == SETTINGS_MODULE
    assert load_config(environ={}, cwd=tmp_path).config.server.port == 8123


@pytest.mark.parametrize("name", ["model_selections", "yaml", "python"])
def test_a_rollback_restores_the_original_byte_for_byte(name: str, legacy_dir: Path) -> None:
    (legacy_dir / "config.yaml").unlink()  # the Python module is read only without one
    (legacy_dir / "production_config.py").write_text(SETTINGS_MODULE)
    if name == "yaml":
        (legacy_dir / "config.yaml").write_text(FLAT_YAML)
    before = snapshot(legacy_dir)
    migrate_specific_format(name, legacy_dir, environ={})
    assert snapshot(legacy_dir) != before
    restored = rollback_format(name, legacy_dir, environ={})
    assert snapshot(legacy_dir) == before
    assert restored.removed == (legacy_dir / "config.yaml" if name == "python" else None)
    assert [(r["action"], r["result"]) for r in history(legacy_dir)] == [
        ("migrate", "ok"),
        ("rollback", "ok"),
    ]


def test_a_dry_run_writes_nothing_but_its_history_line(legacy_dir: Path) -> None:
    before = snapshot(legacy_dir)
    result = migrate_specific_format("yaml", legacy_dir, dry_run=True, environ={})
    assert result.dry_run
    assert b"requests_per_window: 100" in result.content
    assert snapshot(legacy_dir) == before
    assert history(legacy_dir)[0]["action"] == "dry-run"


@pytest.mark.parametrize(
    ("name", "file", "corrupt"),
    [
        ("yaml", "config.yaml", b"host: [unclosed\n"),
        ("yaml", "config.yaml", b"port: abc\nproviders: {}\n"),
        ("yaml", "config.yaml", b"host: 0.0.0.0\n"),  # converts, but has no providers
        ("model_selections", "config/model_selections.json", b'{"openai": "gpt-4o",'),
        ("python", "settings.py", b"PORT = int('8000')\n"),
    ],
)
def test_a_corrupt_legacy_file_fails_clearly_and_changes_nothing(
    name: str, file: str, corrupt: bytes, legacy_dir: Path
) -> None:
    if name == "python":
        (legacy_dir / "config.yaml").unlink()
    (legacy_dir / file).write_bytes(corrupt)
    before = snapshot(legacy_dir)
    with pytest.raises(ConfigError) as caught:
        migrate_specific_format(name, legacy_dir, environ={})
    assert caught.value.problems
    assert snapshot(legacy_dir) == before
    [record] = history(legacy_dir)
    assert (record["action"], record["result"]) == ("migrate", "failed")
    assert record["error"] == "; ".join(caught.value.problems)


def test_a_failed_write_is_undone(legacy_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(path: Path, data: bytes) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(migration_module, "_write_atomically", refuse)
    before = snapshot(legacy_dir)
    with pytest.raises(ConfigError, match="Configuration validation failed") as caught:
        migrate_specific_format("yaml", legacy_dir, environ={})
    written = legacy_dir / "config.yaml"
    assert caught.value.problems == [f"{written}: cannot be written: Permission denied"]
    assert snapshot(legacy_dir) == before


def test_without_hard_links_the_original_is_copied(
    legacy_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(source: Path, target: Path) -> None:
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(migration_module.os, "link", no_links)
    original = (legacy_dir / "config.yaml").read_bytes()
    migrate_specific_format("yaml", legacy_dir, environ={})
    assert (legacy_dir / "config.yaml.legacy").read_bytes() == original
    assert sorted(p.name for p in legacy_dir.iterdir()) == [
        "config",
        "config.yaml",
        "config.yaml.legacy",
    ]


def test_migrating_everything_is_all_or_nothing(
    legacy_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = migration_module._write_atomically

    def fail_on_config(path: Path, data: bytes) -> None:
        if path.name == "config.yaml":
            raise OSError(28, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(migration_module, "_write_atomically", fail_on_config)
    before = snapshot(legacy_dir)
    with pytest.raises(ConfigError):
        migrate_legacy_formats(legacy_dir, environ={})
    assert snapshot(legacy_dir) == before  # the selections, migrated first, were rolled back
    assert [(r["action"], r["format"], r["result"]) for r in history(legacy_dir)] == [
        ("migrate", "model_selections", "ok"),
        ("migrate", "yaml", "failed"),
        ("rollback", "model_selections", "ok"),
    ]


def test_migrating_everything_validates_all_before_writing_any(legacy_dir: Path) -> None:
    (legacy_dir / "config.yaml").write_text("port: abc\n")
    before = snapshot(legacy_dir)
    with pytest.raises(ConfigError, match="Configuration validation failed"):
        migrate_legacy_formats(legacy_dir, environ={})
    assert snapshot(legacy_dir) == before


def test_migrating_everything_migrates_each_legacy_format(legacy_dir: Path) -> None:
    done = migrate_legacy_formats(legacy_dir, environ={})
    assert [m.format for m in done] == ["model_selections", "yaml"]
    assert migrate_legacy_formats(legacy_dir, environ={}) == []


@pytest.mark.parametrize(
    ("setup", "name", "problem"),
    [
        (lambda d: None, "python", "no legacy Python settings module found (looked for"),
        (
            lambda d: (d / "config.yaml").write_text("providers: []\n"),
            "yaml",
            "is already in the current format",
        ),
        (
            lambda d: (d / "config.yaml.legacy").write_text("old"),
            "yaml",
            "config.yaml.legacy already exists (an earlier migration)",
        ),
        (
            lambda d: (d / "settings.py").write_text("PORT = 1\n"),
            "python",
            "no legacy Python settings module found",  # config.yaml is read instead
        ),
        (lambda d: None, "toml", "'toml' is not a legacy format"),
    ],
)
def test_a_migration_that_cannot_be_done_says_why(
    setup: Any, name: str, problem: str, legacy_dir: Path
) -> None:
    setup(legacy_dir)
    before = snapshot(legacy_dir)
    with pytest.raises(ConfigError) as caught:
        migrate_specific_format(name, legacy_dir, environ={})
    assert problem in caught.value.problems[0]
    assert snapshot(legacy_dir) == before


def test_an_explicit_settings_module_is_not_migrated_over_a_config_yaml(
    legacy_dir: Path,
) -> None:
    (legacy_dir / "settings.py").write_text("PORT = 1\n")
    with pytest.raises(ConfigError) as caught:
        migrate_specific_format("python", legacy_dir, environ={}, config_file="settings.py")
    existing = legacy_dir / "config.yaml"
    assert caught.value.problems == [
        f"{existing} already exists and is read instead of settings.py: merge the two by hand"
    ]


def test_a_rollback_without_a_backup_fails_and_is_recorded(legacy_dir: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        rollback_format("yaml", legacy_dir, environ={})
    assert caught.value.problems[0].startswith("no legacy flat YAML configuration backup")
    assert history(legacy_dir)[0]["result"] == "failed"


def test_paths_and_the_history_directory_are_parameters(tmp_path: Path) -> None:
    (tmp_path / "picks.json").write_bytes(LEGACY_SELECTIONS)
    migrate_specific_format(
        "model_selections",
        tmp_path,
        environ={},
        selections_file="picks.json",
        history_dir="logs",
    )
    assert (tmp_path / "picks.json.legacy").read_bytes() == LEGACY_SELECTIONS
    assert (tmp_path / "logs" / ".migration_history.jsonl").is_file()


def test_the_config_file_variable_points_at_the_flat_file(tmp_path: Path) -> None:
    (tmp_path / "gateway.yaml").write_text(FLAT_YAML)
    environ = {"PROXY_API_CONFIG_FILE": "gateway.yaml"}
    assert check_legacy_presence(tmp_path, environ=environ)["yaml"].state == "legacy"
    assert migrate_specific_format("yaml", tmp_path, environ=environ).target == (
        tmp_path / "gateway.yaml"
    )


# Presence, status and report.


def test_presence_tells_each_format_state_and_backup(legacy_dir: Path) -> None:
    (legacy_dir / "settings.py").write_text("PORT = [\n")
    found = check_legacy_presence(legacy_dir, environ={})
    assert {name: p.state for name, p in found.items()} == {
        "model_selections": "legacy",
        "yaml": "legacy",
        "python": "absent",  # config.yaml is read, not the module
    }
    migrate_specific_format("yaml", legacy_dir, environ={})
    after = check_legacy_presence(legacy_dir, environ={})["yaml"]
    assert (after.state, after.backup) == ("current", legacy_dir / "config.yaml.legacy")
    (legacy_dir / "config.yaml").unlink()
    module = check_legacy_presence(legacy_dir, environ={})["python"]
    assert (module.state, module.path) == ("invalid", legacy_dir / "settings.py")
    assert module.problem is not None and "invalid Python" in module.problem


def test_the_status_has_seed_004s_keys(legacy_dir: Path) -> None:
    status = get_migration_status(legacy_dir, environ={})
    assert status["migration_enabled"] is True
    assert status["legacy_formats_detected"] == ["model_selections", "yaml"]
    assert status["migration_needed"] is True
    assert status["formats"]["python"]["state"] == "absent"
    assert (status["operations"], status["last_operation"]) == (0, None)
    migrate_legacy_formats(legacy_dir, environ={})
    status = get_migration_status(legacy_dir, environ={})
    assert (status["migration_needed"], status["operations"]) == (False, 2)
    assert status["last_operation"] is not None
    assert status["last_operation"]["format"] == "yaml"


def test_the_report_lists_states_and_history(legacy_dir: Path) -> None:
    migrate_specific_format("yaml", legacy_dir, environ={})
    with (legacy_dir / "config" / ".migration_history.jsonl").open("a") as sink:
        sink.write("not json\n")
    report = get_migration_report(legacy_dir, environ={})
    lines = report.splitlines()
    assert lines[0] == f"Legacy configuration in {legacy_dir}:"
    assert lines[1].startswith("  model_selections legacy  config/model_selections.json")
    assert "(backup config.yaml.legacy: `proxyapi config migrate --rollback yaml`" in lines[2]
    assert lines[4] == "Migration needed: yes (model_selections)"
    assert lines[5] == "History (config/.migration_history.jsonl): 1 operation(s)"
    assert re.match(r"  \S+  migrate  yaml +ok +config\.yaml, config\.yaml\.legacy$", lines[6])


def test_the_migration_is_validated_with_the_dot_env_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROXY_API_CONFIG_FILE", raising=False)
    monkeypatch.delenv("LEGACY_TEST_PORT", raising=False)
    (tmp_path / "config.yaml").write_text(
        yaml.safe_dump({"port": "${LEGACY_TEST_PORT}", "providers": PROVIDERS_MAPPING})
    )
    with pytest.raises(ConfigError) as caught:
        migrate_specific_format("yaml", tmp_path, dry_run=True)
    assert caught.value.problems == ["server.port: '' is not of type 'integer'"]
    (tmp_path / ".env").write_text("LEGACY_TEST_PORT=9005\n")
    assert migrate_specific_format("yaml", tmp_path).warnings == []


def test_migrations_and_rollbacks_are_described_with_the_way_back(tmp_path: Path) -> None:
    (tmp_path / "settings.py").write_text(SETTINGS_MODULE)
    dry = migrate_specific_format("python", tmp_path, environ={}, dry_run=True)
    assert describe_migration(dry) == (
        f"python: {tmp_path / 'config.yaml'} would be written from {tmp_path / 'settings.py'}; "
        f"the original would be kept as {tmp_path / 'settings.py.legacy'} "
        "(`proxyapi config migrate --rollback python` restores it)"
    )
    migrate_specific_format("python", tmp_path, environ={})
    assert describe_rollback(rollback_format("python", tmp_path, environ={})) == (
        f"python: {tmp_path / 'settings.py'} restored from its .legacy backup; "
        f"{tmp_path / 'config.yaml'} removed"
    )


# Documentation and public names.


def test_the_readme_documents_every_flat_key_where_it_goes() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Legacy configuration", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z_]+)` \| `([A-Z_]+)` \| (.+) \|$", section, re.M)
    expected = [(key, flat.variable, describe_destination(flat)) for key, flat in FLAT_KEYS.items()]
    assert rows == expected


def test_seed_004s_functions_are_exported() -> None:
    seed_names = {
        "check_legacy_presence",
        "migrate_specific_format",
        "rollback_format",
        "get_migration_report",
        "get_migration_status",
        "load_config_with_legacy_support",
    }
    assert seed_names <= set(proxyapi.config.__all__)
    assert seed_names <= set(proxyapi.config.legacy.__all__)
    assert all(callable(getattr(proxyapi.config, name)) for name in seed_names)


def test_nothing_is_run_when_a_settings_module_is_read(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    module = tmp_path / "settings.py"
    module.write_text(f"open({str(marker)!r}, 'w')\nPORT = 1\n")
    with pytest.raises(ConfigError):
        read_settings_module(module)
    assert not marker.exists()
    assert os.listdir(tmp_path) == ["settings.py"]
