"""Settings that come from environment variables (``PROXY_API_*`` and a few unprefixed ones).

Parsed by a pydantic-settings model so env values get the same coercion rules
as the rest of the config, then written over the file's values: the
environment wins over any file.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Annotated, Any, Final

import orjson
from pydantic import Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from proxyapi.config._fields import Count, Percent, Port, Positive, Seconds
from proxyapi.config.messages import describe_env_error
from proxyapi.config.models import Environment
from proxyapi.config.observability import LogLevel
from proxyapi.errors import ConfigError

ENV_PREFIX: Final = "PROXY_API_"
ENV_SOURCE: Final = "environment variables"

KeyList = Annotated[list[str] | None, NoDecode]


class EnvOverrides(BaseSettings):
    """Every environment variable the gateway reads for its own settings."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", env_ignore_empty=True, case_sensitive=False
    )

    host: str | None = None
    port: Port | None = None
    debug: bool | None = None
    api_key_header: str | None = None
    proxy_api_keys: KeyList = None
    admin_keys: KeyList = None
    rate_limit_requests: Positive | None = None
    rate_limit_window: Positive | None = None
    client_timeout: Seconds | None = None
    provider_timeout: Seconds | None = None
    provider_retries: Count | None = None
    circuit_breaker_threshold: Positive | None = None
    circuit_breaker_timeout: Seconds | None = None
    config_file: str | None = None
    log_file: str | None = None
    log_level: LogLevel | None = None
    # Unprefixed, as the seed's production deployments set them.
    environment: Environment | None = Field(None, validation_alias="ENVIRONMENT")
    workers: Positive | None = Field(None, validation_alias="WORKERS")
    cors_origins: KeyList = Field(None, validation_alias="CORS_ORIGINS")
    ssl_certfile: str | None = Field(None, validation_alias="SSL_CERTFILE")
    ssl_keyfile: str | None = Field(None, validation_alias="SSL_KEYFILE")
    trusted_proxies: KeyList = Field(None, validation_alias="TRUSTED_PROXIES")
    api_keys_required: bool | None = Field(None, validation_alias="API_KEYS_REQUIRED")
    redis_url: str | None = Field(None, validation_alias="REDIS_URL")
    cache_max_memory_mb: Positive | None = Field(None, validation_alias="CACHE_MAX_MEMORY_MB")
    memory_threshold_mb: Positive | None = Field(None, validation_alias="MEMORY_THRESHOLD_MB")
    response_cache_ttl: Count | None = Field(None, validation_alias="RESPONSE_CACHE_TTL")
    response_cache_size: Positive | None = Field(None, validation_alias="RESPONSE_CACHE_SIZE")
    # The seed's production HTTP client variables (http_client defaults).
    http_max_keepalive: Count | None = Field(None, validation_alias="HTTP_MAX_KEEPALIVE")
    http_max_connections: Positive | None = Field(None, validation_alias="HTTP_MAX_CONNECTIONS")
    http_keepalive_expiry: Seconds | None = Field(None, validation_alias="HTTP_KEEPALIVE_EXPIRY")
    http_timeout: Seconds | None = Field(None, validation_alias="HTTP_TIMEOUT")
    http_connect_timeout: Seconds | None = Field(None, validation_alias="HTTP_CONNECT_TIMEOUT")
    http_retry_attempts: Count | None = Field(None, validation_alias="HTTP_RETRY_ATTEMPTS")
    # Observability, unprefixed as in the seed's production .env.
    log_level_plain: LogLevel | None = Field(None, validation_alias="LOG_LEVEL")
    log_json_format: bool | None = Field(None, validation_alias="LOG_JSON_FORMAT")
    log_max_size: Positive | None = Field(None, validation_alias="LOG_MAX_SIZE")  # MB
    log_backup_count: Positive | None = Field(None, validation_alias="LOG_BACKUP_COUNT")
    metrics_enabled: bool | None = Field(None, validation_alias="METRICS_ENABLED")
    metrics_port: Port | None = Field(None, validation_alias="METRICS_PORT")
    health_check_interval: Seconds | None = Field(None, validation_alias="HEALTH_CHECK_INTERVAL")
    alert_webhook_url: str | None = Field(None, validation_alias="ALERT_WEBHOOK_URL")
    alert_cpu_threshold: Percent | None = Field(None, validation_alias="ALERT_CPU_THRESHOLD")
    alert_memory_threshold: Percent | None = Field(None, validation_alias="ALERT_MEMORY_THRESHOLD")
    otlp_endpoint: str | None = Field(None, validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT")
    otel_service_name: str | None = Field(None, validation_alias="OTEL_SERVICE_NAME")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only what ``read_env_overrides`` passes in: never ``os.environ`` behind its back."""
        return (init_settings,)

    @field_validator(
        "proxy_api_keys", "admin_keys", "cors_origins", "trusted_proxies", mode="before"
    )
    @classmethod
    def _split_list(cls, value: object) -> object:
        return parse_list(value) if isinstance(value, str) else value

    @field_validator("log_level", "log_level_plain", "environment", mode="before")
    @classmethod
    def _normalise_case(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        return value.upper() if value.lower() in _LEVELS else value.lower()


_LEVELS: Final = frozenset({"debug", "info", "warning", "error", "critical"})


def parse_list(text: str) -> list[str]:
    """``k1,k2``, ``["k1","k2"]``, ``['k1','k2']`` or ``k1`` -> trimmed, non-empty items."""
    text = text.strip()
    if text.startswith("["):
        items = _parse_bracketed(text)
    else:
        items = text.split(",")
    return [item.strip() for item in items if item.strip()]


def _parse_bracketed(text: str) -> list[str]:
    try:
        parsed: Any = orjson.loads(text)
    except orjson.JSONDecodeError:
        try:
            parsed = ast.literal_eval(text)  # the seed's Python-style ['key1','key2']
        except (SyntaxError, ValueError):
            parsed = None
    if not isinstance(parsed, list) or not all(isinstance(item, str) for item in parsed):
        raise PydanticCustomError(
            "key_list", "{t} is not a valid list of strings", {"t": repr(text)}
        )
    return parsed


class _MappingEnvSource(EnvSettingsSource):
    """The env settings source, reading a given mapping instead of ``os.environ``."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {name.lower(): value for name, value in self._environ.items() if value != ""}


def read_env_overrides(environ: Mapping[str, str]) -> EnvOverrides:
    """Parse the gateway's variables from ``environ``; a malformed one is a ConfigError."""
    try:
        return EnvOverrides.model_validate(_MappingEnvSource(EnvOverrides, environ)())
    except ValidationError as exc:
        problems = [describe_env_error(e, _variable_name(e["loc"])) for e in exc.errors()]
        raise ConfigError(problems, source=ENV_SOURCE) from None


def _variable_name(loc: tuple[int | str, ...]) -> str:
    field = str(loc[0]) if loc else ""
    return field if field.isupper() else ENV_PREFIX + field.upper()


# (override field, path in the config tree it replaces)
_TARGETS: Final = (
    # HTTP_* first: PROXY_API_PROVIDER_TIMEOUT / _RETRIES below win over them.
    ("http_max_keepalive", ("http_client", "max_keepalive_connections")),
    ("http_max_connections", ("http_client", "max_connections")),
    ("http_keepalive_expiry", ("http_client", "keepalive_expiry")),
    ("http_timeout", ("http_client", "timeout")),
    ("http_connect_timeout", ("http_client", "connect_timeout")),
    ("http_retry_attempts", ("http_client", "retry_attempts")),
    ("host", ("server", "host")),
    ("port", ("server", "port")),
    ("debug", ("app", "debug")),
    ("debug", ("server", "debug")),
    ("api_key_header", ("auth", "header_name")),
    ("proxy_api_keys", ("auth", "api_keys")),
    ("admin_keys", ("auth", "admin_keys")),
    ("rate_limit_requests", ("rate_limit", "requests_per_window")),
    ("rate_limit_window", ("rate_limit", "window_seconds")),
    ("client_timeout", ("server", "client_timeout")),
    ("provider_timeout", ("http_client", "timeout")),
    ("provider_retries", ("http_client", "retry_attempts")),
    ("circuit_breaker_threshold", ("circuit_breaker", "failure_threshold")),
    ("circuit_breaker_timeout", ("circuit_breaker", "recovery_timeout")),
    ("log_file", ("logging", "file")),
    ("log_level_plain", ("logging", "level")),
    ("log_level", ("logging", "level")),
    ("log_backup_count", ("logging", "max_files")),
    ("metrics_enabled", ("metrics", "enabled")),
    ("metrics_port", ("metrics", "prometheus", "port")),
    ("health_check_interval", ("health_check", "interval")),
    ("alert_webhook_url", ("metrics", "alerting", "webhook_url")),
    ("alert_cpu_threshold", ("metrics", "alerting", "cpu_threshold")),
    ("alert_memory_threshold", ("metrics", "alerting", "memory_threshold")),
    ("otel_service_name", ("telemetry", "service_name")),
    ("environment", ("app", "environment")),
    ("workers", ("server", "workers")),
    ("cors_origins", ("server", "cors_origins")),
    ("ssl_certfile", ("server", "ssl_certfile")),
    ("ssl_keyfile", ("server", "ssl_keyfile")),
    ("trusted_proxies", ("server", "trusted_proxies")),
    ("api_keys_required", ("auth", "required")),
    ("redis_url", ("redis", "url")),
    ("cache_max_memory_mb", ("cache", "unified", "max_memory_mb")),
    ("memory_threshold_mb", ("memory", "threshold_mb")),
    ("response_cache_ttl", ("caching", "response_cache", "ttl")),
    ("response_cache_size", ("cache", "unified", "max_size")),
)


def apply_env_overrides(raw: dict[str, Any], overrides: EnvOverrides) -> None:
    """Write every variable that is set over the raw config tree (in place)."""
    for field, path in _TARGETS:
        value = getattr(overrides, field)
        if value is not None:
            set_path(raw, path, value)
    if overrides.redis_url is not None:
        set_path(raw, ("redis", "enabled"), True)  # REDIS_URL alone turns Redis on
    if overrides.log_json_format is not None:
        set_path(raw, ("logging", "format"), "json" if overrides.log_json_format else "text")
    if overrides.log_max_size is not None:
        set_path(raw, ("logging", "max_file_size"), overrides.log_max_size * 1024**2)
    if overrides.otlp_endpoint is not None:
        # The standard OpenTelemetry variable alone turns tracing and OTLP export on.
        set_path(raw, ("telemetry", "otlp", "endpoint"), overrides.otlp_endpoint)
        set_path(raw, ("telemetry", "otlp", "enabled"), True)
        set_path(raw, ("telemetry", "enabled"), True)
    providers = raw.get("providers")
    for provider in providers if isinstance(providers, list) else []:
        if not isinstance(provider, dict):
            continue
        if overrides.provider_timeout is not None:
            provider["timeout"] = overrides.provider_timeout
        if overrides.provider_retries is not None:
            provider.pop("max_retries", None)
            provider["retry_attempts"] = overrides.provider_retries


def set_path(raw: dict[str, Any], path: tuple[str, ...], value: Any, *, keep: bool = False) -> None:
    """Set ``raw[a][b] = value``, creating blocks; ``keep`` leaves an existing value alone.

    A block that is not a mapping is left for validation to report.
    """
    node = raw
    for key in path[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            return
        node = child
    if keep:
        node.setdefault(path[-1], value)
    else:
        node[path[-1]] = value
