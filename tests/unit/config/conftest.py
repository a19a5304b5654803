"""Helpers for the config tests: every load runs in tmp_path with an explicit environment."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
from config_helpers import MINIMAL, Load, Problems

from proxyapi.config import LoadedConfig, load_config
from proxyapi.errors import ConfigError


@pytest.fixture
def load(tmp_path: Path) -> Load:
    """Write ``text`` to ``tmp_path/config.yaml`` (unless None) and load it from there."""

    def run(
        text: str | None = MINIMAL,
        environ: Mapping[str, str] | None = None,
        name: str = "config.yaml",
    ) -> LoadedConfig:
        if text is not None:
            (tmp_path / name).write_text(text, encoding="utf-8")
        return load_config(environ={} if environ is None else environ, cwd=tmp_path)

    return run


@pytest.fixture
def problems(load: Load) -> Problems:
    """The problem lines of the ConfigError that loading ``text`` raises."""

    def run(text: str, environ: Mapping[str, str] | None = None) -> list[str]:
        with pytest.raises(ConfigError) as caught:
            load(text, environ)
        return caught.value.problems

    return run
