"""``check_production``: seed 004's production-readiness rules, one finding per problem."""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Mapping
from typing import Any

import pytest
import yaml
from config_helpers import Load

from proxyapi.config.env import ENV_PREFIX, EnvOverrides
from proxyapi.config.models import Config
from proxyapi.config.production import (
    EXAMPLE_KEY_DIGESTS,
    Finding,
    check_production,
    format_finding,
    is_loopback,
)
from proxyapi.keys import KeyDigest

CLIENT_KEY = "pxy-client-Zq8c2VrLw1YtK5nB0sPe"
ADMIN_KEY = "pxy-admin-Jf3kT9uQm2XhD7aRc4Lw"
PROVIDER_KEY = "sk-live-4f9d2c7b1a8e6f3d5c0b9a7e"
REDIS_PASSWORD = "r3dis-Pa55-word"
WEBHOOK = "https://hooks.slack.com/services/T0001/B0002/XyZsecretToken"

READY: dict[str, Any] = {
    "app": {"environment": "production"},
    "server": {
        "host": "0.0.0.0",
        "workers": 4,
        "ssl_certfile": "/etc/tls/fullchain.pem",
        "ssl_keyfile": "/etc/tls/privkey.pem",
        "cors_origins": ["https://app.example.com"],
    },
    "auth": {"api_keys": [CLIENT_KEY], "admin_keys": [ADMIN_KEY], "required": True},
    "redis": {"enabled": True, "url": f"redis://:{REDIS_PASSWORD}@redis.internal:6379/0"},
    "rate_limit": {"requests_per_window": 1000, "window_seconds": 60},
    "memory": {"threshold_mb": 2048},
    "cache": {"unified": {"max_memory_mb": 512}},
    "metrics": {"prometheus": {"port": 9090}, "alerting": {"webhook_url": WEBHOOK}},
    "providers": [
        {"name": "openai", "type": "openai", "api_key_env": "OPENAI_API_KEY", "models": ["m"]}
    ],
}
ENV = {"OPENAI_API_KEY": PROVIDER_KEY}


@pytest.fixture(autouse=True)
def _no_gateway_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process's own REDIS_URL, ENVIRONMENT, ... must not reach the loader."""
    for name, field in EnvOverrides.model_fields.items():
        alias = field.validation_alias or ENV_PREFIX + name
        if isinstance(alias, str):
            monkeypatch.delenv(alias.upper(), raising=False)


