"""One upstream provider as configured under ``providers:``."""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Any, Final, Literal, get_args
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    Field,
    ModelWrapValidatorHandler,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from proxyapi.config._fields import Section
from proxyapi.config._merge import problem, validate_collecting

ProviderType = Literal[
    "openai",
    "anthropic",
    "azure_openai",
    "cohere",
    "perplexity",
    "grok",
    "blackbox",
    "openrouter",
    "google",
    "openai_compatible",
]
PROVIDER_TYPES: Final[tuple[str, ...]] = get_args(ProviderType)

RetryStrategy = Literal["exponential_backoff", "immediate_retry", "adaptive"]

# The public endpoint of each hosted provider, used when `base_url` is omitted.
DEFAULT_BASE_URLS: Final = MappingProxyType(
    {
        "openai": "https://api.openai.com/v1",
        "anthropic": "https://api.anthropic.com",
        "perplexity": "https://api.perplexity.ai",
        "grok": "https://api.x.ai/v1",
        "openrouter": "https://openrouter.ai/api/v1",
        "blackbox": "https://api.blackbox.ai",
        "cohere": "https://api.cohere.com",
        "google": "https://generativelanguage.googleapis.com",
    }
)
# A local OpenAI-compatible server (vLLM, Ollama, ...) often needs no key.
KEYLESS_TYPES: Final = frozenset({"openai_compatible"})

ENV_NAME_PATTERN: Final = r"^[A-Z][A-Z0-9_]*$"
_ENV_NAME = re.compile(ENV_NAME_PATTERN)


class RetryConfig(Section):
    """Fine-tuning of ``retry_strategy`` (seed: ``retry_config``)."""

    max_attempts: int = Field(3, ge=1)
    base_delay: float = Field(1.0, ge=0)
    max_delay: float = Field(60.0, ge=0)


class ProviderConfig(Section):
    """An upstream LLM provider: where it is, which models it serves, how to call it."""

    name: str = Field(min_length=1)
    type: ProviderType
    base_url: str = Field("", description="default: the provider type's public endpoint")
    api_key_env: str | None = Field(
        None,
        json_schema_extra={"pattern": ENV_NAME_PATTERN},
        description="name of the environment variable holding the provider key",
    )
    models: list[str] = Field(json_schema_extra={"minItems": 1})
    enabled: bool = True
    priority: int = Field(
        1000,
        ge=1,
        le=1000,
        description="lower is tried first; omitted: after every explicit priority, in list order",
    )
    timeout: float = Field(30.0, gt=0, description="seconds; omitted: http_client.timeout")
    # Unlimited unless set: the seed's 1000/hour default would throttle any busy gateway.
    rate_limit: int | None = Field(
        None, ge=1, description="requests per hour to this provider; omitted: no limit"
    )
    retry_attempts: int = Field(
        3, ge=0, validation_alias=AliasChoices("retry_attempts", "max_retries")
    )
    retry_delay: float = Field(1.0, ge=0)
    headers: dict[str, str] = Field(default_factory=dict)
    max_connections: int = Field(100, ge=1)
    max_keepalive_connections: int = Field(100, ge=0)
    keepalive_expiry: float = Field(30.0, ge=0)
    fallback_provider: str | None = None
    drop_params: bool = False
    retry_strategy: RetryStrategy | None = None
    retry_config: RetryConfig | None = None
    deployments: dict[str, str] = Field(
        default_factory=dict, description="Azure OpenAI: model name -> deployment name"
    )
    api_version: str | None = None

    @model_validator(mode="wrap")
    @classmethod
    def _fill_type_defaults(
        cls, data: Any, handler: ModelWrapValidatorHandler[ProviderConfig]
    ) -> ProviderConfig:
        """Default ``base_url`` by type and require what the type needs, with other errors."""
        if not isinstance(data, dict):
            return handler(data)
        data, missing = _apply_type_rules(data)
        result: ProviderConfig = validate_collecting(handler, data, missing, cls.__name__)
        return result

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        try:
            parts = urlsplit(value)
            is_http = parts.scheme in ("http", "https") and bool(parts.hostname)
        except ValueError:  # e.g. an unclosed IPv6 bracket
            is_http = False
        if not is_http:
            raise PydanticCustomError(
                "url", "{url} is not a valid http(s) URL", {"url": repr(value)}
            )
        return value.rstrip("/")

    @field_validator("api_key_env")
    @classmethod
    def _check_env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise PydanticCustomError(
                "env_name", "{name} must be UPPER_SNAKE_CASE", {"name": repr(value)}
            )
        return value

    @field_validator("models")
    @classmethod
    def _require_models(cls, value: list[str]) -> list[str]:
        if not value:
            raise PydanticCustomError("models", "at least one model is required")
        return value


def _apply_type_rules(data: dict[str, Any]) -> tuple[dict[str, Any], list[InitErrorDetails]]:
    kind = data.get("type")
    if kind not in PROVIDER_TYPES:
        return data, []
    missing: list[InitErrorDetails] = []
    if not data.get("base_url"):
        if kind in DEFAULT_BASE_URLS:
            data = {**data, "base_url": DEFAULT_BASE_URLS[kind]}
        else:
            reason = f"'base_url' is a required property for type '{kind}'"
            missing.append(problem("required", reason, (), data))
    if kind not in KEYLESS_TYPES and data.get("api_key_env") is None:
        reason = f"'api_key_env' is a required property for type '{kind}'"
        missing.append(problem("required", reason, (), data))
    return data, missing
