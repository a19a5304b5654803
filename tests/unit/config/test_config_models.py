"""Defaults and derived values of the validated Config."""

from __future__ import annotations

import pytest
from config_helpers import MINIMAL, Load, provider_yaml

import proxyapi.config
from proxyapi.config import Config, ProviderConfig


@pytest.mark.parametrize(
    ("kind", "url"),
    [
        ("openai", "https://api.openai.com/v1"),
        ("anthropic", "https://api.anthropic.com"),
        ("perplexity", "https://api.perplexity.ai"),
        ("grok", "https://api.x.ai/v1"),
        ("openrouter", "https://openrouter.ai/api/v1"),
        ("blackbox", "https://api.blackbox.ai"),
        ("cohere", "https://api.cohere.com"),
        ("google", "https://generativelanguage.googleapis.com"),
    ],
)
def test_hosted_provider_types_default_their_base_url(load: Load, kind: str, url: str) -> None:
    assert load(provider_yaml(type=kind)).config.providers[0].base_url == url


def test_base_urls_are_stored_without_a_trailing_slash(load: Load) -> None:
    text = provider_yaml(type="azure_openai", base_url="https://res.openai.azure.com/")
    assert load(text).config.providers[0].base_url == "https://res.openai.azure.com"


def test_an_openai_compatible_server_needs_no_key_variable(load: Load) -> None:
    text = provider_yaml(type="openai_compatible", base_url="http://localhost:11434/v1")
    text = text.replace('api_key_env: "OPENAI_API_KEY"\n    ', "")
    provider = load(text).config.providers[0]
    assert (provider.api_key_env, provider.base_url) == (None, "http://localhost:11434/v1")


def test_provider_defaults_match_the_seed(load: Load) -> None:
    provider = load().config.providers[0]
    # rate_limit: unlimited unless set (the seed's 1000/hour would throttle a busy gateway).
    assert (provider.enabled, provider.timeout, provider.rate_limit) == (True, 30.0, None)
    assert (provider.retry_attempts, provider.retry_delay) == (3, 1.0)
    assert (provider.max_connections, provider.max_keepalive_connections) == (100, 100)
    assert (provider.keepalive_expiry, provider.drop_params, provider.headers) == (30.0, False, {})


def test_omitted_priorities_rank_after_explicit_ones_in_list_order(load: Load) -> None:
    text = """
providers:
  - {name: a, type: openai, api_key_env: K, models: [m]}
  - {name: b, type: openai, api_key_env: K, models: [m], priority: 5}
  - {name: c, type: openai, api_key_env: K, models: [m]}
  - {name: d, type: openai, api_key_env: K, models: [m], priority: 2}
"""
    priorities = {p.name: p.priority for p in load(text).config.providers}
    assert priorities == {"b": 5, "d": 2, "a": 6, "c": 7}


def test_omitted_provider_timeouts_come_from_http_client(load: Load) -> None:
    text = MINIMAL + "http_client: {timeout: 45}\n"
    config = load(text).config
    assert (config.http_client.timeout, config.providers[0].timeout) == (45.0, 45.0)


def test_an_explicit_provider_timeout_beats_http_client(load: Load) -> None:
    text = provider_yaml(timeout=12) + "http_client: {timeout: 45}\n"
    assert load(text).config.providers[0].timeout == 12.0


def test_retry_settings_and_deployments_are_kept(load: Load) -> None:
    text = provider_yaml(
        type="azure_openai",
        base_url="https://res.openai.azure.com",
        deployments={"gpt-4o": "prod-4o"},
        api_version="2024-06-01",
        retry_strategy="adaptive",
        retry_config={"max_attempts": 5, "base_delay": 2.0, "max_delay": 120.0},
    )
    provider = load(text).config.providers[0]
    assert provider.deployments == {"gpt-4o": "prod-4o"}
    assert (provider.api_version, provider.retry_strategy) == ("2024-06-01", "adaptive")
    assert provider.retry_config is not None
    assert provider.retry_config.max_attempts == 5