def merged(base: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


def check(load: Load, changes: Mapping[str, Any] | None = None, **env: str) -> list[Finding]:
    """Findings for READY with ``changes`` merged in, run with ENV plus ``env``."""
    environ = {**ENV, **env}
    loaded = load(yaml.safe_dump(merged(READY, changes or {})), environ)
    return check_production(loaded.config, environ)


def at(findings: list[Finding], path: str) -> list[str]:
    """The severities of the findings at ``path``."""
    return [f.severity for f in findings if f.path == path]


def problems(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity != "info"]


def test_a_production_ready_config_has_no_error_and_no_warning(load: Load) -> None:
    findings = check(load)
    assert problems(findings) == []
    assert findings  # every rule met still says so


def test_the_bundled_default_is_not_ready(load: Load) -> None:
    findings = check_production(load(None, {}).config, {})
    assert at(findings, "auth.api_keys") == ["error"]
    assert at(findings, "providers[0].api_key_env") == ["error"]


@pytest.mark.parametrize("path", ["app.debug", "server.debug"])
def test_debug_mode_is_an_error(load: Load, path: str) -> None:
    section, key = path.split(".")
    assert at(check(load, {section: {key: True}}), path) == ["error"]


def test_auto_reload_is_a_warning(load: Load) -> None:
    assert at(check(load, {"server": {"reload": True}}), "server.reload") == ["warning"]


def test_an_environment_other_than_production_is_a_warning(load: Load) -> None:
    findings = check(load, {"app": {"environment": "staging"}})
    assert at(findings, "app.environment") == ["warning"]


def test_no_client_key_is_an_error_and_so_is_listening_on_every_interface(load: Load) -> None:
    findings = check(load, {"auth": {"api_keys": [], "required": False}})
    assert at(findings, "auth.api_keys") == ["error"]
    assert at(findings, "server.host") == ["error"]


def test_no_client_key_on_loopback_is_one_error(load: Load) -> None:
    findings = check(load, {"auth": {"api_keys": [], "required": False}, "server": {"host": "::1"}})
    assert at(findings, "auth.api_keys") == ["error"]
    assert at(findings, "server.host") == ["info"]


def test_hashed_keys_are_client_keys(load: Load) -> None:
    changes = {
        "auth": {"api_keys": []},
        "authentication": {"api_keys": {"hashed_keys": [hashlib.sha256(b"x" * 40).hexdigest()]}},
    }
    assert problems(check(load, changes)) == []


def test_disabled_hashed_keys_are_ignored_and_said_so(load: Load) -> None:
    digest = hashlib.sha256(b"x" * 40).hexdigest()
    changes = {
        "auth": {"api_keys": [], "required": False},
        "authentication": {"api_keys": {"enabled": False, "hashed_keys": [digest]}},
    }
    findings = check(load, changes)
    assert at(findings, "authentication.api_keys.enabled") == ["warning"]
    assert at(findings, "auth.api_keys") == ["error"]


def test_keys_not_required_is_a_warning(load: Load) -> None:
    assert at(check(load, {"auth": {"required": False}}), "auth.required") == ["warning"]


@pytest.mark.parametrize(
    "example",
    [
        "dev-key-123",
        "test-key-456",
        "key1",
        "key2",
        "key3",
        "prod-key-1",
        "prod-key-2",
        "prod-key-3",
        "staging-key-1",
        "staging-key-2",
        "your-api-key",
        "changeme",
    ],
)
def test_a_documented_example_key_is_an_error_at_its_index(load: Load, example: str) -> None:
    findings = check(load, {"auth": {"api_keys": [CLIENT_KEY, example]}})
    assert at(findings, "auth.api_keys[1]") == ["error"]
    assert example not in "\n".join(map(format_finding, findings))


def test_an_example_admin_key_is_an_error(load: Load) -> None:
    findings = check(load, {"auth": {"admin_keys": ["prod-key-12345"]}})
    assert at(findings, "auth.admin_keys[0]") == ["error"]


def test_an_example_key_is_found_among_hashed_keys(load: Load) -> None:
    digest = hashlib.sha256(b"test-key-456").hexdigest()
    findings = check(load, {"authentication": {"api_keys": {"hashed_keys": [digest]}}})
    assert at(findings, "authentication.api_keys.hashed_keys[0]") == ["error"]
    assert digest not in "\n".join(map(format_finding, findings))


def test_seed_000_example_digest_is_an_example() -> None:
    seed = "b7742d3c7e1f4a7d3b2c8f9e6a5d4c3b2a1f0e9d8c7b6a5d4e3f2a1b0c9d8e7f"
    assert KeyDigest.from_hex(seed) in EXAMPLE_KEY_DIGESTS
    assert KeyDigest.of("123") in EXAMPLE_KEY_DIGESTS  # seed 000's a665a459...


def test_no_admin_key_is_a_warning(load: Load) -> None:
    assert at(check(load, {"auth": {"admin_keys": []}}), "auth.admin_keys") == ["warning"]


def test_an_admin_key_that_is_also_a_client_key_is_an_error(load: Load) -> None:
    findings = check(load, {"auth": {"admin_keys": [ADMIN_KEY, CLIENT_KEY]}})
    assert at(findings, "auth.admin_keys[1]") == ["error"]


def test_debug_logs_are_a_warning(load: Load) -> None:
    assert at(check(load, {"logging": {"level": "debug"}}), "logging.level") == ["warning"]


def test_text_logs_are_a_warning_and_production_defaults_to_json(load: Load) -> None:
    assert at(check(load, {"logging": {"format": "text"}}), "logging.format") == ["warning"]
    assert at(check(load, LOG_JSON_FORMAT="false"), "logging.format") == ["warning"]
    assert at(check(load), "logging.format") == ["info"]


def test_logged_content_is_a_warning(load: Load) -> None:
    findings = check(load, {"logging": {"log_content": True}})
    assert at(findings, "logging.log_content") == ["warning"]


NO_TLS = {"server": {"ssl_certfile": None, "ssl_keyfile": None}}


def test_plain_http_on_a_network_interface_is_an_error(load: Load) -> None:
    assert at(check(load, NO_TLS), "server.ssl_certfile") == ["error"]


def test_a_trusted_reverse_proxy_stands_for_tls(load: Load) -> None:
    findings = check(load, NO_TLS, TRUSTED_PROXIES="10.0.0.0/8")
    assert problems(findings) == []


def test_plain_http_on_loopback_without_a_proxy_is_a_warning(load: Load) -> None:
    findings = check(load, merged(NO_TLS, {"server": {"host": "127.0.0.1"}}))
    assert at(findings, "server.trusted_proxies") == ["warning"]
    assert at(findings, "server.ssl_certfile") == []


def test_trusting_every_address_is_a_warning(load: Load) -> None:
    findings = check(load, {"server": {"trusted_proxies": ["0.0.0.0/0"]}})
    assert at(findings, "server.trusted_proxies") == ["warning"]


def test_several_workers_without_redis_is_an_error(load: Load) -> None:
    findings = check(load, {"redis": {"enabled": False, "url": None}})
    [finding] = [f for f in findings if f.path == "redis.enabled"]
    assert finding.severity == "error"
    assert "4×" in finding.message


def test_rate_limits_without_redis_are_a_warning_with_one_worker(load: Load) -> None:
    changes = {"redis": {"enabled": False, "url": None}, "server": {"workers": 1}}
    [finding] = [f for f in check(load, changes) if f.path == "redis.enabled"]
    assert finding.severity == "warning"
    assert "rate_limit.requests_per_window" in finding.message
    assert "several instances would each count their own" in finding.message


def test_a_provider_rate_limit_counts_as_a_limit_to_share(load: Load) -> None:
    provider = {**READY["providers"][0], "rate_limit": 100}
    changes = {
        "redis": {"enabled": False, "url": None},
        "server": {"workers": 1},
        "rate_limit": {"requests_per_window": None},
        "providers": [provider],
    }
    [finding] = [f for f in check(load, changes) if f.path == "redis.enabled"]
    assert finding.severity == "warning"
    assert "providers[0].rate_limit" in finding.message


def test_several_workers_without_redis_or_limits_still_split_the_cache(load: Load) -> None:
    changes = {"redis": {"enabled": False, "url": None}, "rate_limit": {"enabled": False}}
    [finding] = [f for f in check(load, changes) if f.path == "redis.enabled"]
    assert finding.severity == "error"
    assert finding.message.endswith("each worker keeps its own cache")


def test_seed_000_limits_count_as_rate_limits(load: Load) -> None:
    changes = {
        "redis": {"enabled": False, "url": None},
        "server": {"workers": 1},
        "rate_limit": {"requests_per_window": None},
        "authentication": {"rate_limiting": {"global_limit": 100, "provider_limits": {"x": 5}}},
    }
    findings = check(load, changes)
    [finding] = [f for f in findings if f.path == "redis.enabled"]
    assert "authentication.rate_limiting, authentication.rate_limiting.provider_limits" in (
        finding.message
    )
    assert at(findings, "rate_limit") == ["info"]


def test_one_worker_without_limits_needs_no_redis(load: Load) -> None:
    changes = {
        "redis": {"enabled": False, "url": None},
        "server": {"workers": 1},
        "rate_limit": {"requests_per_window": None},
    }
    findings = check(load, changes)
    assert at(findings, "redis.enabled") == ["info"]
    assert at(findings, "rate_limit") == ["warning"]


def test_the_redis_password_is_redacted(load: Load) -> None:
    [finding] = [f for f in check(load) if f.path == "redis.enabled"]
    assert REDIS_PASSWORD not in finding.message
    assert ":***@redis.internal" in finding.message


def test_disabled_rate_limiting_is_a_warning(load: Load) -> None:
    assert at(check(load, {"rate_limit": {"enabled": False}}), "rate_limit.enabled") == ["warning"]


def test_cors_star_is_an_error(load: Load) -> None:
    findings = check(load, CORS_ORIGINS="https://app.example.com,*")
    assert at(findings, "server.cors_origins") == ["error"]


def test_a_plain_http_cors_origin_is_a_warning(load: Load) -> None:
    findings = check(load, {"server": {"cors_origins": ["http://app.example.com"]}})
    assert at(findings, "server.cors_origins") == ["warning"]


@pytest.mark.parametrize(
    ("memory", "path"),
    [
        ({"gc_threshold_percent": 90, "max_usage_percent": 85}, "memory.gc_threshold_percent"),
        ({"max_usage_percent": 95, "emergency_threshold_percent": 95}, "memory.max_usage_percent"),
    ],
)
def test_memory_thresholds_out_of_order_are_an_error(
    load: Load, memory: dict[str, int], path: str
) -> None:
    findings = check(load, {"memory": memory})
    assert at(findings, path) == ["error"]
    assert at(findings, "memory") == []


def test_a_cache_bigger_than_the_memory_limit_is_an_error(load: Load) -> None:
    findings = check(load, CACHE_MAX_MEMORY_MB="4096")
    assert at(findings, "cache.unified.max_memory_mb") == ["error"]


def test_an_unset_provider_key_is_an_error(load: Load) -> None:
    environ = {"OPENAI_API_KEY": ""}
    loaded = load(yaml.safe_dump(READY), environ)
    findings = check_production(loaded.config, environ)
    assert at(findings, "providers[0].api_key_env") == ["error"]


@pytest.mark.parametrize("example", ["sk-your-key-here", "sk-production-key", "your-cohere-key"])
def test_an_example_provider_key_is_an_error_and_is_not_printed(load: Load, example: str) -> None:
    findings = check(load, OPENAI_API_KEY=example)
    assert at(findings, "providers[0].api_key_env") == ["error"]
    assert example not in "\n".join(map(format_finding, findings))


def test_keyless_and_disabled_providers_need_no_key(load: Load) -> None:
    providers = [
        READY["providers"][0],
        {"name": "off", "type": "anthropic", "api_key_env": "ANTHROPIC_API_KEY", "models": ["c"]}
        | {"enabled": False},
        {"name": "vllm", "type": "openai_compatible", "base_url": "http://127.0.0.1:8001/v1"}
        | {"api_key_env": "VLLM_KEY", "models": ["m"]},
    ]
    assert problems(check(load, {"providers": providers})) == []


def test_no_enabled_provider_is_an_error(load: Load) -> None:
    providers = [{**READY["providers"][0], "enabled": False}]
    assert at(check(load, {"providers": providers}), "providers") == ["error"]


def test_a_key_sent_over_plain_http_to_a_remote_host_is_a_warning(load: Load) -> None:
    provider = {**READY["providers"][0], "base_url": "http://llm.example.com/v1"}
    findings = check(load, {"providers": [provider]})
    assert at(findings, "providers[0].base_url") == ["warning"]


def test_metrics_off_is_a_warning(load: Load) -> None:
    assert at(check(load, METRICS_ENABLED="false"), "metrics.enabled") == ["warning"]


def test_metrics_on_the_api_port_of_a_network_interface_is_a_note(load: Load) -> None:
    findings = check(load, {"metrics": {"prometheus": {"port": None}}})
    assert at(findings, "metrics.prometheus.port") == ["info"]


@pytest.mark.parametrize(
    "path", ["health_check.enabled", "circuit_breaker.enabled", "validation.enabled"]
)
def test_a_safeguard_turned_off_is_a_warning(load: Load, path: str) -> None:
    section, key = path.split(".")
    assert at(check(load, {section: {key: False}}), path) == ["warning"]


def test_chaos_in_production_is_a_warning(load: Load) -> None:
    findings = check(load, {"chaos_engineering": {"enabled": True}})
    assert at(findings, "chaos_engineering.enabled") == ["warning"]


def test_a_global_cache_shared_by_several_keys_is_a_warning(load: Load) -> None:
    changes = {
        "caching": {"scope": "global"},
        "auth": {"api_keys": [CLIENT_KEY, "pxy-other-Hq2mV8cT5kR1wN7e"]},
    }
    assert at(check(load, changes), "caching.scope") == ["warning"]


WORST: dict[str, Any] = {
    "app": {"environment": "development", "debug": True},
    "server": {
        "debug": True,
        "reload": True,
        "workers": 2,
        "ssl_certfile": None,
        "ssl_keyfile": None,
        "cors_origins": ["*", "http://web.example.com"],
        "trusted_proxies": [],
    },
    "auth": {"api_keys": ["key1", "dev-key-123"], "admin_keys": ["key1"], "required": False},
    "redis": {"enabled": False, "url": None},
    "memory": {"gc_threshold_percent": 99, "threshold_mb": 256},
    "logging": {"level": "DEBUG", "format": "text", "log_content": True},
    "metrics": {"enabled": False, "alerting": {"webhook_url": WEBHOOK}},
    "health_check": {"enabled": False},
    "circuit_breaker": {"enabled": False},
    "validation": {"enabled": False},
    "chaos_engineering": {"enabled": True},
    "caching": {"scope": "global"},
    "providers": [
        {**READY["providers"][0], "base_url": "http://llm.example.com/v1", "rate_limit": 10},
        {"name": "claude", "type": "anthropic", "api_key_env": "ANTHROPIC_API_KEY"}
        | {"models": ["c"]},
    ],
}


def test_every_finding_path_is_a_real_config_key(load: Load) -> None:
    environ = {"OPENAI_API_KEY": "sk-your-openai-key"}
    config = load(yaml.safe_dump(merged(READY, WORST)), environ).config
    findings = check_production(config, environ)
    assert len(problems(findings)) >= 25
    for finding in findings:
        assert resolves(config, finding.path), finding.path


def test_nothing_secret_is_ever_printed(load: Load) -> None:
    environ = {"OPENAI_API_KEY": PROVIDER_KEY}
    for changes in ({}, WORST):
        config = load(yaml.safe_dump(merged(READY, changes)), environ).config
        text = "\n".join(map(format_finding, check_production(config, environ)))
        for secret in (CLIENT_KEY, ADMIN_KEY, PROVIDER_KEY, REDIS_PASSWORD, WEBHOOK, "key1"):
            assert secret not in text


def test_a_finding_prints_its_icon_path_message_and_hint() -> None:
    error = Finding("error", "auth.api_keys", "no client key", "set auth.api_keys")
    assert format_finding(error) == "❌ auth.api_keys: no client key (set auth.api_keys)"
    assert format_finding(Finding("info", "memory", "fine")) == "✅ memory: fine"
    assert format_finding(Finding("warning", "a.b", "m")).startswith("⚠️")


@pytest.mark.parametrize(
    ("host", "expected"),
    [("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True)]
    + [("localhost", True), ("0.0.0.0", False), ("::", False), ("gateway.internal", False)],
)
def test_loopback_hosts(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected


def resolves(config: Config, path: str) -> bool:
    """Whether ``a.b[2].c`` names an attribute (or item) of the loaded config."""
    node: Any = config
    for name, index in re.findall(r"([a-z_]+)(?:\[(\d+)\])?", path):
        if not hasattr(node, name):
            return False
        node = getattr(node, name)
        if index:
            node = node[int(index)]
    return True
