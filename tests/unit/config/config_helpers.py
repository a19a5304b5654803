"""Plain helpers shared by the config tests (fixtures live in conftest.py)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

from proxyapi.config import LoadedConfig

FIXTURES = Path(__file__).parent / "fixtures"

MINIMAL = """
providers:
  - name: openai
    type: openai
    api_key_env: OPENAI_API_KEY
    models: [gpt-4o]
"""

Load = Callable[..., LoadedConfig]
Problems = Callable[..., list[str]]


def provider_yaml(**fields: object) -> str:
    """A one-provider config whose provider has the given fields on top of valid ones."""
    base: dict[str, object] = {
        "name": "p",
        "type": "openai",
        "api_key_env": "OPENAI_API_KEY",
        "models": ["gpt-4o"],
    }
    base.update(fields)
    lines = ["providers:", "  - " + "\n    ".join(_yaml_items(base))]
    return "\n".join(lines) + "\n"


def _yaml_items(fields: Mapping[str, object]) -> list[str]:
    return [f"{key}: {json.dumps(value)}" for key, value in fields.items() if value is not None]