def test_core_section_defaults(load: Load) -> None:
    config = load().config
    assert (config.app.name, config.app.version, config.app.debug) == ("ProxyAPI", "0.1.0", False)
    server = config.server
    assert (server.host, server.port, server.workers, server.client_timeout) == (
        "127.0.0.1",
        8000,
        1,
        60.0,
    )
    assert (server.cors_origins, server.ssl_certfile, server.ssl_keyfile) == ([], None, None)
    assert (config.auth.api_keys, config.auth.header_name, config.auth.required) == (
        [],
        "X-API-Key",
        False,
    )
    http = config.http_client
    assert (http.timeout, http.connect_timeout, http.retry_attempts) == (30.0, 10.0, 3)
    breaker = config.circuit_breaker
    assert (breaker.failure_threshold, breaker.recovery_timeout, breaker.half_open_max_calls) == (
        5,
        60,
        3,
    )
    assert (config.logging.level, config.logging.format, config.logging.file) == (
        "INFO",
        "text",
        None,
    )


def test_cache_and_redis_defaults_match_the_seeds(load: Load) -> None:
    config = load().config
    unified = config.cache.unified
    assert (unified.max_size, unified.default_ttl, unified.max_memory_mb) == (10000, 1800, 512)
    assert (unified.disk_cache_dir, unified.cleanup_interval) == (".cache/unified", 300)
    assert unified.categories == {
        "models": 3600,
        "responses": 1800,
        "metadata": 7200,
        "summaries": 3600,
    }
    assert (config.redis.enabled, config.redis.port, config.redis.url) == (False, 6379, None)
    assert (config.caching.summary_cache.max_size_mb, config.caching.summary_cache.ttl) == (
        50,
        3600,
    )


def test_model_overrides_and_routes_are_kept_as_written(load: Load) -> None:
    text = MINIMAL + (
        "model_overrides: {gpt-4o: {max_tokens: 8192, temperature: 0.8}}\n"
        "rate_limit: {routes: {/v1/chat/completions: 500/minute}}\n"
    )
    config = load(text).config
    assert config.model_overrides == {"gpt-4o": {"max_tokens": 8192, "temperature": 0.8}}
    assert config.rate_limit.routes == {"/v1/chat/completions": "500/minute"}


def test_log_levels_are_case_insensitive(load: Load) -> None:
    assert load(MINIMAL + "logging: {level: warning}\n").config.logging.level == "WARNING"


def test_models_can_be_built_in_code_without_a_file() -> None:
    provider = ProviderConfig(name="p", type="openai", api_key_env="K", models=["m"])
    config = Config(providers=[provider])
    assert (config.providers[0].base_url, config.providers[0].priority) == (
        "https://api.openai.com/v1",
        1,
    )


def test_the_public_api_is_pinned() -> None:
    assert sorted(proxyapi.config.__all__) == [
        "AppConfig",
        "AuthConfig",
        "Config",
        "HttpClientConfig",
        "LoadedConfig",
        "ProviderConfig",
        "ServerConfig",
        "check_legacy_presence",
        "config_json_schema",
        "format_config_error",
        "get_migration_report",
        "get_migration_status",
        "load_config",
        "load_config_with_legacy_support",
        "migrate_specific_format",
        "parse_rate",
        "parse_size",
        "rollback_format",
        "validate_config",
    ]


def test_providers_built_in_code_are_checked_across_too() -> None:
    from pydantic import ValidationError

    first = ProviderConfig(name="p", type="openai", api_key_env="K", models=["m"])
    with pytest.raises(ValidationError, match="Provider names must be unique"):
        Config(providers=[first, first.model_copy()])


def test_a_chaos_schedule_condition_the_parser_refuses_is_a_config_error() -> None:
    from proxyapi.config import validate_config
    from proxyapi.errors import ConfigError

    rules = [{"name": "sneaky", "condition": "hour >= 9 and __import__('os')"}]
    with pytest.raises(ConfigError) as caught:
        validate_config({"providers": [], "chaos_engineering": {"schedule": {"rules": rules}}})
    assert caught.value.problems == [
        'chaos_engineering.schedule.rules[0].condition: unexpected character "\'" at 25'
    ]
