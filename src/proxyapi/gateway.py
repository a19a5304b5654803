"""The Gateway: everything the request path needs, built from one validated Config.

It owns the providers' deployments, adapters and connection pools, the routing
table and the model-discovery cache. Nothing lives in module globals: a hot
reload builds a new Gateway and swaps it in whole, while requests already in
flight finish on the old one (DESIGN.md, "State and lifetimes").
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from proxyapi.cache.pressure import PressureWatcher
from proxyapi.cache.setup import build_cache
from proxyapi.cache.unified import UnifiedCache
from proxyapi.cache.warming import Warmer
from proxyapi.config.models import Config, ProviderConfig
from proxyapi.observability.alerts import Alerter
from proxyapi.observability.metrics import Metrics
from proxyapi.observability.monitor import Monitor
from proxyapi.observability.tracing import SpanExporter, Tracing
from proxyapi.pipeline.caching import ResponseCache
from proxyapi.pipeline.content_filter import ContentFilter
from proxyapi.pipeline.guard import Guard
from proxyapi.pipeline.response_checks import ResponseChecks
from proxyapi.prompts import PromptStore
from proxyapi.providers.base import Deployment, ProviderAdapter
from proxyapi.providers.registry import load_adapter
from proxyapi.ratelimit.base import Backend, Bucket
from proxyapi.ratelimit.limiter import BACKEND_ERRORS, RateLimiter
from proxyapi.ratelimit.memory import MemoryBackend
from proxyapi.ratelimit.policy import provider_buckets
from proxyapi.ratelimit.redis import RedisBackend
from proxyapi.resilience import (
    CircuitBreaker,
    RetryPolicy,
    RetryStats,
    breaker_settings_for,
    retry_policy_for,
)
from proxyapi.resilience.chaos import ChaosMonkey
from proxyapi.selections import ModelSelections
from proxyapi.transport.client import PoolSettings, UpstreamClient
from proxyapi.transport.redis import RedisPipe

logger = logging.getLogger("proxyapi.gateway")

MODELS_TTL_SECONDS = 300.0
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Candidate:
    """One place a request may go: the deployment, its adapter, pool, breaker and retries."""

    deployment: Deployment
    adapter: ProviderAdapter
    client: UpstreamClient
    breaker: CircuitBreaker
    retry: RetryPolicy
    retry_stats: RetryStats
    quota: tuple[Bucket, ...] = ()  # the gateway's own limits on calls to this provider


def build_deployment(provider: ProviderConfig, environ: Mapping[str, str]) -> Deployment:
    api_key = environ.get(provider.api_key_env) if provider.api_key_env else None
    return Deployment(
        name=provider.name,
        type=provider.type,
        base_url=provider.base_url.rstrip("/"),
        api_key=api_key or None,
        models=tuple(provider.models),
        priority=provider.priority,
        timeout=float(provider.timeout),
        headers=dict(provider.headers),
        drop_params=provider.drop_params,
        deployments=dict(provider.deployments),
        api_version=provider.api_version,
    )


def skip_reason(provider: ProviderConfig, environ: Mapping[str, str]) -> str | None:
    """Why an enabled provider cannot be used, or None when it can."""
    if provider.api_key_env and not environ.get(provider.api_key_env):
        if provider.type == "openai_compatible":
            return None  # Local servers (vLLM, Ollama, llama.cpp) often need no key.
        return f"environment variable {provider.api_key_env} is not set"
    return None


class Gateway:
    """Providers, pools, routing and caches of one configuration."""

    def __init__(
        self,
        config: Config,
        environ: Mapping[str, str] | None = None,
        *,
        metrics: Metrics | None = None,
        span_exporter: SpanExporter | None = None,
        previous: Gateway | None = None,
    ) -> None:
        """Build everything ``config`` describes; with ``previous`` (a reload), keep its
        state where it still means the same thing: the caches and Redis connection when
        their settings are unchanged, and the pool, breaker and retry counters of every
        provider whose settings are unchanged.
        """
        environ = os.environ if environ is None else environ
        self.config = config
        # Requests being answered by this Gateway; a retired one closes at zero.
        self.active = 0
        self.retired = False
        self._drained = asyncio.Event()
        self._adopted: set[int] = set()  # ids of objects taken over from ``previous``
        self._handed_over: set[int] = set()  # ids of objects a newer Gateway took over
        # The process's metrics (they outlive a Gateway); None when metrics.enabled is false.
        self.metrics = metrics
        self.tracing = (
            Tracing(config.telemetry, version=config.app.version, exporter=span_exporter)
            if config.telemetry.enabled
            else None
        )
        alerting = config.metrics.alerting
        self.alerter: Alerter | None = None
        if alerting.enabled and alerting.webhook_url and metrics:
            if previous is not None and previous.config.metrics.alerting == alerting:
                # The same alerter: an alert firing before the reload resolves after it.
                self.alerter = self._adopt(previous, previous.alerter)
            if self.alerter is None:
                self.alerter = Alerter(alerting, min_hold=alerting.min_hold)
        self._previous = previous
        self.started_at = time.time()
        self.ready = False
        self.skipped: dict[str, str] = {}
        self.candidates_by_name: dict[str, Candidate] = {}
        self.model_overrides: dict[str, dict[str, Any]] = {
            model: dict(params) for model, params in config.model_overrides.items()
        }
        self.configured_models = frozenset(m for p in config.providers for m in p.models)
        # Prompt templates (POST /v1/prompts/{name}/completions); None when disabled.
        self.prompts = PromptStore(config.templates) if config.templates.enabled else None
        # Each provider's default model ("model": "openai"), re-read when the file changes.
        self.selections = ModelSelections(Path(config.app.model_selections_file))
        # Shared state across processes when redis.enabled (or REDIS_URL); memory otherwise.
        same_redis = previous is not None and previous.config.redis == config.redis
        self.redis: RedisPipe | None
        self.limiter: RateLimiter
        self.cache: UnifiedCache
        if previous is not None and same_redis:
            self.redis = self._adopt(previous, previous.redis)
        else:
            self.redis = RedisPipe(config.redis) if config.redis.enabled else None
        if (
            previous is not None
            and same_redis
            and previous.config.rate_limit.fail_open == config.rate_limit.fail_open
        ):
            # Buckets are keyed by their shape: a changed limit starts afresh by itself.
            self.limiter = self._adopt(previous, previous.limiter)
        else:
            backend: Backend = (
                RedisBackend(self.redis, config.redis.key_prefix)
                if self.redis is not None
                else MemoryBackend()
            )
            self.limiter = RateLimiter(
                backend,
                fail_open=config.rate_limit.fail_open,
                retry_interval=config.redis.retry_interval,
            )
        self.guard = Guard(config, self.limiter)
        if previous is not None and same_redis and _same_cache_settings(previous.config, config):
            self.cache = self._adopt(previous, previous.cache)
        else:
            self.cache = build_cache(config, self.redis)
        # Model discovery (seed 002's models:{provider}:{base_url}, 5 minutes) lives in
        # the unified cache's memory layer: per process, cleared by DELETE /api/cache.
        self.models_cache = self.cache.memory
        self.warmer = Warmer(self.cache, config.caching.warming)
        self.pressure = PressureWatcher(self.cache.memory, config.memory)
        self.responses = (
            ResponseCache(
                self.cache,
                per_key=config.caching.scope == "per_key",
                default_ttl=float(config.caching.response_cache.ttl),
                # Tracking holds a refetcher per answer: only worth it when warming runs.
                warmer=self.warmer if config.caching.warming.enabled else None,
            )
            if config.caching.enabled
            else None
        )
        # validation.response and validation.content_filter; None when off.
        checking = config.validation.enabled
        self.response_checks = ResponseChecks(config.validation.response) if checking else None
        self.content_filter = (
            ContentFilter.build(config.validation.content_filter, metrics) if checking else None
        )
        self.quotas = provider_buckets(config)
        for provider in sorted(config.providers, key=lambda p: p.priority):
            if not provider.enabled:
                continue
            reason = skip_reason(provider, environ)
            if reason is not None:
                self.skipped[provider.name] = reason
                continue
            self.candidates_by_name[provider.name] = self._build_candidate(
                provider, environ, previous
            )
        self.routes = self._build_routes()
        if metrics is not None:
            for candidate in self.candidates_by_name.values():
                candidate.breaker.on_change = metrics.record_breaker
        self.monitor = Monitor(self, metrics)
        # Off unless chaos_engineering.enabled; None keeps the request path free of it.
        self.chaos = (
            ChaosMonkey(config.chaos_engineering) if config.chaos_engineering.enabled else None
        )

    def _adopt(self, previous: Gateway, thing: T) -> T:
        """Take ``thing`` over from the Gateway this one replaces: it closes it no more."""
        if thing is not None:
            self._adopted.add(id(thing))
            previous._handed_over.add(id(thing))
        return thing

    def _owns(self, thing: object) -> bool:
        return id(thing) not in self._handed_over

    def _build_candidate(
        self, provider: ProviderConfig, environ: Mapping[str, str], previous: Gateway | None
    ) -> Candidate:
        kept = self._kept_candidate(provider, previous)
        if kept is not None:
            return Candidate(
                deployment=build_deployment(provider, environ),
                adapter=kept.adapter,
                client=self._adopt(previous, kept.client),  # type: ignore[arg-type]
                breaker=self._adopt(previous, kept.breaker),  # type: ignore[arg-type]
                retry=kept.retry,
                retry_stats=kept.retry_stats,
                quota=self.quotas.get(provider.name, ()),
            )
        pool = PoolSettings(
            max_connections=provider.max_connections,
            max_keepalive_connections=provider.max_keepalive_connections,
            keepalive_expiry=provider.keepalive_expiry,
            connect_timeout=float(self.config.http_client.connect_timeout),
        )
        return Candidate(
            deployment=build_deployment(provider, environ),
            adapter=load_adapter(provider.type),
            client=UpstreamClient(provider.name, pool),
            breaker=CircuitBreaker(
                provider.name, breaker_settings_for(provider.name, self.config.circuit_breaker)
            ),
            retry=retry_policy_for(provider, self.config.http_client),
            retry_stats=RetryStats(),
            quota=self.quotas.get(provider.name, ()),
        )

    def _kept_candidate(
        self, provider: ProviderConfig, previous: Gateway | None
    ) -> Candidate | None:
        """The previous Gateway's candidate for ``provider`` when nothing about it changed."""
        if previous is None:
            return None
        found = previous.candidates_by_name.get(provider.name)
        if found is None:
            return None
        before = previous.config
        old = next((p for p in before.providers if p.name == provider.name), None)
        unchanged = (
            old == provider
            and before.circuit_breaker == self.config.circuit_breaker
            and before.http_client == self.config.http_client
        )
        return found if unchanged else None

    def _build_routes(self) -> dict[str, tuple[Candidate, ...]]:
        """model -> the candidates serving it, lowest priority number first.

        A provider's explicit ``fallback_provider`` chain comes right after it
        (validation has refused cycles), then the next provider by priority.
        """
        by_model: dict[str, list[Candidate]] = {}
        for candidate in self.candidates_by_name.values():
            for model in candidate.deployment.models:
                by_model.setdefault(model, []).append(candidate)
        return {model: self._with_fallbacks(cands) for model, cands in by_model.items()}

    def _with_fallbacks(self, candidates: list[Candidate]) -> tuple[Candidate, ...]:
        fallback_of = {p.name: p.fallback_provider for p in self.config.providers}
        ordered: dict[str, Candidate] = {}
        for candidate in candidates:
            name: str | None = candidate.deployment.name
            while name is not None and name not in ordered:
                found = self.candidates_by_name.get(name)
                if found is None:
                    break  # disabled or without its key: the chain continues by priority
                ordered[name] = found
                name = fallback_of.get(name)
        return tuple(ordered.values())

    def candidates(self, model: str) -> tuple[Candidate, ...]:
        """Where ``model`` may go, in order; discovered models are a fallback."""
        found = self.routes.get(model)
        if found is not None:
            return found
        return self._discovered_candidates(model)

    def _discovered_candidates(self, model: str) -> tuple[Candidate, ...]:
        # A model a provider's own /models reported (listed by GET /v1/models) is
        # routable too, so nothing the gateway lists answers 404.
        found = [
            c
            for c in self.candidates_by_name.values()
            if model
            in (self.models_cache.get_now(models_cache_key(c.deployment), count=False) or ())
        ]
        return tuple(found)

    def apply_overrides(self, body: dict[str, Any]) -> None:
        """Fill in ``model_overrides`` defaults the client did not set itself."""
        overrides = self.model_overrides.get(body.get("model", ""))
        if not overrides:
            return
        for key, value in overrides.items():
            if key in body:
                continue
            if key == "max_tokens" and "max_completion_tokens" in body:
                continue  # OpenAI rejects both at once; the client's choice wins.
            body[key] = value

    async def start(self) -> None:
        for name, reason in self.skipped.items():
            logger.warning("provider %s skipped: %s", name, reason)
        if not self.candidates_by_name:
            logger.warning("no provider is usable: every request will answer 503")
        if self.redis is not None:
            await self._check_redis(self.redis)
        if id(self.cache) not in self._adopted:
            await self.cache.start()
        await self.pressure.start()
        if self.responses is not None:
            await self.warmer.start()
        previous, self._previous = self._previous, None  # not kept alive past start
        await self.monitor.start(previous.monitor if previous is not None else None)
        if not self.guard.requires_key:
            logger.warning(
                "\n%s\n  NO API KEYS ARE CONFIGURED: this gateway answers ANYONE who can reach it."
                "\n  Set auth.api_keys or PROXY_API_PROXY_API_KEYS (proxyapi keys generate).\n%s",
                "!" * 78,
                "!" * 78,
            )
        self.ready = True

    async def _check_redis(self, redis: RedisPipe) -> None:
        """Say at start-up whether Redis answers; a gateway starts either way (fail open)."""
        where = redis.where
        try:
            await redis.ping()
        except BACKEND_ERRORS as error:
            logger.warning(
                "Redis at %s is not reachable (%s); rate limits %s until it is",
                where,
                type(error).__name__,
                "are not enforced" if self.limiter.fail_open else "refuse every request",
            )
        else:
            logger.info("rate limits are shared through Redis at %s", where)

    def enter(self) -> None:
        """A request starts on this Gateway."""
        self.active += 1

    def leave(self) -> None:
        """A request ended; the last one out of a retired Gateway lets it close."""
        self.active -= 1
        if self.retired and self.active <= 0:
            self._drained.set()

    async def retire(self, grace: float) -> None:
        """Wait (up to ``grace`` seconds) for the requests still on this Gateway, then close.

        Called once a newer Gateway answers new requests; streams in flight finish here.
        """
        self.retired = True
        if self.active <= 0:
            self._drained.set()
        try:
            await asyncio.wait_for(self._drained.wait(), grace)
        except TimeoutError:
            logger.warning(
                "closing the previous configuration with %d requests still running", self.active
            )
        await self.close()

    async def close(self) -> None:
        self.ready = False
        await self.monitor.stop()
        if self.alerter is not None and self._owns(self.alerter):
            await self.alerter.close()
        await self.warmer.stop()
        await self.pressure.stop()
        if self.responses is not None:
            await self.responses.drain()
        if self._owns(self.cache):
            await self.cache.stop()
        for candidate in self.candidates_by_name.values():
            if self._owns(candidate.client):
                await candidate.client.close()
        if self._owns(self.limiter):
            await self.limiter.close()
        if self.redis is not None and self._owns(self.redis):
            await self.redis.close()
        if self.tracing is not None:
            await asyncio.to_thread(self.tracing.shutdown)  # flushes: blocking I/O


def _same_cache_settings(before: Config, after: Config) -> bool:
    return (
        before.caching == after.caching
        and before.cache == after.cache
        and before.memory == after.memory
    )


def models_cache_key(deployment: Deployment) -> str:
    """The model-discovery cache key of seed 002: ``models:{provider}:{base_url}``."""
    return f"models:{deployment.name}:{deployment.base_url}"
