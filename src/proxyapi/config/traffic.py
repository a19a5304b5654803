"""Blocks that shape incoming and outgoing traffic: rate limits, circuit breakers, validation."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from proxyapi.config._fields import ByteSize, Positive, Rate, Seconds, Section


class ProviderRateLimit(Section):
    """Limit on calls to one provider (``rate_limit.providers.<name>``)."""

    requests_per_minute: Positive = 60
    burst_limit: Positive = 10


class IpLimits(Section):
    enabled: bool = True
    requests_per_minute: Positive = 100
    whitelist: list[str] = Field(default_factory=list)
    blacklist: list[str] = Field(default_factory=list)


class UserLimits(Section):
    enabled: bool = True
    requests_per_minute: Positive = 500
    burst_limit: Positive = 20


class RateLimitHeaders(Section):
    """Names of the rate-limit response headers."""

    enabled: bool = True
    limit: str = "X-RateLimit-Limit"
    remaining: str = "X-RateLimit-Remaining"
    reset: str = "X-RateLimit-Reset"
    retry_after: str = "Retry-After"


class RateLimitConfig(Section):
    """Limits on the gateway's clients (``rate_limit:``)."""

    enabled: bool = True
    requests_per_window: Positive = 100
    window_seconds: Positive = 60
    burst_limit: Positive = 50
    routes: dict[str, Rate] = Field(
        default_factory=dict, description='route path -> rate such as "500/minute"'
    )
    providers: dict[str, ProviderRateLimit] = Field(default_factory=dict)
    ip_limits: IpLimits = Field(default_factory=IpLimits)
    user_limits: UserLimits = Field(default_factory=UserLimits)
    headers: RateLimitHeaders = Field(default_factory=RateLimitHeaders)


class BreakerOverride(Section):
    """Per-provider circuit breaker settings; unset fields use the global ones."""

    failure_threshold: Positive | None = None
    recovery_timeout: Seconds | None = None
    half_open_max_calls: Positive | None = None


class BreakerMonitoring(Section):
    enabled: bool = True
    metrics: bool = True
    alerts: bool = True


class CircuitBreakerConfig(Section):
    """Stop calling a failing provider for a while (``circuit_breaker:``)."""

    enabled: bool = True
    failure_threshold: Positive = 5
    recovery_timeout: Seconds = 60
    half_open_max_calls: Positive = 3
    expected_exception: str = "ProviderError"
    providers: dict[str, BreakerOverride] = Field(default_factory=dict)
    monitoring: BreakerMonitoring = Field(default_factory=BreakerMonitoring)


class RequestValidation(Section):
    max_body_size: ByteSize = 10 * 1024**2
    allowed_content_types: list[str] = Field(default_factory=lambda: ["application/json"])
    # The seed's example lists Content-Type and Authorization; requiring
    # Authorization by default would reject clients that authenticate with X-API-Key.
    required_headers: list[str] = Field(default_factory=list)


class ResponseValidation(Section):
    validate_schema: bool = True
    sanitize_output: bool = True
    max_response_size: ByteSize = 50 * 1024**2


class ContentFilterRule(Section):
    type: Literal["keyword", "regex"]
    keywords: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list)

    @field_validator("patterns")
    @classmethod
    def _compile(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise PydanticCustomError(
                    "regex",
                    "{p} is not a valid regular expression: {e}",
                    {"p": repr(pattern), "e": str(exc)},
                ) from None
        return patterns


class ContentFilter(Section):
    # Off by default: the seed's example keywords ("key", "password") would
    # block ordinary prompts if they were defaults.
    enabled: bool = False
    rules: list[ContentFilterRule] = Field(default_factory=list)


class ValidationConfig(Section):
    """Request and response checks (``validation:``); sizes are bytes after loading."""

    enabled: bool = True
    request: RequestValidation = Field(default_factory=RequestValidation)
    response: ResponseValidation = Field(default_factory=ResponseValidation)
    content_filter: ContentFilter = Field(default_factory=ContentFilter)
