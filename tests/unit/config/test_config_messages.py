"""Validation problems read like the seed's: ``path: reason`` in JSON Schema wording."""

from __future__ import annotations

from config_helpers import Problems, provider_yaml

from proxyapi.config import format_config_error
from proxyapi.errors import ConfigError

ALL_TYPES = (
    "['openai', 'anthropic', 'azure_openai', 'cohere', 'perplexity', 'grok', 'blackbox', "
    "'openrouter', 'google', 'openai_compatible']"
)


def test_unknown_provider_type_names_the_path_and_the_allowed_types(problems: Problems) -> None:
    assert problems(provider_yaml(type="invalid_provider")) == [
        f"providers[0].type: 'invalid_provider' is not one of {ALL_TYPES}"
    ]


def test_duplicate_provider_names_are_reported_on_the_second_one(problems: Problems) -> None:
    text = """
providers:
  - {name: a, type: openai, api_key_env: K, models: [m]}
  - {name: a, type: anthropic, api_key_env: K, models: [m]}
"""
    assert problems(text) == ["providers[1].name: Provider names must be unique"]


def test_bad_type_and_duplicate_name_are_reported_together_as_in_the_seed(
    problems: Problems,
) -> None:
    text = """
providers:
  - {name: a, type: invalid_provider, api_key_env: K, models: [m]}
  - {name: a, type: anthropic, api_key_env: K, models: [m]}
"""
    assert problems(text) == [
        f"providers[0].type: 'invalid_provider' is not one of {ALL_TYPES}",
        "providers[1].name: Provider names must be unique",
    ]


def test_duplicate_explicit_priorities_are_rejected(problems: Problems) -> None:
    text = """
providers:
  - {name: a, type: openai, api_key_env: K, models: [m], priority: 1}
  - {name: b, type: openai, api_key_env: K, models: [m], priority: 1}
"""
    assert problems(text) == [
        "providers[1].priority: Provider priorities must be unique (1 is also used by 'a')"
    ]


def test_fallback_provider_must_name_a_configured_provider(problems: Problems) -> None:
    assert problems(provider_yaml(fallback_provider="nowhere")) == [
        "providers[0].fallback_provider: 'nowhere' is not the name of a configured provider"
    ]


def test_missing_provider_name_is_a_required_property_of_the_provider(problems: Problems) -> None:
    assert problems("providers:\n  - {type: openai, api_key_env: K, models: [m]}\n") == [
        "providers[0]: 'name' is a required property"
    ]


def test_missing_providers_section_is_a_required_property_of_the_root(problems: Problems) -> None:
    assert problems("server: {port: 8000}\n") == ["(root): 'providers' is a required property"]


def test_wrong_types_use_json_schema_type_names(problems: Problems) -> None:
    text = provider_yaml(enabled="maybe", models="gpt-4o", headers=["x"]) + (
        "server: {port: abc, host: 1}\nhttp_client: {timeout: soon}\n"
    )
    assert problems(text) == [
        "server.host: 1 is not of type 'string'",
        "server.port: 'abc' is not of type 'integer'",
        "providers[0].models: 'gpt-4o' is not of type 'array'",
        "providers[0].enabled: 'maybe' is not of type 'boolean'",
        "providers[0].headers: ['x'] is not of type 'object'",
        "http_client.timeout: 'soon' is not of type 'number'",
    ]


def test_out_of_range_numbers_name_the_bound(problems: Problems) -> None:
    text = provider_yaml(priority=0) + "server: {port: 70000}\n"
    assert problems(text) == [
        "server.port: 70000 is greater than the maximum of 65535",
        "providers[0].priority: 0 is less than the minimum of 1",
    ]


def test_a_provider_needs_at_least_one_model(problems: Problems) -> None:
    assert problems(provider_yaml(models=[])) == [
        "providers[0].models: at least one model is required"
    ]


def test_api_key_env_must_be_upper_snake_case(problems: Problems) -> None:
    assert problems(provider_yaml(api_key_env="openai_key")) == [
        "providers[0].api_key_env: 'openai_key' must be UPPER_SNAKE_CASE"
    ]


def test_base_url_must_be_an_http_url_with_a_host(problems: Problems) -> None:
    assert problems(provider_yaml(base_url="ftp://x")) == [
        "providers[0].base_url: 'ftp://x' is not a valid http(s) URL"
    ]
    assert problems(provider_yaml(base_url="https://")) == [
        "providers[0].base_url: 'https://' is not a valid http(s) URL"
    ]


def test_azure_needs_a_base_url_and_every_hosted_type_a_key_variable(problems: Problems) -> None:
    assert problems(provider_yaml(type="azure_openai", api_key_env=None)) == [
        "providers[0]: 'base_url' is a required property for type 'azure_openai'",
        "providers[0]: 'api_key_env' is a required property for type 'azure_openai'",
    ]


def test_unknown_retry_strategy_lists_the_strategies(problems: Problems) -> None:
    assert problems(provider_yaml(retry_strategy="forever")) == [
        "providers[0].retry_strategy: 'forever' is not one of "
        "['exponential_backoff', 'immediate_retry', 'adaptive']"
    ]


def test_ssl_files_must_come_in_pairs(problems: Problems) -> None:
    assert problems(provider_yaml() + "server: {ssl_certfile: cert.pem}\n") == [
        "server: ssl_certfile and ssl_keyfile must be set together"
    ]


def test_bad_sizes_and_rates_say_what_is_expected(problems: Problems) -> None:
    text = provider_yaml() + (
        "validation: {request: {max_body_size: 10XB}}\n"
        "rate_limit: {routes: {/v1/chat/completions: lots}}\n"
    )
    assert problems(text) == [
        "rate_limit.routes['/v1/chat/completions']: "
        "'lots' is not a valid rate (use e.g. '500/minute')",
        "validation.request.max_body_size: '10XB' is not a valid size (use e.g. 512KB, 10MB, 1GB)",
    ]


def test_every_problem_in_a_file_is_reported_at_once(problems: Problems) -> None:
    text = """
server: {port: 0}
providers:
  - {name: a, type: nope, models: []}
  - {type: openai, api_key_env: lower, models: [m]}
logging: {level: LOUD}
"""
    assert problems(text) == [
        "server.port: 0 is less than the minimum of 1",
        f"providers[0].type: 'nope' is not one of {ALL_TYPES}",
        "providers[0].models: at least one model is required",
        "providers[1]: 'name' is a required property",
        "providers[1].api_key_env: 'lower' must be UPPER_SNAKE_CASE",
        "logging.level: 'LOUD' is not one of ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL']",
    ]


def test_format_config_error_prints_the_seed_block_exactly() -> None:
    err = ConfigError(
        [
            "providers[0].type: 'invalid_provider' is not one of ['openai', 'anthropic']",
            "providers[1].name: Provider names must be unique",
        ],
        source="config.yaml",
    )
    assert format_config_error(err) == (
        "❌ CONFIGURATION ERROR:\n"
        "Configuration validation failed for config.yaml:\n"
        "  providers[0].type: 'invalid_provider' is not one of ['openai', 'anthropic']\n"
        "  providers[1].name: Provider names must be unique\n"
        "\n"
        "🔧 Please fix the configuration file and restart the application."
    )
