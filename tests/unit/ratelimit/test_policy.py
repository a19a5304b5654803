"""Which buckets a request draws from, as the ``rate_limit`` blocks configure them."""

from __future__ import annotations

from typing import Any

import pytest

from proxyapi.config.loader import validate_config
from proxyapi.config.models import Config
from proxyapi.ratelimit.base import Bucket
from proxyapi.ratelimit.bucket import Limit
from proxyapi.ratelimit.policy import ClientPolicy, canonical_route, provider_buckets

CHAT = "/v1/chat/completions"
CLIENT = "203.0.113.9"


def provider(name: str = "p", kind: str = "openai", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "type": kind,
        "api_key_env": "K",
        "models": ["m"],
        "base_url": "http://127.0.0.1:9",
        **extra,
    }


def config(providers: list[dict[str, Any]] | None = None, **blocks: Any) -> Config:
    return validate_config({"providers": providers or [provider()], **blocks})


def policy(**blocks: Any) -> ClientPolicy:
    return ClientPolicy(config(**blocks))


def test_nothing_configured_limits_nothing() -> None:
    nothing = policy()
    assert not nothing.limits_anything
    assert nothing.buckets(CHAT, CLIENT, "abc") == []


def test_the_global_window_makes_one_bucket_shared_by_everyone() -> None:
    shared = policy(rate_limit={"requests_per_window": 120, "window_seconds": 60})
    expected = [Bucket("global", Limit(capacity=120.0, rate=2.0), "global")]
    assert shared.limits_anything
    assert shared.buckets(CHAT, CLIENT, None) == expected
    assert shared.buckets("/v1/embeddings", "198.51.100.1", "xyz") == expected


def test_the_window_defaults_to_a_minute() -> None:
    shared = policy(rate_limit={"requests_per_window": 30})
    assert shared.buckets(CHAT, CLIENT, None)[0].limit == Limit(capacity=30.0, rate=0.5)


def test_the_global_burst_limit_sizes_the_bucket_but_keeps_the_rate() -> None:
    shared = policy(
        rate_limit={"requests_per_window": 600, "window_seconds": 60, "burst_limit": 20}
    )
    assert shared.buckets(CHAT, CLIENT, None)[0].limit == Limit(capacity=20.0, rate=10.0)


@pytest.mark.parametrize(
    ("rate", "limit"),
    [
        ("500/minute", Limit(500.0, 500 / 60)),
        ("10/second", Limit(10.0, 10.0)),
        ("100/hour", Limit(100.0, 100 / 3600)),
        ("1000/day", Limit(1000.0, 1000 / 86400)),
    ],
)
def test_a_route_rate_limits_that_route(rate: str, limit: Limit) -> None:
    routed = policy(rate_limit={"routes": {CHAT: rate}})
    assert routed.buckets(CHAT, CLIENT, None) == [Bucket(f"route:{CHAT}", limit, "route")]


def test_a_route_rate_applies_to_that_route_only() -> None:
    routed = policy(rate_limit={"routes": {CHAT: "500/minute"}})
    assert routed.buckets("/v1/embeddings", CLIENT, None) == []
    assert routed.buckets("/v1/models", CLIENT, None) == []


def test_chat_completions_without_v1_is_the_same_route() -> None:
    unversioned = policy(rate_limit={"routes": {"/chat/completions": "5/minute"}})
    versioned = policy(rate_limit={"routes": {CHAT: "5/minute"}})
    for routed in (unversioned, versioned):
        assert routed.buckets(CHAT, CLIENT, None) == routed.buckets(
            "/chat/completions", CLIENT, None
        )
        assert [b.key for b in routed.buckets("/chat/completions", CLIENT, None)] == [
            f"route:{CHAT}"
        ]


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/chat/completions", "/v1/chat/completions"),
        ("/completions", "/v1/completions"),
        ("/embeddings", "/v1/embeddings"),
        ("/models", "/v1/models"),
        ("/models/gpt-4o", "/v1/models/gpt-4o"),
        ("/v1/chat/completions", "/v1/chat/completions"),
        ("/health", "/health"),
        ("/api/stats", "/api/stats"),
    ],
)
def test_canonical_route_adds_v1_to_the_openai_aliases_only(path: str, route: str) -> None:
    assert canonical_route(path) == route


