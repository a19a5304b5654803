"""docs/configuration.md is generated from the models: it must match what the generator writes."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

from proxyapi.config.env import ENV_PREFIX, EnvOverrides

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "generate_config_reference.py"
DOC = ROOT / "docs" / "configuration.md"


def _generator() -> ModuleType:
    name = "generate_config_reference"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_reference_is_up_to_date() -> None:
    assert _generator().check(DOC), (
        "docs/configuration.md is stale: run scripts/generate_config_reference.py"
    )


def test_check_mode_reports_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "configuration.md"
    stale.write_text("# out of date\n", encoding="utf-8")
    assert _generator().main(["--check", "--output", str(stale)]) == 1
    assert _generator().main(["--check", "--output", str(DOC)]) == 0


def test_every_environment_variable_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    prefixed = {
        ENV_PREFIX + name.upper()
        for name, info in EnvOverrides.model_fields.items()
        if not isinstance(info.validation_alias, str)
    }
    unprefixed = {
        info.validation_alias
        for info in EnvOverrides.model_fields.values()
        if isinstance(info.validation_alias, str)
    }
    assert prefixed, "EnvOverrides has no PROXY_API_* variables"
    assert {"ENVIRONMENT", "WORKERS", "CORS_ORIGINS", "SSL_CERTFILE", "SSL_KEYFILE"} <= unprefixed
    assert {"HTTP_MAX_CONNECTIONS", "HTTP_TIMEOUT", "HTTP_CONNECT_TIMEOUT"} <= unprefixed
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]*)`", text))
    missing = sorted((prefixed | unprefixed) - documented)
    assert not missing, f"not in docs/configuration.md: {missing}"


def test_every_proxy_api_variable_in_the_source_is_documented() -> None:
    # Catches a PROXY_API_* name read somewhere other than EnvOverrides.
    text = DOC.read_text(encoding="utf-8")
    used = {
        match
        for path in (ROOT / "src" / "proxyapi").rglob("*.py")
        for match in re.findall(r"PROXY_API_[A-Z0-9_]*[A-Z0-9]", path.read_text(encoding="utf-8"))
    }
    missing = sorted(name for name in used if name not in text)
    assert not missing, f"not in docs/configuration.md: {missing}"


def test_every_top_level_key_has_a_section() -> None:
    from proxyapi.config.models import Config

    text = DOC.read_text(encoding="utf-8")
    headings = re.findall(r"^## `(\w+)`(?: \(validated;.*\))?$", text, flags=re.MULTILINE)
    assert headings == list(Config.model_fields)
