"""Is this configuration ready for production? Seed 004's ``production_config.py`` check.

``check_production(config, environ)`` reads a loaded configuration and the
environment the gateway would run with, and returns findings: an ``info`` when
a rule is met, a ``warning`` or an ``error`` when it is not. It does no I/O and
never quotes a secret: client keys are compared as SHA-256 digests and named by
their id, a Redis URL is shown redacted, webhook URLs and provider keys are
never shown.

Severities (``proxyapi config check --production`` exits 1 on any error):

* ``error``: unsafe or broken as it stands: debug on, no client key, a
  documented example key, an admin key that is also a client key, a network
  interface without a key, plain HTTP on a network interface, CORS ``*``,
  several workers without Redis, inconsistent memory thresholds, an enabled
  provider without its key, no provider enabled.
* ``warning``: works, but below seed 004's production practice: not
  ``ENVIRONMENT=production``, ``auth.required`` off, no admin key, DEBUG or
  text logs, logged content, no client rate limit, rate limits without Redis,
  metrics, health checks, breakers or validation off, chaos on, one cache shared
  across keys, plain HTTP to a remote provider, a trusted proxy of ``0.0.0.0/0``.
* ``info``: the rule is met, or a note.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import urlsplit

from proxyapi.config.advice import has_client_keys
from proxyapi.config.caching import redact_url
from proxyapi.config.models import Config
from proxyapi.config.provider import KEYLESS_TYPES, ProviderConfig
from proxyapi.keys import KeyDigest
from proxyapi.observability.logging import log_format

__all__ = [
    "EXAMPLE_KEY_DIGESTS",
    "Finding",
    "Severity",
    "check_production",
    "format_finding",
    "is_loopback",
]

Severity = Literal["error", "warning", "info"]

ICONS: Final[Mapping[Severity, str]] = {"error": "❌", "warning": "⚠️ ", "info": "✅"}


@dataclass(frozen=True, slots=True)
class Finding:
    """One result of the check: ``path`` is the config key, ``hint`` what to change."""

    severity: Severity
    path: str
    message: str
    hint: str = ""


def format_finding(finding: Finding) -> str:
    """``❌ auth.api_keys: message (hint)``, as the CLI prints it."""
    hint = f" ({finding.hint})" if finding.hint else ""
    return f"{ICONS[finding.severity]} {finding.path}: {finding.message}{hint}"


# Client keys printed in seed 004, seed 000 and this project's README, and the
# usual placeholders: anyone who read them can use them.
_EXAMPLE_KEYS: Final = (
    "key1", "key2", "key3", "dev-key-123", "test-key-456", "prod-key-1", "prod-key-2",
    "prod-key-3", "staging-key-1", "staging-key-2", "prod-key-12345", "dev-key-67890",
    "your-api-key", "your-key", "api-key", "apikey", "changeme", "change-me", "secret",
    "password", "admin", "test", "demo", "123",
    "pxy-team-a-key", "pxy-team-b-key", "pxy-admin-key", "any-key-until-you-set-keys",
)  # fmt: skip
_EXAMPLE_DIGESTS_HEX: Final = (
    "3608bca1e44ea6c4d268eb6db02260269892c0b42b86bbf1e77a6fa16c3c9282",  # README hashed_keys
    "b7742d3c7e1f4a7d3b2c8f9e6a5d4c3b2a1f0e9d8c7b6a5d4e3f2a1b0c9d8e7f",  # seed 000
)
EXAMPLE_KEY_DIGESTS: Final = frozenset(
    [KeyDigest.of(key) for key in _EXAMPLE_KEYS]
    + [KeyDigest.from_hex(text) for text in _EXAMPLE_DIGESTS_HEX]
)
"""Digests of the client keys the documentation prints as examples."""

# Provider keys as seed 004's .env examples print them (plus any "your-..."/"...-here").
_EXAMPLE_PROVIDER_KEYS: Final = frozenset({
    "sk-your-key-here", "sk-ant-your-key-here", "sk-your-openai-key",
    "sk-ant-your-anthropic-key", "sk-staging-key", "sk-ant-staging-key", "sk-production-key",
    "sk-ant-production-key", "production-azure-key", "changeme",
})  # fmt: skip

_DEBUG_HINT: Final = "set it to false, or PROXY_API_DEBUG=false"
_REDIS_HINT: Final = "redis.enabled: true, or REDIS_URL=redis://host:6379/0"

Rule = Callable[[Config, Mapping[str, str]], Iterator[Finding]]


def check_production(config: Config, environ: Mapping[str, str]) -> list[Finding]:
    """Every rule's findings, in the order of ``_RULES``; ``environ`` is the gateway's."""
    return [finding for rule in _RULES for finding in rule(config, environ)]


def _debug(config: Config, environ: Mapping[str, str]) -> Iterator[Finding]:
    settings = (("app.debug", config.app.debug), ("server.debug", config.server.debug))
    for path, is_on in settings:
        if is_on:
            yield Finding("error", path, "is true: debug mode is for development", _DEBUG_HINT)
    if config.server.reload:
        yield Finding(
            "warning",
            "server.reload",
            "is true: workers restart whenever files change",
            "server.reload: false",
        )
    if not (config.app.debug or config.server.debug or config.server.reload):
        yield Finding("info", "app.debug", "debug and auto-reload are off")


def _environment(config: Config, environ: Mapping[str, str]) -> Iterator[Finding]:
    environment = config.app.environment
    if environment == "production":
        yield Finding("info", "app.environment", "production")
        return
    yield Finding(
        "warning",
        "app.environment",
        f"is {environment!r}: the production defaults (JSON logs at WARNING, debug off) "
        "do not apply",
        "app.environment: production, or ENVIRONMENT=production",
    )


def _client_keys(config: Config, environ: Mapping[str, str]) -> Iterator[Finding]:
    hashed = config.authentication.api_keys
    if has_client_keys(config):
        count = len(config.auth.api_keys) + (len(hashed.hashed_keys) if hashed.enabled else 0)
        yield Finding("info", "auth.api_keys", f"{count} client key(s)")
    else:
        yield Finding(
            "error",
            "auth.api_keys",
            "no client key: anyone who reaches the gateway can spend your provider credit",
            "set auth.api_keys or authentication.api_keys.hashed_keys, or "
            "PROXY_API_PROXY_API_KEYS; `proxyapi keys generate` makes a key",
        )
    if hashed.hashed_keys and not hashed.enabled:
        yield Finding(
            "warning",
            "authentication.api_keys.enabled",
            "is false: the keys in authentication.api_keys.hashed_keys are ignored",
            "authentication.api_keys.enabled: true, or remove them",
        )
    if config.auth.required:
        yield Finding("info", "auth.required", "the gateway refuses to start without a key")
    else:
        yield Finding(
            "warning",
            "auth.required",
            "is false: if the variable holding the keys is unset, the gateway starts open "
            "instead of refusing to start",
            "auth.required: true, or API_KEYS_REQUIRED=true",
        )


def _example_keys(config: Config, environ: Mapping[str, str]) -> Iterator[Finding]:
    lists = (
        ("auth.api_keys", config.auth.api_keys),
        ("auth.admin_keys", config.auth.admin_keys),
        ("authentication.api_keys.hashed_keys", config.authentication.api_keys.hashed_keys),
    )
    examples = [
        (f"{path}[{index}]", digest)
        for path, digests in lists
        for index, digest in enumerate(digests)
        if digest in EXAMPLE_KEY_DIGESTS
    ]
    for path, digest in examples:
        yield Finding(
            "error",
            path,
            f"key {digest.id} is an example from the documentation: anyone who read it can use it",
            "replace it with the output of `proxyapi keys generate`",
        )
    if not examples and any(digests for _, digests in lists):
        yield Finding("info", "auth", "no key is a documented example")


def _admin_keys(config: Config, environ: Mapping[str, str]) -> Iterator[Finding]:
    admin = config.auth.admin_keys
    if not admin:
        yield Finding(
            "warning",
            "auth.admin_keys",
            "no admin key: /api/* and /debug/* answer 404, so cache, key and rate-limit "
            "administration is unavailable",
            "set auth.admin_keys, or PROXY_API_ADMIN_KEYS",
        )
        return
    clients = set(config.auth.api_keys) | set(config.authentication.api_keys.hashed_keys)
    shared = [(index, digest) for index, digest in enumerate(admin) if digest in clients]
    for index, digest in shared:
        yield Finding(
            "error",
            f"auth.admin_keys[{index}]",
            f"key {digest.id} is also a client key: every client holding it is an admin",
            "give admins keys of their own",
        )
    if not shared:
        yield Finding("info", "auth.admin_keys", f"{len(admin)} admin key(s), none a client key")


def _exposure(config: Config, environ: Mapping[str, str]) -> Iterator[Finding]:
    host = config.server.host
    if is_loopback(host):
        yield Finding("info", "server.host", f"{host}: reachable from this machine only")
    elif has_client_keys(config):
        yield Finding("info", "server.host", f"{host}: every client route needs a key")
    else:
        yield Finding(
            "error",
            "server.host",
            f"{host} with no client key: the gateway is open to the network",
            "configure auth.api_keys, or bind to 127.0.0.1 (PROXY_API_HOST)",
        )


def _transport(config: Config, environ: Mapping[str, str]) -> Iterator[Finding]:
    server = config.server
    for network in server.trusted_proxies:
        if ipaddress.ip_network(network).prefixlen == 0:
            yield Finding(
                "warning",
                "server.trusted_proxies",
                f"{network} trusts every address: any client can forge X-Forwarded-For "
                "and dodge ip_limits and the blacklist",
                "list only your reverse proxies",
            )
    if server.ssl_certfile:
        yield Finding("info", "server.ssl_certfile", "TLS is served directly")
    elif server.trusted_proxies:
        yield Finding("info", "server.trusted_proxies", "TLS is left to the trusted reverse proxy")
    elif is_loopback(server.host):
        yield Finding(
            "warning",
            "server.trusted_proxies",
            f"plain HTTP on {server.host}: fine behind a local reverse proxy, but list it "
            "so client addresses are the real ones",
            "server.trusted_proxies: ['127.0.0.1'], or TRUSTED_PROXIES=127.0.0.1",
        )
    else:
        yield Finding(
            "error",
            "server.ssl_certfile",
            f"plain HTTP on {server.host}: keys and prompts cross the network unencrypted",
            "set server.ssl_certfile and ssl_keyfile, or terminate TLS in a reverse proxy "
            "listed in server.trusted_proxies; env: SSL_CERTFILE, SSL_KEYFILE, TRUSTED_PROXIES",
        )


def _cors(config: Config, environ: Mapping[str, str]) -> Iterator[Finding]:
    origins = config.server.cors_origins
    if not origins:
        yield Finding("info", "server.cors_origins", "no cross-origin browser access")
    elif "*" in origins:
        yield Finding(
            "error",
            "server.cors_origins",
            "contains '*': any web page can call the gateway from its visitors' browsers",
            "list your front ends: CORS_ORIGINS=https://app.example.com",
        )
    for origin in origins:
        if origin.startswith("http://") and not is_loopback(urlsplit(origin).hostname or ""):
            yield Finding(
                "warning", "server.cors_origins", f"{origin} is not HTTPS", "use https://"
            )


def _rate_limits(config: Config, environ: Mapping[str, str]) -> Iterator[Finding]:
    if not config.rate_limit.enabled:
        yield Finding(
            "warning",
            "rate_limit.enabled",
            "is false: no client is ever throttled",
            "rate_limit.enabled: true",
        )
        return
    clients = client_limit_paths(config)
    if clients:
        yield Finding("info", "rate_limit", "clients are limited by " + ", ".join(clients))
    else:
        yield Finding(
            "warning",
            "rate_limit",
            "no client rate limit: one client can use up the provider quota",
            "set rate_limit.requests_per_window, user_limits or ip_limits; "
            "or PROXY_API_RATE_LIMIT_REQUESTS",
        )


def _shared_state(config: Config, environ: Mapping[str, str]) -> Iterator[Finding]:
    workers = config.server.workers
    limits = client_limit_paths(config) + provider_limit_paths(config)
    if config.redis.enabled:
        where = redact_url(config.redis.connection_url())
        yield Finding("info", "redis.enabled", f"rate limits and cache are shared via {where}")
    elif workers > 1:
        kept = "cache"
        if limits:
            kept = f"rate-limit buckets (so a limit admits {workers}× as much) and cache"
        yield Finding(
            "error",
            "redis.enabled",
            f"is false with server.workers {workers}: each worker keeps its own {kept}",
            _REDIS_HINT,
        )
    elif limits:
        yield Finding(
            "warning",
            "redis.enabled",
            f"is false: {', '.join(limits)} count in this process only; several instances "
            "would each count their own",
            _REDIS_HINT,
        )
    else:
        yield Finding("info", "redis.enabled", "one worker and no rate limit: nothing to share")


def _cache_scope(config: Config, environ: Mapping[str, str]) -> Iterator[Finding]:
    caching = config.caching
    keys = set(config.auth.api_keys) | set(config.authentication.api_keys.hashed_keys)
    if caching.enabled and caching.scope == "global" and len(keys) > 1:
        yield Finding(
            "warning",
            "caching.scope",
            "is global with several client keys: a client can be served another's answer",
            "caching.scope: per_key",
        )


def _memory(config: Config, environ: Mapping[str, str]) -> Iterator[Finding]:
    memory = config.memory
    order = (
        ("memory.gc_threshold_percent", memory.gc_threshold_percent),
        ("memory.max_usage_percent", memory.max_usage_percent),
        ("memory.emergency_threshold_percent", memory.emergency_threshold_percent),
    )
    consistent = True
    for (path, value), (above, limit) in zip(order, order[1:], strict=False):
        if value >= limit:
            consistent = False
            yield Finding(
                "error",
                path,
                f"{value:g}% is not below {above} ({limit:g}%)",
                "keep gc_threshold_percent < max_usage_percent < emergency_threshold_percent",
            )
    cache_mb, limit_mb = config.cache.unified.max_memory_mb, memory.threshold_mb
    if config.cache.unified.enabled and limit_mb is not None and cache_mb >= limit_mb:
        consistent = False
        yield Finding(
            "error",
            "cache.unified.max_memory_mb",
            f"{cache_mb} MB is not below memory.threshold_mb ({limit_mb} MB): the cache "
            "alone would exceed the process's limit",
            "lower CACHE_MAX_MEMORY_MB or raise MEMORY_THRESHOLD_MB",
        )
    if consistent:
        yield Finding("info", "memory", "thresholds are consistent")


def _logging(config: Config, environ: Mapping[str, str]) -> Iterator[Finding]:
    level = config.logging.level
    if level == "DEBUG":
        yield Finding(
            "warning",
            "logging.level",
            "is DEBUG: verbose, and slow under load",
            "logging.level: WARNING or INFO, or LOG_LEVEL=WARNING",
        )
    else:
        yield Finding("info", "logging.level", level)
    if log_format(config) == "json":
        yield Finding("info", "logging.format", "JSON lines")
    else:
        yield Finding(
            "warning",
            "logging.format",
            "is text: log aggregators cannot parse it",
            "logging.format: json, or LOG_JSON_FORMAT=true",
        )
    if config.logging.log_content:
        yield Finding(
            "warning",
            "logging.log_content",
            "is true: prompts and answers are written to the logs",
            "logging.log_content: false",
        )


def _monitoring(config: Config, environ: Mapping[str, str]) -> Iterator[Finding]:
    metrics = config.metrics
    if not metrics.enabled:
        yield Finding(
            "warning",
            "metrics.enabled",
            "is false: no Prometheus metrics",
            "metrics.enabled: true, or METRICS_ENABLED=true",
        )
    elif metrics.prometheus.port is None and not is_loopback(config.server.host):
        yield Finding(
            "info",
            "metrics.prometheus.port",
            "metrics are served on the API port, without a key: restrict /metrics in your "
            "network policy",
            "or serve them apart with METRICS_PORT",
        )
    else:
        yield Finding("info", "metrics.enabled", "Prometheus metrics are on")
    # Whether a webhook is set, never which: its URL is a credential.
    if metrics.alerting.enabled and metrics.alerting.webhook_url:
        yield Finding("info", "metrics.alerting.webhook_url", "alerts go to the webhook")
    else:
        yield Finding(
            "info",
            "metrics.alerting.webhook_url",
            "no webhook alerts: use the monitoring kit's Prometheus rules",
            "or set ALERT_WEBHOOK_URL",
        )


def _safeguards(config: Config, environ: Mapping[str, str]) -> Iterator[Finding]:
    sections = (
        ("health_check.enabled", config.health_check.enabled, "a dead provider is found only "
         "by failing requests"),
        ("circuit_breaker.enabled", config.circuit_breaker.enabled, "a failing provider keeps "
         "being called"),
        ("validation.enabled", config.validation.enabled, "request bodies are not checked"),
    )  # fmt: skip
    for path, is_on, consequence in sections:
        if not is_on:
            yield Finding("warning", path, f"is false: {consequence}", f"{path}: true")
    if config.chaos_engineering.enabled:
        yield Finding(
            "warning",
            "chaos_engineering.enabled",
            "is true: faults are injected into real traffic",
            "chaos_engineering.enabled: false",
        )


def _providers(config: Config, environ: Mapping[str, str]) -> Iterator[Finding]:
    enabled = [(index, p) for index, p in enumerate(config.providers) if p.enabled]
    if not enabled:
        yield Finding("error", "providers", "no provider is enabled", "enabled: true on one")
    for index, provider in enabled:
        key = environ.get(provider.api_key_env, "") if provider.api_key_env else ""
        yield from _provider_key(f"providers[{index}].api_key_env", provider, key)
        parts = urlsplit(provider.base_url)
        if key and parts.scheme == "http" and not is_loopback(parts.hostname or ""):
            yield Finding(
                "warning",
                f"providers[{index}].base_url",
                f"{provider.name}: plain HTTP to {parts.hostname}: its key crosses the "
                "network unencrypted",
                "use https://",
            )


def _provider_key(path: str, provider: ProviderConfig, key: str) -> Iterator[Finding]:
    variable = provider.api_key_env
    if variable is None or (provider.type in KEYLESS_TYPES and not key):
        return  # No key needed (a local OpenAI-compatible server).
    if not key:
        yield Finding(
            "error",
            path,
            f"{provider.name}: {variable} is not set, so the provider would be skipped",
            f"export {variable}, or put it in .env",
        )
    elif _is_example_provider_key(key):
        yield Finding(
            "error",
            path,
            f"{provider.name}: {variable} holds an example value from the documentation",
            f"put the real key in {variable}",
        )
    else:
        yield Finding("info", path, f"{provider.name}: {variable} is set")


def _is_example_provider_key(value: str) -> bool:
    lowered = value.strip().lower()
    return lowered in _EXAMPLE_PROVIDER_KEYS or "your-" in lowered or lowered.endswith("-here")


_RULES: Final[tuple[Rule, ...]] = (
    _debug,
    _environment,
    _client_keys,
    _example_keys,
    _admin_keys,
    _exposure,
    _transport,
    _cors,
    _rate_limits,
    _shared_state,
    _cache_scope,
    _memory,
    _logging,
    _monitoring,
    _safeguards,
    _providers,
)


def client_limit_paths(config: Config) -> list[str]:
    """The client rate-limit scopes in effect (none while ``rate_limit.enabled`` is false)."""
    limits, legacy = config.rate_limit, config.authentication.rate_limiting
    scopes = (
        ("rate_limit.requests_per_window", limits.requests_per_window is not None),
        ("rate_limit.routes", bool(limits.routes)),
        ("rate_limit.ip_limits", limits.ip_limits.enabled),
        ("rate_limit.user_limits", limits.user_limits.enabled),
        (
            "authentication.rate_limiting",
            legacy.enabled and (legacy.global_limit is not None or bool(legacy.route_limits)),
        ),
    )
    return [path for path, is_set in scopes if is_set and limits.enabled]


def provider_limit_paths(config: Config) -> list[str]:
    """The limits on calls to providers in effect (none while ``rate_limit.enabled`` is false)."""
    if not config.rate_limit.enabled:
        return []
    legacy = config.authentication.rate_limiting
    paths = ["rate_limit.providers"] if config.rate_limit.providers else []
    if legacy.enabled and legacy.provider_limits:
        paths.append("authentication.rate_limiting.provider_limits")
    paths += [
        f"providers[{index}].rate_limit"
        for index, provider in enumerate(config.providers)
        if provider.rate_limit is not None
    ]
    return paths


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (``localhost``, 127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
