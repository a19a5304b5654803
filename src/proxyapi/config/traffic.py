"""Blocks that shape incoming and outgoing traffic: rate limits, circuit breakers, validation."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from proxyapi.config._fields import ByteSize, IpNetwork, Positive, Rate, Seconds, Section


class ProviderRateLimit(Section):
    """Limit on calls to one provider (``rate_limit.providers.<name or type>``)."""

    requests_per_minute: Positive = 60
    burst_limit: Positive | None = Field(
        None, description="bucket size; omitted: the per-minute count"
    )


class IpLimits(Section):
    """Per client address. The lists apply whenever set; the limit when ``enabled``."""

    enabled: bool = Field(
        True, description="default true once the block is written; the block is off when absent"
    )
    requests_per_minute: Positive = 100
    burst_limit: Positive | None = Field(
        None, description="bucket size; omitted: the per-minute count"
    )
    whitelist: list[IpNetwork] = Field(default_factory=list, description="never rate-limited")
    blacklist: list[IpNetwork] = Field(default_factory=list, description="always refused (403)")


class UserLimits(Section):
    """Per API key (needs ``auth`` keys: without them there is no key to count by)."""

    enabled: bool = Field(
        True, description="default true once the block is written; the block is off when absent"
    )
    requests_per_minute: Positive = 500
    burst_limit: Positive | None = Field(
        None, description="bucket size; omitted: the per-minute count"
    )


class RateLimitHeaders(Section):
    """Names of the rate-limit response headers."""

    enabled: bool = True
    limit: str = "X-RateLimit-Limit"
    remaining: str = "X-RateLimit-Remaining"
    reset: str = "X-RateLimit-Reset"
    retry_after: str = "Retry-After"


class RateLimitConfig(Section):
    """Limits on the gateway's clients and on its calls to providers (``rate_limit:``).

    Every limit is a token bucket: it holds ``burst_limit`` tokens (by default the
    whole window's count) and refills steadily at count / window. A scope is on
    only when configured: the gateway does not throttle anyone by surprise.
    """

    enabled: bool = True
    requests_per_window: Positive | None = Field(
        None, description="the whole gateway, every client together; omitted: no global limit"
    )
    window_seconds: Positive = 60
    burst_limit: Positive | None = Field(
        None, description="global bucket size; omitted: requests_per_window"
    )
    routes: dict[str, Rate] = Field(
        default_factory=dict, description='route path -> rate such as "500/minute"'
    )
    providers: dict[str, ProviderRateLimit] = Field(default_factory=dict)
    ip_limits: IpLimits = Field(default_factory=lambda: IpLimits(enabled=False))
    user_limits: UserLimits = Field(default_factory=lambda: UserLimits(enabled=False))
    headers: RateLimitHeaders = Field(default_factory=RateLimitHeaders)
    fail_open: bool = Field(
        True,
        description="when the Redis backend is unreachable: admit (true) or refuse with 503",
    )


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


Direction = Literal["request", "response"]
DIRECTIONS: tuple[Direction, ...] = ("request", "response")


class ContentFilterRule(Section):
    """One rule: keywords match whole words, case-insensitively; patterns as written."""

    type: Literal["keyword", "regex"]
    keywords: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list)
    action: Literal["block", "redact", "flag"] = "block"
    """Not in the seed. block: a request gets 400 `content_filter`, an answer ends with
    `finish_reason: content_filter`; redact: the match is replaced by `mask`; flag:
    passed, logged by rule name (never the matched text) and counted."""
    name: str | None = None
    """Not in the seed. The rule in logs and metrics; `rule-<index>` when unset."""
    mask: str = "***"
    """Not in the seed. What a `redact` rule puts in place of a match."""
    applies_to: list[Direction] = Field(default_factory=lambda: list(DIRECTIONS))
    """Not in the seed. Screen requests (every role's text, tool arguments), answers, or both."""

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
    max_hold_back: Positive = 256
    """Not in the seed. On streams, the most characters held back so that a match split
    across chunks is still caught: the longest match the rules allow, capped here
    (patterns with `*` or `+` are unbounded)."""


class ValidationConfig(Section):
    """Request and response checks (``validation:``); sizes are bytes after loading."""

    enabled: bool = True
    request: RequestValidation = Field(default_factory=RequestValidation)
    response: ResponseValidation = Field(default_factory=ResponseValidation)
    content_filter: ContentFilter = Field(default_factory=ContentFilter)
