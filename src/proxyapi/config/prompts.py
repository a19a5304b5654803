"""Blocks that change prompts: context condensation and Jinja2 templates."""

from __future__ import annotations

from pydantic import Field

from proxyapi.config._fields import Positive, Probability, Seconds, Section


def _default_error_patterns() -> list[str]:
    return ["context length", "maximum context", "too long", "exceeds maximum"]


def _default_fallback_strategies() -> list[str]:
    return ["truncate", "secondary_provider", "skip_summarization"]


class CondensationMonitoring(Section):
    enabled: bool = True
    metrics: bool = True
    alerts: bool = True
    alert_threshold: Probability = 0.9


class CondensationConfig(Section):
    """Shrinking a conversation that exceeds a model's context (``condensation:``)."""

    enabled: bool = True
    max_tokens_default: Positive = 512
    error_keywords: list[str] = Field(
        default_factory=lambda: ["context_length_exceeded", "maximum context length"]
    )
    truncation_threshold: Positive = 8000
    summary_max_tokens: Positive = 512
    cache_size: Positive = 1000
    cache_ttl: Positive = 300
    cache_persist: bool = False
    adaptive_enabled: bool = True
    adaptive_factor: Probability = 0.5
    quality_threshold: Probability = 0.8
    parallel_providers: Positive = 1
    error_patterns: list[str] = Field(default_factory=_default_error_patterns)
    fallback_strategies: list[str] = Field(default_factory=_default_fallback_strategies)
    batch_size: Positive = 10
    concurrency_limit: Positive = 5
    timeout: Seconds = 30
    monitoring: CondensationMonitoring = Field(default_factory=CondensationMonitoring)


def _all_enabled(*names: str) -> dict[str, bool]:
    return dict.fromkeys(names, True)


class TemplatesConfig(Section):
    """Sandboxed Jinja2 prompt templates (``templates:``)."""

    enabled: bool = True
    directory: str = "templates"
    cache_size: Positive = 1000
    auto_reload: bool = False
    variables: dict[str, str] = Field(default_factory=dict)
    filters: dict[str, bool] = Field(
        default_factory=lambda: _all_enabled("json_encode", "base64_encode", "hash")
    )
    functions: dict[str, bool] = Field(
        default_factory=lambda: _all_enabled("now", "uuid", "random")
    )