def test_ip_limits_are_off_while_the_block_is_absent() -> None:
    assert policy().ip_limit is None


def test_ip_limits_are_on_once_the_block_is_written() -> None:
    per_ip = policy(rate_limit={"ip_limits": {"requests_per_minute": 30, "burst_limit": 5}})
    assert per_ip.limits_anything
    assert per_ip.buckets(CHAT, CLIENT, None) == [
        Bucket(f"ip:{CLIENT}", Limit(capacity=5.0, rate=0.5), "ip")
    ]
    assert per_ip.buckets(CHAT, "198.51.100.1", None)[0].key == "ip:198.51.100.1"


def test_ip_limits_written_but_disabled_limit_nothing() -> None:
    off = policy(rate_limit={"ip_limits": {"enabled": False, "requests_per_minute": 30}})
    assert not off.limits_anything
    assert off.buckets(CHAT, CLIENT, None) == []


def test_a_request_without_a_client_address_has_no_ip_bucket() -> None:
    assert policy(rate_limit={"ip_limits": {}}).buckets(CHAT, "", None) == []


def test_a_whitelisted_address_is_exempt_from_every_client_bucket() -> None:
    whitelisted = policy(
        rate_limit={
            "requests_per_window": 10,
            "routes": {CHAT: "5/minute"},
            "ip_limits": {"whitelist": ["10.0.0.0/8", "2001:db8::/32"]},
            "user_limits": {"requests_per_minute": 5},
        },
        authentication={"rate_limiting": {"global_limit": 100}},
    )
    assert whitelisted.buckets(CHAT, "10.20.30.40", "abc") == []
    assert whitelisted.buckets(CHAT, "2001:db8::1", "abc") == []
    assert [b.scope for b in whitelisted.buckets(CHAT, CLIENT, "abc")] == [
        "global",
        "global",
        "route",
        "ip",
        "key",
    ]


def test_the_whitelist_applies_even_with_the_ip_limit_disabled() -> None:
    listed = policy(
        rate_limit={
            "requests_per_window": 10,
            "ip_limits": {"enabled": False, "whitelist": ["10.0.0.0/8"]},
        }
    )
    assert listed.buckets(CHAT, "10.1.1.1", None) == []
    assert len(listed.buckets(CHAT, CLIENT, None)) == 1


def test_the_blacklist_is_read_into_a_network_list() -> None:
    listed = policy(rate_limit={"ip_limits": {"enabled": False, "blacklist": ["192.0.2.0/24"]}})
    assert "192.0.2.7" in listed.blacklist
    assert CLIENT not in listed.blacklist


def test_user_limits_make_a_bucket_per_key_id() -> None:
    per_key = policy(rate_limit={"user_limits": {"requests_per_minute": 120, "burst_limit": 10}})
    assert per_key.buckets(CHAT, CLIENT, "abc123") == [
        Bucket("key:abc123", Limit(capacity=10.0, rate=2.0), "key")
    ]
    assert per_key.buckets(CHAT, CLIENT, "def456")[0].key == "key:def456"


def test_user_limits_need_a_key_to_count_by() -> None:
    per_key = policy(rate_limit={"user_limits": {"requests_per_minute": 120}})
    assert per_key.buckets(CHAT, CLIENT, None) == []


def test_user_limits_are_off_while_the_block_is_absent() -> None:
    assert policy().key_limit is None


def test_rate_limit_enabled_false_turns_every_limit_off() -> None:
    off = policy(
        rate_limit={
            "enabled": False,
            "requests_per_window": 10,
            "routes": {CHAT: "5/minute"},
            "ip_limits": {"requests_per_minute": 5},
            "user_limits": {"requests_per_minute": 5},
        },
        authentication={"rate_limiting": {"global_limit": 100, "route_limits": {CHAT: 5}}},
    )
    assert not off.limits_anything
    assert off.buckets(CHAT, CLIENT, "abc") == []


