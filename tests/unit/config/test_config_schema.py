"""The exported JSON Schema is valid 2020-12 and accepts the seeds' examples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from config_helpers import FIXTURES
from jsonschema import Draft202012Validator

from proxyapi.config import config_json_schema, load_config
from proxyapi.config.loader import bundled_default_file


def _validator() -> Draft202012Validator:
    schema = config_json_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _errors(document: Any) -> list[str]:
    return [f"{error.json_path}: {error.message}" for error in _validator().iter_errors(document)]


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = config_json_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "ProxyAPI configuration"
    assert "$id" not in schema
    assert schema["required"] == ["providers"]


def test_the_schema_accepts_the_bundled_default() -> None:
    assert _errors(yaml.safe_load(bundled_default_file().read_text("utf-8"))) == []


@pytest.mark.parametrize(
    "name", ["seed_comprehensive", "seed_minimal", "seed_production", "seed_sections"]
)
def test_the_schema_and_the_loader_accept_the_seed_examples(name: str) -> None:
    path = FIXTURES / f"{name}.yaml"
    assert _errors(yaml.safe_load(path.read_text("utf-8"))) == []
    environ = {"ENVIRONMENT": "production", "REGION": "eu", "CLUSTER": "c1", "APP_NAME": "gw"}
    environ |= dict.fromkeys(
        ["API_KEY_ENV", "JWT_SECRET", "OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET", "APP_VERSION"], "x"
    )
    environ |= dict.fromkeys(
        ["JAEGER_USER", "JAEGER_PASS", "OTLP_TOKEN", "ES_USER", "ES_PASS"], "x"
    )
    loaded = load_config(path, environ=environ | {"REDIS_PASSWORD": "pw"}, cwd=Path("/"))
    assert [w for w in loaded.warnings if "unknown key" in w] == []


def test_the_schema_rejects_what_the_loader_rejects_by_shape() -> None:
    document = {"providers": [{"name": "a", "type": "invalid_provider", "models": []}]}
    assert _errors(document) == [
        "$.providers[0].type: 'invalid_provider' is not one of ['openai', 'anthropic', "
        "'azure_openai', 'cohere', 'perplexity', 'grok', 'blackbox', 'openrouter', 'google', "
        "'openai_compatible']",
        "$.providers[0].models: [] should be non-empty",
    ]
