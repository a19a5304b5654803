"""Warnings about a valid configuration that probably does not do what was meant.

Not errors: the seeds' own examples name limits for providers a given file may
not have, and a gateway that starts is better than one that refuses over that.
"""

from __future__ import annotations

from proxyapi.config.models import Config


def find_advice(config: Config) -> list[str]:
    """One ``path: what is wrong`` line per suspicious setting."""
    return [*_dangling_provider_limits(config), *_user_limits_without_keys(config)]


def _dangling_provider_limits(config: Config) -> list[str]:
    names = {p.name for p in config.providers} | {p.type for p in config.providers}
    found = []
    for path, keys in (
        ("rate_limit.providers", config.rate_limit.providers),
        (
            "authentication.rate_limiting.provider_limits",
            config.authentication.rate_limiting.provider_limits,
        ),
    ):
        for key in keys:
            if key not in names:
                found.append(f"{path}.{key}: no provider has this name or type (limit ignored)")
    return found


def _user_limits_without_keys(config: Config) -> list[str]:
    limits = config.rate_limit
    if limits.enabled and limits.user_limits.enabled and not has_client_keys(config):
        return [
            "rate_limit.user_limits: no API keys are configured, so there is no key to "
            "count by (limit ignored)"
        ]
    return []


def has_client_keys(config: Config) -> bool:
    """Whether client authentication is on: any ``auth`` or ``authentication`` client key."""
    hashed = config.authentication.api_keys
    return bool(config.auth.api_keys or (hashed.enabled and hashed.hashed_keys))
