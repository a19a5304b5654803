"""Every YAML example in the README is a configuration the gateway accepts, warning-free."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from proxyapi.config import load_config

README = Path(__file__).resolve().parents[3] / "README.md"
EXAMPLES = re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_the_readme_has_examples() -> None:
    assert len(EXAMPLES) >= 2


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.splitlines()[0][:40])
def test_each_readme_example_loads_without_warnings(example: str, tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(example)
    loaded = load_config(path, environ={})
    assert loaded.warnings == []
    assert loaded.config.providers
