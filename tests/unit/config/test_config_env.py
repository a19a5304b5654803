"""Environment variables: PROXY_API_* and the unprefixed server ones, over any file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from config_helpers import MINIMAL, Load, Problems

from proxyapi.config import Config, load_config
from proxyapi.errors import ConfigError
from proxyapi.keys import KeyDigest

digest = KeyDigest.of


def _value(config: Config, dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        node = getattr(node, part)
    return node


@pytest.mark.parametrize(
    ("variable", "value", "paths", "expected"),
    [
        ("PROXY_API_HOST", "0.0.0.0", ["server.host"], "0.0.0.0"),
        ("PROXY_API_PORT", "9001", ["server.port"], 9001),
        ("PROXY_API_DEBUG", "true", ["app.debug", "server.debug"], True),
        ("PROXY_API_API_KEY_HEADER", "X-Gateway-Key", ["auth.header_name"], "X-Gateway-Key"),
        ("PROXY_API_PROXY_API_KEYS", "k1,k2", ["auth.api_keys"], [digest("k1"), digest("k2")]),
        ("PROXY_API_ADMIN_KEYS", "root", ["auth.admin_keys"], [digest("root")]),
        ("PROXY_API_RATE_LIMIT_REQUESTS", "250", ["rate_limit.requests_per_window"], 250),
        ("PROXY_API_RATE_LIMIT_WINDOW", "30", ["rate_limit.window_seconds"], 30),
        ("PROXY_API_CLIENT_TIMEOUT", "90", ["server.client_timeout"], 90.0),
        ("PROXY_API_PROVIDER_TIMEOUT", "12.5", ["http_client.timeout"], 12.5),
        ("PROXY_API_PROVIDER_RETRIES", "5", ["http_client.retry_attempts"], 5),
        ("PROXY_API_CIRCUIT_BREAKER_THRESHOLD", "7", ["circuit_breaker.failure_threshold"], 7),
        ("PROXY_API_CIRCUIT_BREAKER_TIMEOUT", "45", ["circuit_breaker.recovery_timeout"], 45.0),
        ("PROXY_API_LOG_FILE", "logs/proxy_api.log", ["logging.file"], "logs/proxy_api.log"),
        ("PROXY_API_LOG_LEVEL", "debug", ["logging.level"], "DEBUG"),
        ("ENVIRONMENT", "staging", ["app.environment"], "staging"),
        ("WORKERS", "4", ["server.workers"], 4),
        ("CORS_ORIGINS", "https://a.example,https://b.example", ["server.cors_origins"],
         ["https://a.example", "https://b.example"]),
        ("LOG_LEVEL", "warning", ["logging.level"], "WARNING"),
        ("LOG_JSON_FORMAT", "true", ["logging.format"], "json"),
        ("LOG_JSON_FORMAT", "false", ["logging.format"], "text"),
        ("LOG_MAX_SIZE", "500", ["logging.max_file_size"], 500 * 1024**2),
        ("LOG_BACKUP_COUNT", "30", ["logging.max_files"], 30),
        ("METRICS_ENABLED", "false", ["metrics.enabled"], False),
        ("METRICS_PORT", "9464", ["metrics.prometheus.port"], 9464),
        ("HEALTH_CHECK_INTERVAL", "10", ["health_check.interval"], 10.0),
        ("ALERT_WEBHOOK_URL", "https://hooks.example/T/B/x", ["metrics.alerting.webhook_url"],
         "https://hooks.example/T/B/x"),
        ("ALERT_CPU_THRESHOLD", "70.5", ["metrics.alerting.cpu_threshold"], 70.5),
        ("ALERT_MEMORY_THRESHOLD", "90", ["metrics.alerting.memory_threshold"], 90.0),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317",
         ["telemetry.otlp.endpoint"], "http://collector:4317"),
        ("OTEL_SERVICE_NAME", "edge-gateway", ["telemetry.service_name"], "edge-gateway"),
    ],
)  # fmt: skip
def test_each_variable_sets_its_config_value(
    load: Load, variable: str, value: str, paths: list[str], expected: object
) -> None:
    config = load(environ={variable: value}).config
    assert [_value(config, path) for path in paths] == [expected] * len(paths)


def test_the_otlp_endpoint_alone_turns_tracing_and_its_export_on(load: Load) -> None:
    telemetry = load(environ={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"}).config.telemetry
    assert telemetry.enabled and telemetry.otlp.enabled


def test_the_prefixed_log_level_wins_over_the_plain_one(load: Load) -> None:
    environ = {"LOG_LEVEL": "ERROR", "PROXY_API_LOG_LEVEL": "DEBUG"}
    assert load(environ=environ).config.logging.level == "DEBUG"


def test_ssl_variables_set_both_files(load: Load) -> None:
    environ = {"SSL_CERTFILE": "/tls/cert.pem", "SSL_KEYFILE": "/tls/key.pem"}
    server = load(environ=environ).config.server
    assert (server.ssl_certfile, server.ssl_keyfile) == ("/tls/cert.pem", "/tls/key.pem")


def test_provider_timeout_and_retries_override_every_provider(load: Load) -> None:
    text = MINIMAL.replace(
        "models: [gpt-4o]", "models: [gpt-4o]\n    timeout: 5\n    max_retries: 1"
    )
    environ = {"PROXY_API_PROVIDER_TIMEOUT": "20", "PROXY_API_PROVIDER_RETRIES": "6"}
    [provider] = load(text, environ).config.providers
    assert (provider.timeout, provider.retry_attempts) == (20.0, 6)


@pytest.mark.parametrize(
    "value",
    ["key1,key2", '["key1","key2"]', "['key1','key2']", " key1 , key2 ,, ", "[ 'key1', ' key2 ' ]"],
)
def test_key_lists_accept_comma_json_and_python_list_forms(load: Load, value: str) -> None:
    auth = load(environ={"PROXY_API_PROXY_API_KEYS": value}).config.auth
    assert auth.api_keys == [digest("key1"), digest("key2")]


def test_a_single_key_is_a_list_of_one(load: Load) -> None:
    assert load(environ={"PROXY_API_PROXY_API_KEYS": "key1"}).config.auth.api_keys == [
        digest("key1")
    ]


def test_cors_origins_accept_a_json_list(load: Load) -> None:
    server = load(environ={"CORS_ORIGINS": '["https://a.example"]'}).config.server
    assert server.cors_origins == ["https://a.example"]


def test_empty_variables_are_treated_as_unset(load: Load) -> None:
    assert load(environ={"PROXY_API_PORT": ""}).config.server.port == 8000


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("PROXY_API_PORT", "abc", "PROXY_API_PORT: 'abc' is not a valid integer"),
        ("PROXY_API_DEBUG", "sometimes", "PROXY_API_DEBUG: 'sometimes' is not a valid boolean"),
        ("PROXY_API_CLIENT_TIMEOUT", "soon",
         "PROXY_API_CLIENT_TIMEOUT: 'soon' is not a valid number"),
        ("PROXY_API_PORT", "70000", "PROXY_API_PORT: '70000' is greater than the maximum of 65535"),
        ("WORKERS", "0", "WORKERS: '0' is less than the minimum of 1"),
        ("ENVIRONMENT", "prod",
         "ENVIRONMENT: 'prod' is not one of ['development', 'staging', 'production']"),
        ("PROXY_API_PROXY_API_KEYS", "['a',",
         "PROXY_API_PROXY_API_KEYS: \"['a',\" is not a valid list of strings"),
    ],
)  # fmt: skip
def test_malformed_variables_are_errors_naming_the_variable(
    load: Load, variable: str, value: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(environ={variable: value})
    assert caught.value.problems == [problem]
    assert caught.value.source == "environment variables"


def test_environment_beats_the_file_and_the_file_beats_defaults(load: Load) -> None:
    text = MINIMAL + "server: {host: 10.0.0.1, port: 7000}\n"
    server = load(text, {"PROXY_API_PORT": "9000"}).config.server
    assert (server.host, server.port, server.workers) == ("10.0.0.1", 9000, 1)


def test_environment_overrides_also_apply_to_the_bundled_default(tmp_path: Path) -> None:
    loaded = load_config(environ={"PROXY_API_PORT": "9100"}, cwd=tmp_path)
    assert (loaded.source, loaded.config.server.port) == ("bundled default", 9100)


def test_unrelated_variables_are_ignored(load: Load) -> None:
    assert load(environ={"PROXY_API_SOMETHING_ELSE": "x", "PORT": "1"}).config.server.port == 8000


def test_an_environment_override_does_not_hide_file_problems(problems: Problems) -> None:
    assert problems("providers: []\nserver: {workers: 0}\n", {"PROXY_API_PORT": "9000"}) == [
        "server.workers: 0 is less than the minimum of 1"
    ]


def test_dotenv_in_cwd_is_loaded_without_overriding_set_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Recorded by monkeypatch so load_dotenv's writes are undone after the test.
    for name in ("PROXY_API_PORT", "PROXY_API_HOST", "PROXYAPI_TEST_SECRET"):
        monkeypatch.setenv(name, "placeholder")
        monkeypatch.delenv(name)
    monkeypatch.setenv("PROXY_API_HOST", "10.1.1.1")
    (tmp_path / ".env").write_text(
        "PROXY_API_PORT=9200\nPROXY_API_HOST=0.0.0.0\nPROXYAPI_TEST_SECRET=s3cret\n",
        encoding="utf-8",
    )
    (tmp_path / "config.yaml").write_text(
        MINIMAL + "app: {name: '${PROXYAPI_TEST_SECRET}'}\n", encoding="utf-8"
    )
    config = load_config(cwd=tmp_path).config
    assert (config.server.port, config.server.host) == (9200, "10.1.1.1")
    assert config.app.name == "s3cret"
    assert os.environ["PROXYAPI_TEST_SECRET"] == "s3cret"  # visible to the provider layer


def test_dotenv_is_not_read_when_an_environment_is_given(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("PROXY_API_PORT=9300\n", encoding="utf-8")
    assert load_config(environ={}, cwd=tmp_path).config.server.port == 8000


def test_http_variables_set_the_http_client_defaults_providers_inherit(tmp_path: Path) -> None:
    config_file = tmp_path / "config.yaml"
    config_file.write_text(
        "providers:\n"
        "  - {name: a, type: openai, api_key_env: A_KEY, models: [m]}\n"
        "  - {name: b, type: openai, api_key_env: B_KEY, models: [m], max_connections: 7}\n"
    )
    environ = {
        "HTTP_MAX_CONNECTIONS": "50",
        "HTTP_KEEPALIVE_EXPIRY": "12",
        "HTTP_CONNECT_TIMEOUT": "3",
        "HTTP_TIMEOUT": "20",
    }
    config = load_config(config_file, environ=environ).config
    inherited, own = config.providers
    assert (inherited.max_connections, inherited.keepalive_expiry, inherited.timeout) == (
        50,
        12,
        20,
    )
    assert own.max_connections == 7
    assert config.http_client.connect_timeout == 3


def test_provider_timeout_variable_wins_over_http_timeout(tmp_path: Path) -> None:
    config_file = tmp_path / "config.yaml"
    config_file.write_text("providers:\n  - {name: a, type: openai, api_key_env: K, models: [m]}\n")
    environ = {"HTTP_TIMEOUT": "20", "PROXY_API_PROVIDER_TIMEOUT": "9"}
    assert load_config(config_file, environ=environ).config.providers[0].timeout == 9


def test_without_http_settings_providers_keep_their_own_pool_defaults(tmp_path: Path) -> None:
    config_file = tmp_path / "config.yaml"
    config_file.write_text("providers:\n  - {name: a, type: openai, api_key_env: K, models: [m]}\n")
    assert load_config(config_file, environ={}).config.providers[0].max_connections == 100


def test_a_malformed_http_variable_names_it(tmp_path: Path) -> None:
    config_file = tmp_path / "config.yaml"
    config_file.write_text("providers: []\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config_file, environ={"HTTP_MAX_CONNECTIONS": "lots"})
    assert any(p.startswith("HTTP_MAX_CONNECTIONS:") for p in caught.value.problems)
