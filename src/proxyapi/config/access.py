"""Who may call the gateway: ``auth:`` (seed 004) and ``authentication:`` (seed 000).

Keys are hashed while the configuration is validated: a loaded ``Config`` holds
``KeyDigest`` objects, never a plaintext key (see proxyapi/keys.py).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, PlainSerializer, PlainValidator, WithJsonSchema, field_validator
from pydantic_core import PydanticCustomError

from proxyapi.config._fields import Positive, Section
from proxyapi.keys import KeyDigest

_SHA256_PATTERN = r"^[0-9a-fA-F]{64}$"


def _hash_plain(value: Any) -> KeyDigest:
    if isinstance(value, KeyDigest):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError(
            "key_type",
            "an API key must be a string (quote it in YAML), not {t}",
            {"t": type(value).__name__},
        )
    return KeyDigest.of(value)


def _from_hex(value: Any) -> KeyDigest:
    if isinstance(value, KeyDigest):
        return value
    try:
        return KeyDigest.from_hex(value) if isinstance(value, str) else _not_hex(value)
    except ValueError:
        return _not_hex(value)


def _not_hex(value: Any) -> KeyDigest:
    # The value is not shown: a plaintext key put here by mistake must not be echoed.
    raise PydanticCustomError(
        "sha256",
        "is not a sha256 hex digest (64 hex characters; `proxyapi keys hash KEY` prints one)",
    )


def _serialize(digest: KeyDigest) -> str:
    return f"sha256:{digest.hex}"


PlainKey = Annotated[
    KeyDigest,
    PlainValidator(_hash_plain),
    PlainSerializer(_serialize, return_type=str),
    WithJsonSchema({"type": "string", "minLength": 1}, mode="validation"),
]
"""A plaintext key in the file; its SHA-256 digest once validated."""

HashedKey = Annotated[
    KeyDigest,
    PlainValidator(_from_hex),
    PlainSerializer(_serialize, return_type=str),
    WithJsonSchema({"type": "string", "pattern": _SHA256_PATTERN}, mode="validation"),
]
"""A SHA-256 hex digest in the file (``proxyapi keys hash KEY`` prints one)."""


def _key_list(keys: object) -> list[Any]:
    """A list of keys; one bare string is a list of one (``api_keys: "${API_KEY}"``).

    Blank entries are dropped: an unset ``${API_KEY_ENV}`` substitutes to "", and
    an empty key must never be accepted. Errors never quote the value: it is a key.
    """
    if isinstance(keys, str):
        keys = [keys]
    if not isinstance(keys, list):
        raise PydanticCustomError(
            "key_list", "must be a list of keys, not {t}", {"t": type(keys).__name__}
        )
    return [k.strip() if isinstance(k, str) else k for k in keys if not _is_blank(k)]


def _is_blank(key: object) -> bool:
    return isinstance(key, str) and not key.strip()


class JwtAuth(Section):
    enabled: bool = False
    secret_key: str | None = None
    algorithm: str = "HS256"
    expiration_hours: Positive = 24


class OAuth2Auth(Section):
    enabled: bool = False
    provider: str = "google"
    client_id: str | None = None
    client_secret: str | None = None


class AuthConfig(Section):
    """Client authentication (``auth:``): on when any client key is configured.

    ``admin_keys`` open ``/api/*`` and ``/debug/*`` (off while empty); they are
    accepted on client routes too. A client key never opens the admin surface.
    """

    api_keys: list[PlainKey] = Field(default_factory=list)
    required: bool = Field(
        False, description="refuse to start without a client key (API_KEYS_REQUIRED)"
    )
    header_name: str = Field("X-API-Key", min_length=1)
    admin_keys: list[PlainKey] = Field(default_factory=list)
    jwt: JwtAuth = Field(default_factory=JwtAuth)
    oauth2: OAuth2Auth = Field(default_factory=OAuth2Auth)

    _keys = field_validator("api_keys", "admin_keys", mode="before")(_key_list)


class HashedApiKeys(Section):
    enabled: bool = True
    header_name: str = Field("X-API-Key", min_length=1)
    hashed_keys: list[HashedKey] = Field(
        default_factory=list, description="sha256 hex digests of accepted keys"
    )

    _keys = field_validator("hashed_keys", mode="before")(_key_list)


class AuthRateLimiting(Section):
    """Seed 000's limits, per minute: the whole gateway, each provider, each route."""

    enabled: bool = Field(
        True, description="default true once the block is written; the block is off when absent"
    )
    global_limit: Positive | None = None
    provider_limits: dict[str, Positive] = Field(default_factory=dict)
    route_limits: dict[str, Positive] = Field(default_factory=dict)


class AuthenticationConfig(Section):
    """Seed 000's ``authentication:`` block (hashed keys, per-minute limits)."""

    api_keys: HashedApiKeys = Field(default_factory=HashedApiKeys)
    rate_limiting: AuthRateLimiting = Field(default_factory=lambda: AuthRateLimiting(enabled=False))
