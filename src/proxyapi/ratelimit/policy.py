"""Which buckets a request draws from, read once from the ``rate_limit`` blocks.

Client scopes (seed 004 ``rate_limit``, seed 000 ``authentication.rate_limiting``):

=========  ======================================  ==============================
scope      configured by                           bucket per
=========  ======================================  ==============================
global     requests_per_window / window_seconds    gateway (all clients together)
route      routes: {"/v1/chat/completions": ...}   route (all clients together)
ip         ip_limits                               client address
key        user_limits                             API key
=========  ======================================  ==============================

Provider scopes: a provider's own ``rate_limit`` (requests per hour) and
``rate_limit.providers.<name or type>`` (per minute, with burst); a bucket per
provider. With the Redis backend every bucket is shared by all gateway processes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, TypeVar

from proxyapi.config.models import Config, ProviderConfig
from proxyapi.config.units import parse_rate
from proxyapi.pipeline.peer import NetworkList
from proxyapi.ratelimit.base import Bucket
from proxyapi.ratelimit.bucket import Limit

T = TypeVar("T")

MINUTE: Final = 60.0
HOUR: Final = 3600.0
# The unprefixed aliases OpenAI SDKs reach when base_url lacks /v1.
_UNVERSIONED: Final = ("/chat/completions", "/completions", "/embeddings", "/models")


def canonical_route(path: str) -> str:
    """``/chat/completions`` and ``/v1/chat/completions`` are one route for limits."""
    if path.startswith(_UNVERSIONED) and not path.startswith("/v1/"):
        return "/v1" + path
    return path


class ClientPolicy:
    """The client scopes of one configuration."""

    def __init__(self, config: Config) -> None:
        limits = config.rate_limit
        legacy = config.authentication.rate_limiting
        self.enabled = limits.enabled
        self.fixed: list[Bucket] = []
        if limits.requests_per_window is not None:
            shape = Limit.per_window(
                limits.requests_per_window, limits.window_seconds, limits.burst_limit
            )
            self.fixed.append(Bucket("global", shape, "global"))
        if legacy.enabled and legacy.global_limit is not None:
            self.fixed.append(
                Bucket("auth-global", Limit.per_window(legacy.global_limit, MINUTE), "global")
            )
        self.routes: dict[str, list[Bucket]] = {}
        for path, rate in limits.routes.items():
            count, seconds = parse_rate(rate)
            self._add_route(path, "route", Limit.per_window(count, seconds))
        if legacy.enabled:
            for path, count in legacy.route_limits.items():
                self._add_route(path, "auth-route", Limit.per_window(count, MINUTE))
        ip = limits.ip_limits
        self.ip_limit = (
            Limit.per_window(ip.requests_per_minute, MINUTE, ip.burst_limit) if ip.enabled else None
        )
        self.whitelist = NetworkList(ip.whitelist)
        self.blacklist = NetworkList(ip.blacklist)
        user = limits.user_limits
        self.key_limit = (
            Limit.per_window(user.requests_per_minute, MINUTE, user.burst_limit)
            if user.enabled
            else None
        )

    def _add_route(self, path: str, prefix: str, shape: Limit) -> None:
        route = canonical_route(path)
        self.routes.setdefault(route, []).append(Bucket(f"{prefix}:{route}", shape, "route"))

    @property
    def limits_anything(self) -> bool:
        return self.enabled and bool(self.fixed or self.routes or self.ip_limit or self.key_limit)

    def buckets(self, route: str, ip: str, key_id: str | None) -> list[Bucket]:
        """The buckets a request to ``route`` from ``ip`` with key ``key_id`` draws from."""
        if not self.enabled or (self.whitelist and ip in self.whitelist):
            return []
        found = list(self.fixed)
        found.extend(self.routes.get(canonical_route(route), ()))
        if self.ip_limit is not None and ip:
            found.append(Bucket(f"ip:{ip}", self.ip_limit, "ip"))
        if self.key_limit is not None and key_id is not None:
            found.append(Bucket(f"key:{key_id}", self.key_limit, "key"))
        return found


def provider_buckets(config: Config) -> dict[str, tuple[Bucket, ...]]:
    """Provider name -> the buckets each call to it draws from (only limited providers)."""
    if not config.rate_limit.enabled:
        return {}
    found: dict[str, tuple[Bucket, ...]] = {}
    legacy = config.authentication.rate_limiting
    for provider in config.providers:
        buckets: list[Bucket] = []
        if provider.rate_limit is not None:
            hourly = Limit.per_window(provider.rate_limit, HOUR)
            buckets.append(Bucket(f"provider-hour:{provider.name}", hourly, "provider"))
        block = _by_name_or_type(config.rate_limit.providers, provider)
        if block is not None:
            shape = Limit.per_window(block.requests_per_minute, MINUTE, block.burst_limit)
            buckets.append(Bucket(f"provider:{provider.name}", shape, "provider"))
        count = _by_name_or_type(legacy.provider_limits, provider) if legacy.enabled else None
        if count is not None:
            shape = Limit.per_window(count, MINUTE)
            buckets.append(Bucket(f"auth-provider:{provider.name}", shape, "provider"))
        if buckets:
            found[provider.name] = tuple(buckets)
    return found


def _by_name_or_type(table: Mapping[str, T], provider: ProviderConfig) -> T | None:
    """A provider's entry: by its name, else by its type (the seeds key both ways)."""
    if provider.name in table:
        return table[provider.name]
    return table.get(provider.type)