def test_seed_000_rate_limiting_adds_per_minute_global_and_route_buckets() -> None:
    seeded = policy(
        authentication={
            "rate_limiting": {"global_limit": 600, "route_limits": {"/chat/completions": 60}}
        }
    )
    assert seeded.limits_anything
    assert seeded.buckets(CHAT, CLIENT, None) == [
        Bucket("auth-global", Limit(capacity=600.0, rate=10.0), "global"),
        Bucket(f"auth-route:{CHAT}", Limit(capacity=60.0, rate=1.0), "route"),
    ]
    assert seeded.buckets("/v1/embeddings", CLIENT, None) == [
        Bucket("auth-global", Limit(capacity=600.0, rate=10.0), "global")
    ]


def test_seed_000_rate_limiting_can_be_switched_off_in_its_block() -> None:
    off = policy(authentication={"rate_limiting": {"enabled": False, "global_limit": 600}})
    assert not off.limits_anything


def test_both_seeds_limits_on_one_route_are_separate_buckets() -> None:
    both = policy(
        rate_limit={"routes": {CHAT: "100/minute"}},
        authentication={"rate_limiting": {"route_limits": {CHAT: 60}}},
    )
    assert [b.key for b in both.buckets(CHAT, CLIENT, None)] == [
        f"route:{CHAT}",
        f"auth-route:{CHAT}",
    ]


def test_no_provider_is_limited_unless_configured() -> None:
    assert provider_buckets(config()) == {}


def test_a_providers_own_rate_limit_is_per_hour() -> None:
    limited = config([provider("a", rate_limit=120), provider("b")])
    assert provider_buckets(limited) == {
        "a": (Bucket("provider-hour:a", Limit(capacity=120.0, rate=120 / 3600), "provider"),)
    }


def test_rate_limit_providers_by_name_is_per_minute_with_the_count_as_burst() -> None:
    limited = config(
        [provider("a"), provider("b")],
        rate_limit={"providers": {"a": {"requests_per_minute": 30}}},
    )
    assert provider_buckets(limited) == {
        "a": (Bucket("provider:a", Limit(capacity=30.0, rate=0.5), "provider"),)
    }


def test_rate_limit_providers_burst_limit_sizes_the_bucket() -> None:
    limited = config(
        rate_limit={"providers": {"p": {"requests_per_minute": 120, "burst_limit": 4}}}
    )
    assert provider_buckets(limited)["p"] == (
        Bucket("provider:p", Limit(capacity=4.0, rate=2.0), "provider"),
    )


def test_rate_limit_providers_by_type_applies_to_each_provider_of_that_type() -> None:
    limited = config(
        [provider("a", "openai"), provider("b", "openai"), provider("c", "anthropic")],
        rate_limit={"providers": {"openai": {"requests_per_minute": 60}}},
    )
    assert sorted(provider_buckets(limited)) == ["a", "b"]
    assert provider_buckets(limited)["b"] == (
        Bucket("provider:b", Limit(capacity=60.0, rate=1.0), "provider"),
    )


def test_a_providers_name_wins_over_its_type() -> None:
    limited = config(
        [provider("a", "openai")],
        rate_limit={
            "providers": {"openai": {"requests_per_minute": 60}, "a": {"requests_per_minute": 6}}
        },
    )
    assert provider_buckets(limited)["a"][0].limit == Limit(capacity=6.0, rate=0.1)


def test_a_provider_can_draw_from_its_hourly_and_per_minute_buckets_together() -> None:
    limited = config(
        [provider("a", rate_limit=1000)],
        rate_limit={"providers": {"a": {"requests_per_minute": 60}}},
        authentication={"rate_limiting": {"provider_limits": {"openai": 30}}},
    )
    assert provider_buckets(limited)["a"] == (
        Bucket("provider-hour:a", Limit(capacity=1000.0, rate=1000 / 3600), "provider"),
        Bucket("provider:a", Limit(capacity=60.0, rate=1.0), "provider"),
        Bucket("auth-provider:a", Limit(capacity=30.0, rate=0.5), "provider"),
    )


def test_provider_limits_are_off_when_rate_limit_is_disabled() -> None:
    off = config(
        [provider("a", rate_limit=120)],
        rate_limit={"enabled": False, "providers": {"a": {"requests_per_minute": 30}}},
    )
    assert provider_buckets(off) == {}
