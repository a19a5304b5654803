"""The configuration schema: one pydantic model per ``config.yaml`` block, rooted at ``Config``.

Models are plain data: no I/O, no environment lookups (the loader does those).
They are mutable pydantic models only so ``Config`` can finish provider
defaults that depend on other blocks; treat a loaded ``Config`` as read-only.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal, Self

from pydantic import (
    Field,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from proxyapi.config._fields import Count, IpNetwork, Port, Positive, Seconds, Section
from proxyapi.config._merge import problem, validate_collecting
from proxyapi.config.access import AuthConfig, AuthenticationConfig
from proxyapi.config.caching import CacheConfig, CachingConfig, RedisConfig
from proxyapi.config.observability import (
    HealthCheckConfig,
    LoggingConfig,
    MemoryConfig,
    MetricsConfig,
    TelemetryConfig,
)
from proxyapi.config.prompts import CondensationConfig, TemplatesConfig
from proxyapi.config.provider import ProviderConfig
from proxyapi.config.testing import ChaosEngineeringConfig, LoadTestingConfig
from proxyapi.config.traffic import CircuitBreakerConfig, RateLimitConfig, ValidationConfig

__all__ = [
    "AppConfig",
    "AuthConfig",
    "AuthenticationConfig",
    "CacheConfig",
    "CachingConfig",
    "ChaosEngineeringConfig",
    "CircuitBreakerConfig",
    "CondensationConfig",
    "Config",
    "Environment",
    "HealthCheckConfig",
    "HttpClientConfig",
    "LoadTestingConfig",
    "LoggingConfig",
    "MemoryConfig",
    "MetricsConfig",
    "ProviderConfig",
    "RateLimitConfig",
    "RedisConfig",
    "ServerConfig",
    "TelemetryConfig",
    "TemplatesConfig",
    "ValidationConfig",
    "cross_provider_problems",
]

Environment = Literal["development", "staging", "production"]


def _package_version() -> str:
    try:
        return version("proxyapi")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0.1.0"


class AppConfig(Section):
    name: str = "ProxyAPI"
    version: str = Field(default_factory=_package_version)
    environment: Environment = "development"
    debug: bool = False
    model_selections_file: str = Field(
        default="config/model_selections.json",
        description="Each provider's selected default model (JSON, seed 004's format; "
        "written by PUT /api/model-selections/{provider}, re-read when edited by hand); "
        "a relative path is relative to the working directory",
    )

    @field_validator("environment", mode="before")
    @classmethod
    def _lower_environment(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


class ServerConfig(Section):
    """How the gateway listens (``server:``)."""

    host: str = "127.0.0.1"
    port: Port = 8000
    debug: bool = False
    reload: bool = False
    workers: Positive = 1
    worker_class: str = "uvicorn.workers.UvicornWorker"
    max_requests: Count = 1000
    max_requests_jitter: Count = 50
    cors_origins: list[str] = Field(default_factory=list)
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    trusted_proxies: list[IpNetwork] = Field(
        default_factory=list,
        description="CIDRs of reverse proxies whose X-Forwarded-For is believed",
    )
    client_timeout: Seconds = 60.0

    @model_validator(mode="after")
    def _ssl_pair(self) -> Self:
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise PydanticCustomError(
                "ssl_pair", "ssl_certfile and ssl_keyfile must be set together"
            )
        return self


class HttpClientConfig(Section):
    """Defaults for the upstream connection pools (``http_client:``)."""

    timeout: Seconds = 30.0
    connect_timeout: Seconds = 10.0
    max_connections: Positive = 2000
    max_keepalive_connections: Count = 200
    keepalive_expiry: float = Field(30.0, ge=0)
    retry_attempts: Count = 3
    retry_backoff_factor: float = Field(0.5, ge=0)


class Config(Section):
    """The whole gateway configuration (``config.yaml``)."""

    # Top-level blocks the seeds mention that this version does not act on.
    tolerated_keys = frozenset({"network_simulation", "alerting"})

    app: AppConfig = Field(default_factory=AppConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    authentication: AuthenticationConfig = Field(default_factory=AuthenticationConfig)
    providers: list[ProviderConfig]
    model_overrides: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="model name -> default request parameters"
    )
    caching: CachingConfig = Field(default_factory=CachingConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    redis: RedisConfig = Field(default_factory=RedisConfig)
    rate_limit: RateLimitConfig = Field(default_factory=RateLimitConfig)
    circuit_breaker: CircuitBreakerConfig = Field(default_factory=CircuitBreakerConfig)
    http_client: HttpClientConfig = Field(default_factory=HttpClientConfig)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    condensation: CondensationConfig = Field(default_factory=CondensationConfig)
    memory: MemoryConfig = Field(default_factory=MemoryConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    health_check: HealthCheckConfig = Field(default_factory=HealthCheckConfig)
    chaos_engineering: ChaosEngineeringConfig = Field(default_factory=ChaosEngineeringConfig)
    load_testing: LoadTestingConfig = Field(default_factory=LoadTestingConfig)
    templates: TemplatesConfig = Field(default_factory=TemplatesConfig)

    @field_validator("providers", mode="wrap")
    @classmethod
    def _check_across_providers(
        cls, value: Any, handler: ValidatorFunctionWrapHandler
    ) -> list[ProviderConfig]:
        """Check names, priorities and fallbacks on the raw list, beside per-item errors."""
        extra = cross_provider_problems(value) if isinstance(value, list) else []
        result: list[ProviderConfig] = validate_collecting(handler, value, extra, "providers")
        return result

    @model_validator(mode="after")
    def _require_keys(self) -> Self:
        hashed = self.authentication.api_keys
        if self.auth.required and not (
            self.auth.api_keys or (hashed.enabled and hashed.hashed_keys)
        ):
            raise PydanticCustomError(
                "keys_required",
                "auth.required (API_KEYS_REQUIRED) is true but no client API key is configured "
                "(auth.api_keys, authentication.api_keys.hashed_keys or PROXY_API_PROXY_API_KEYS)",
            )
        return self

    @model_validator(mode="after")
    def _finish_providers(self) -> Self:
        """Rank omitted priorities after the explicit ones; default omitted timeouts."""
        explicit = [p.priority for p in self.providers if "priority" in p.model_fields_set]
        next_rank = max(explicit, default=0) + 1
        for provider in self.providers:
            if "priority" not in provider.model_fields_set:
                provider.priority = next_rank
                next_rank += 1
            if "timeout" not in provider.model_fields_set:
                provider.timeout = self.http_client.timeout
            # Pool sizes and retries: the provider's own value, else an http_client
            # value the operator set (file or HTTP_* variables), else the provider default.
            for name in _INHERITED_POOL_FIELDS:
                inherited = name in self.http_client.model_fields_set
                if inherited and name not in provider.model_fields_set:
                    setattr(provider, name, getattr(self.http_client, name))
        return self


_INHERITED_POOL_FIELDS = (
    "max_connections",
    "max_keepalive_connections",
    "keepalive_expiry",
    "retry_attempts",
)


def cross_provider_problems(items: list[Any]) -> list[InitErrorDetails]:
    """Duplicate names, duplicate explicit priorities and dangling ``fallback_provider``s."""
    entries = [(i, raw) for i, item in enumerate(items) if (raw := _as_raw(item)) is not None]
    names = {item["name"] for _, item in entries if isinstance(item.get("name"), str)}
    seen_names: set[str] = set()
    seen_priorities: dict[int, str] = {}
    found: list[InitErrorDetails] = []
    for index, item in entries:
        name, priority, fallback = (
            item.get("name"),
            item.get("priority"),
            item.get("fallback_provider"),
        )
        if isinstance(name, str):
            if name in seen_names:
                found.append(
                    problem("unique", "Provider names must be unique", (index, "name"), name)
                )
            seen_names.add(name)
        if isinstance(priority, int) and not isinstance(priority, bool):
            if priority in seen_priorities:
                other = seen_priorities[priority]
                reason = (
                    f"Provider priorities must be unique ({priority} is also used by {other!r})"
                )
                found.append(problem("unique", reason, (index, "priority"), priority))
            seen_priorities.setdefault(priority, str(name))
        if isinstance(fallback, str) and fallback not in names:
            reason = f"{fallback!r} is not the name of a configured provider"
            found.append(problem("fallback", reason, (index, "fallback_provider"), fallback))
        elif isinstance(fallback, str) and fallback == name:
            reason = "a provider cannot fall back to itself"
            found.append(problem("fallback", reason, (index, "fallback_provider"), fallback))
    found.extend(_fallback_cycles(entries))
    return found


def _fallback_cycles(entries: list[tuple[int, dict[str, Any]]]) -> list[InitErrorDetails]:
    """``a -> b -> a``: a chain of fallback_provider that never ends is refused."""
    fallback_of = {
        item["name"]: item["fallback_provider"]
        for _, item in entries
        if isinstance(item.get("name"), str) and isinstance(item.get("fallback_provider"), str)
    }
    found: list[InitErrorDetails] = []
    for index, item in entries:
        start = item.get("name")
        if not isinstance(start, str) or fallback_of.get(start) in (None, start):
            continue
        chain, current = [start], fallback_of[start]
        while current in fallback_of and current not in chain:
            chain.append(current)
            current = fallback_of[current]
        if current == start:
            cycle = " -> ".join([*chain, start])
            reason = f"fallback_provider chains must end; this one loops: {cycle}"
            found.append(problem("fallback", reason, (index, "fallback_provider"), start))
    return found


def _as_raw(item: Any) -> dict[str, Any] | None:
    # Providers built in code arrive as models; only explicit priorities count.
    if isinstance(item, ProviderConfig):
        return item.model_dump(include=item.model_fields_set | {"name", "fallback_provider"})
    return item if isinstance(item, dict) else None
