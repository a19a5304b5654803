"""Which file is used, how files are parsed, and what happens when none exists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from config_helpers import MINIMAL, Load

from proxyapi.config import load_config, loader
from proxyapi.errors import ConfigError


def _provider_names(path: Path) -> list[str]:
    return [p.name for p in load_config(environ={}, cwd=path).config.providers]


def _write(path: Path, name: str) -> Path:
    text = MINIMAL.replace("name: openai", f"name: {name}")
    path.write_text(text, encoding="utf-8")
    return path


def test_config_yaml_in_cwd_is_used_first(tmp_path: Path) -> None:
    _write(tmp_path / "config.yaml", "from-yaml")
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    loaded = load_config(environ={}, cwd=tmp_path)
    assert [p.name for p in loaded.config.providers] == ["from-yaml"]
    assert loaded.source == str(tmp_path / "config.yaml")


def test_config_json_is_used_when_there_is_no_yaml(tmp_path: Path) -> None:
    provider = {"name": "from-json", "type": "openai", "api_key_env": "K", "models": ["m"]}
    (tmp_path / "config.json").write_text(json.dumps({"providers": [provider]}), encoding="utf-8")
    assert _provider_names(tmp_path) == ["from-json"]


def test_proxy_api_config_file_wins_over_files_in_cwd(tmp_path: Path) -> None:
    _write(tmp_path / "config.yaml", "from-yaml")
    _write(tmp_path / "other.yaml", "from-env")
    loaded = load_config(environ={"PROXY_API_CONFIG_FILE": "other.yaml"}, cwd=tmp_path)
    assert [p.name for p in loaded.config.providers] == ["from-env"]


def test_an_explicit_path_wins_over_proxy_api_config_file(tmp_path: Path) -> None:
    _write(tmp_path / "a.yaml", "explicit")
    _write(tmp_path / "b.yaml", "from-env")
    environ = {"PROXY_API_CONFIG_FILE": str(tmp_path / "b.yaml")}
    loaded = load_config(tmp_path / "a.yaml", environ=environ, cwd=tmp_path)
    assert [p.name for p in loaded.config.providers] == ["explicit"]


def test_a_named_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config("missing.yaml", environ={}, cwd=tmp_path)
    assert caught.value.problems == [f"{tmp_path / 'missing.yaml'}: file not found"]
    with pytest.raises(ConfigError):
        load_config(environ={"PROXY_API_CONFIG_FILE": "gone.yaml"}, cwd=tmp_path)


def test_without_any_file_the_bundled_default_serves_openai(tmp_path: Path) -> None:
    loaded = load_config(environ={}, cwd=tmp_path)
    assert loaded.source == "bundled default"
    assert loaded.warnings == []
    [provider] = loaded.config.providers
    assert (provider.name, provider.type, provider.api_key_env) == (
        "openai",
        "openai",
        "OPENAI_API_KEY",
    )
    assert provider.models == [
        "gpt-4o-mini",
        "gpt-4o",
        "gpt-4.1-mini",
        "gpt-3.5-turbo",
        "text-embedding-3-small",
    ]


def test_without_the_bundled_file_a_default_is_generated_in_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loader, "bundled_default_file", lambda: tmp_path / "absent.yaml")
    loaded = load_config(environ={}, cwd=tmp_path)
    assert loaded.source == "generated default"
    assert loaded.config.providers[0].models[0] == "gpt-4o-mini"


def test_the_bundled_default_file_ships_inside_the_package() -> None:
    assert loader.bundled_default_file().is_file()


def test_yaml_syntax_errors_give_line_and_column(load: Load) -> None:
    with pytest.raises(ConfigError) as caught:
        load("providers:\n  - name: a\n   type: openai\n")
    [problem] = caught.value.problems
    assert problem.startswith("line 3, column 4: invalid YAML: ")


def test_json_syntax_errors_give_line_and_column(load: Load) -> None:
    with pytest.raises(ConfigError) as caught:
        load('{\n  "providers": [,]\n}\n', name="config.json")
    [problem] = caught.value.problems
    assert problem.startswith("line 2, column 17: invalid JSON: ")


def test_a_top_level_that_is_not_a_mapping_is_an_error(load: Load) -> None:
    with pytest.raises(ConfigError) as caught:
        load("- just\n- a list\n")
    assert caught.value.problems == ["(root): ['just', 'a list'] is not of type 'object'"]


def test_empty_blocks_count_as_absent(load: Load) -> None:
    loaded = load(MINIMAL + "server:\nlogging:\n")
    assert loaded.config.server.port == 8000


def test_errors_name_the_file_they_come_from(load: Load, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load("providers: 3\n")
    assert caught.value.source == str(tmp_path / "config.yaml")
