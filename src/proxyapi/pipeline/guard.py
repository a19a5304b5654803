"""The door: who may come in (API keys, address lists) and how often (rate limits).

Runs before a request's body is read, so a refused client costs almost nothing:
blacklisted address 403, missing or wrong key 401 (one answer for both, so a
prober learns nothing), over a limit 429 with ``Retry-After``. Admitted
requests carry the ``X-RateLimit-*`` headers of their tightest bucket.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from typing import Final

from starlette.types import Scope

from proxyapi.config.models import Config
from proxyapi.errors import (
    AuthenticationFailed,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServiceUnavailable,
    whole_seconds,
)
from proxyapi.keys import KeyDigest, find_key
from proxyapi.pipeline.caching import KEY_ID
from proxyapi.pipeline.peer import NetworkList, client_ip
from proxyapi.ratelimit.limiter import BackendUnavailable, Outcome, RateLimiter
from proxyapi.ratelimit.policy import ClientPolicy

logger = logging.getLogger("proxyapi.auth")

Headers = list[tuple[bytes, bytes]]

INVALID_KEY: Final = (
    "Invalid or missing API key. Send it as 'Authorization: Bearer <key>' "
    "or in the {header} header."
)
_AUTHORIZATION: Final = b"authorization"
CLIENT_IP: Final = "proxyapi.client_ip"  # the scope key of the client's address, once known
_SCOPE_NAMES: Final = {
    "global": "the gateway's global limit",
    "route": "the limit on this route",
    "ip": "the limit for your address",
    "key": "the limit for your API key",
}


def bearer_token(value: bytes) -> bytes | None:
    """The token of ``Bearer <token>`` (scheme case-insensitive), else None."""
    if len(value) > 7 and value[:7].lower() == b"bearer ":
        return value[7:].strip() or None
    return None


class Guard:
    """Authentication and client rate limits of one configuration."""

    def __init__(self, config: Config, limiter: RateLimiter) -> None:
        auth = config.auth
        hashed = config.authentication.api_keys
        client_keys: list[KeyDigest] = list(auth.api_keys)
        names = {auth.header_name.lower()}
        if hashed.enabled and hashed.hashed_keys:
            client_keys += hashed.hashed_keys
            names.add(hashed.header_name.lower())
        self.header_label = auth.header_name
        self.key_headers = frozenset(n.encode("latin-1") for n in names) - {_AUTHORIZATION}
        self.admin_keys = tuple(auth.admin_keys)
        self.client_keys = tuple(client_keys)
        self.requires_key = bool(self.client_keys)
        # Admin keys open client routes too; client keys never open admin routes.
        self.accepted = self.client_keys + self.admin_keys
        self.policy = ClientPolicy(config)
        self.trusted = NetworkList(config.server.trusted_proxies)
        self.limiter = limiter
        names_block = config.rate_limit.headers
        self.header_names: tuple[bytes, bytes, bytes] | None = (
            (
                names_block.limit.lower().encode("latin-1"),
                names_block.remaining.lower().encode("latin-1"),
                names_block.reset.lower().encode("latin-1"),
            )
            if names_block.enabled
            else None
        )
        self.retry_after_name = names_block.retry_after
        self.checks_anything = (
            self.requires_key or self.policy.limits_anything or bool(self.policy.blacklist)
        )
        self.auth_failures = 0

    async def admit(self, scope: Scope) -> Headers:
        """Let a client request in, or raise why not; returns the rate-limit headers."""
        if not self.checks_anything:
            return []
        ip = client_ip(scope, self.trusted)
        scope[CLIENT_IP] = ip
        if self.policy.blacklist and ip in self.policy.blacklist:
            raise PermissionDenied("Requests from your address are not allowed.")
        key_id = None
        if self.requires_key:
            key = self._presented(scope, self.accepted)
            if key is None:
                self.auth_failures += 1
                raise AuthenticationFailed(INVALID_KEY.format(header=self.header_label))
            key_id = key.id
            scope[KEY_ID] = key_id  # the response cache scopes entries by it
        buckets = self.policy.buckets(scope["path"], ip, key_id)
        if not buckets:
            return []
        try:
            outcome = await self.limiter.check(buckets)
        except BackendUnavailable:
            raise ServiceUnavailable(
                "Rate limits cannot be checked right now; retry shortly."
            ) from None
        if outcome is None:
            return []  # fail open: the limiter is unreachable, the numbers unknown
        headers = self._headers(outcome)
        if not outcome.allowed:
            wait = whole_seconds(outcome.retry_after)
            text = {k.decode("latin-1"): v.decode("latin-1") for k, v in headers}
            text[self.retry_after_name] = str(wait)
            raise RateLimited(
                f"Rate limit exceeded ({_SCOPE_NAMES.get(outcome.scope, outcome.scope)}: "
                f"{outcome.limit} requests); retry after {wait} s.",
                retry_after=outcome.retry_after,
                headers=text,
                scope=outcome.scope,
            )
        return headers

    def require_admin(self, scope: Scope) -> None:
        """Admin routes: off (404) without admin keys; else only an admin key opens them."""
        if not self.admin_keys:
            raise NotFound(f"Unknown path: {scope['method']} {scope['path']}")
        if self._presented(scope, self.admin_keys) is None:
            self.auth_failures += 1
            raise AuthenticationFailed(INVALID_KEY.format(header=self.header_label))

    def _presented(self, scope: Scope, digests: Iterable[KeyDigest]) -> KeyDigest | None:
        """The configured digest matching the request's key, if any.

        The key header wins over ``Authorization: Bearer``; either is enough.
        """
        named: bytes | None = None
        bearer: bytes | None = None
        for name, value in scope["headers"]:
            if name in self.key_headers:
                named = named or value.strip() or None
            elif name == _AUTHORIZATION:
                bearer = bearer or bearer_token(value)
        presented = named or bearer
        return find_key(presented, digests) if presented else None

    def _headers(self, outcome: Outcome) -> Headers:
        if self.header_names is None:
            return []
        limit, left, reset = self.header_names
        return [
            (limit, str(outcome.limit).encode()),
            (left, str(outcome.remaining).encode()),
            (reset, str(math.ceil(outcome.reset_after)).encode()),
        ]
