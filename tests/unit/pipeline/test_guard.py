"""The guard at the door: API keys, address lists and client rate limits on raw ASGI scopes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from clocks import FakeClock
from redis.exceptions import ConnectionError as RedisConnectionError
from starlette.types import Scope

from proxyapi.config.loader import validate_config
from proxyapi.errors import (
    AuthenticationFailed,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServiceUnavailable,
)
from proxyapi.keys import hash_key
from proxyapi.pipeline.guard import Guard, bearer_token
from proxyapi.ratelimit.base import Bucket, Verdict
from proxyapi.ratelimit.limiter import RateLimiter
from proxyapi.ratelimit.memory import MemoryBackend

CLIENT_KEY = "pxy-client-0123456789abcdef"
OTHER_KEY = "pxy-other-fedcba9876543210"
ADMIN_KEY = "pxy-admin-5555555555555555"
CHAT = "/v1/chat/completions"


class DownBackend:
    name = "redis"

    async def take(self, buckets: Sequence[Bucket], cost: float = 1.0) -> Verdict:
        raise RedisConnectionError("Connection refused")

    async def close(self) -> None:
        pass


def guard(
    clock: FakeClock | None = None, *, limiter: RateLimiter | None = None, **blocks: Any
) -> Guard:
    providers = [
        {
            "name": "p",
            "type": "openai",
            "api_key_env": "K",
            "models": ["m"],
            "base_url": "http://127.0.0.1:9",
        }
    ]
    config = validate_config({"providers": providers, **blocks})
    return Guard(config, limiter or RateLimiter(MemoryBackend(clock or FakeClock())))


def request(
    *headers: tuple[str, str], path: str = CHAT, method: str = "POST", ip: str = "203.0.113.9"
) -> Scope:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        "client": (ip, 5555),
    }


def api_key(key: str) -> tuple[str, str]:
    return ("X-API-Key", key)


def bearer(key: str) -> tuple[str, str]:
    return ("Authorization", f"Bearer {key}")


KEYED: dict[str, Any] = {"auth": {"api_keys": [CLIENT_KEY], "admin_keys": [ADMIN_KEY]}}


async def refusal(door: Guard, scope: Scope) -> AuthenticationFailed:
    with pytest.raises(AuthenticationFailed) as caught:
        await door.admit(scope)
    return caught.value


async def test_without_keys_or_limits_everyone_is_admitted_with_no_headers() -> None:
    door = guard()
    assert not door.checks_anything
    assert await door.admit(request()) == []


async def test_a_client_key_in_x_api_key_is_accepted() -> None:
    assert await guard(**KEYED).admit(request(api_key(CLIENT_KEY))) == []


async def test_a_client_key_as_a_bearer_token_is_accepted() -> None:
    door = guard(**KEYED)
    assert await door.admit(request(bearer(CLIENT_KEY))) == []
    assert await door.admit(request(("Authorization", f"bearer {CLIENT_KEY}"))) == []


async def test_a_custom_header_name_carries_the_key() -> None:
    door = guard(auth={"api_keys": [CLIENT_KEY], "header_name": "X-Gateway-Key"})
    assert await door.admit(request(("X-Gateway-Key", CLIENT_KEY))) == []
    await refusal(door, request(api_key(CLIENT_KEY)))


async def test_hashed_keys_from_seed_000_are_accepted() -> None:
    door = guard(authentication={"api_keys": {"hashed_keys": [hash_key(CLIENT_KEY)]}})
    assert door.requires_key
    assert await door.admit(request(api_key(CLIENT_KEY))) == []
    assert await door.admit(request(bearer(CLIENT_KEY))) == []
    await refusal(door, request(api_key(hash_key(CLIENT_KEY))))


async def test_hashed_keys_have_their_own_header_name() -> None:
    door = guard(
        authentication={
            "api_keys": {"header_name": "X-Auth-Token", "hashed_keys": [hash_key(CLIENT_KEY)]}
        }
    )
    assert await door.admit(request(("X-Auth-Token", CLIENT_KEY))) == []


async def test_disabled_hashed_keys_open_nothing() -> None:
    door = guard(
        authentication={"api_keys": {"enabled": False, "hashed_keys": [hash_key(CLIENT_KEY)]}}
    )
    assert not door.requires_key


async def test_a_wrong_key_and_a_missing_key_get_the_same_401() -> None:
    door = guard(**KEYED)
    wrong = await refusal(door, request(api_key(OTHER_KEY)))
    missing = await refusal(door, request())
    empty = await refusal(door, request(api_key("  "), ("Authorization", "Bearer ")))
    not_bearer = await refusal(door, request(("Authorization", f"Basic {CLIENT_KEY}")))
    assert wrong.message == missing.message == empty.message == not_bearer.message
    assert "X-API-Key" in wrong.message
    assert (wrong.http_status, wrong.error_code) == (401, "invalid_api_key")
    assert wrong.to_dict()["error"]["type"] == "authentication_error"
    assert door.auth_failures == 4


async def test_a_refused_key_is_not_echoed_back() -> None:
    refused = await refusal(guard(**KEYED), request(bearer(OTHER_KEY)))
    assert OTHER_KEY not in refused.to_json().decode()
    assert hash_key(OTHER_KEY)[:12] not in refused.to_json().decode()


async def test_the_key_header_wins_over_a_bearer_token() -> None:
    door = guard(**KEYED)
    await refusal(door, request(api_key(OTHER_KEY), bearer(CLIENT_KEY)))
    assert await door.admit(request(bearer(OTHER_KEY), api_key(CLIENT_KEY))) == []


async def test_admin_keys_open_client_routes() -> None:
    assert await guard(**KEYED).admit(request(api_key(ADMIN_KEY))) == []


async def test_admin_keys_alone_leave_client_routes_open() -> None:
    door = guard(auth={"admin_keys": [ADMIN_KEY]})
    assert not door.requires_key
    assert await door.admit(request()) == []


def test_admin_routes_are_not_found_without_admin_keys() -> None:
    door = guard(auth={"api_keys": [CLIENT_KEY]})
    with pytest.raises(NotFound) as caught:
        door.require_admin(request(api_key(CLIENT_KEY), path="/api/stats", method="GET"))
    assert caught.value.http_status == 404
    assert caught.value.message == "Unknown path: GET /api/stats"


def test_a_client_key_does_not_open_admin_routes() -> None:
    door = guard(**KEYED)
    with pytest.raises(AuthenticationFailed) as caught:
        door.require_admin(request(api_key(CLIENT_KEY), path="/api/stats"))
    assert caught.value.http_status == 401
    assert door.auth_failures == 1


def test_an_admin_key_opens_admin_routes() -> None:
    door = guard(**KEYED)
    door.require_admin(request(api_key(ADMIN_KEY), path="/api/stats"))
    door.require_admin(request(bearer(ADMIN_KEY), path="/debug/config"))


async def test_a_blacklisted_address_is_refused_with_403_even_with_a_key() -> None:
    door = guard(
        rate_limit={"ip_limits": {"enabled": False, "blacklist": ["203.0.113.0/24"]}}, **KEYED
    )
    for scope in (request(api_key(CLIENT_KEY)), request()):
        with pytest.raises(PermissionDenied) as caught:
            await door.admit(scope)
        assert (caught.value.http_status, caught.value.error_code) == (403, "permission_denied")
    assert await door.admit(request(api_key(CLIENT_KEY), ip="198.51.100.1")) == []


async def test_the_blacklist_is_applied_to_the_address_behind_a_trusted_proxy() -> None:
    door = guard(
        server={"trusted_proxies": ["10.0.0.0/8"]},
        rate_limit={"ip_limits": {"enabled": False, "blacklist": ["192.0.2.66"]}},
    )
    with pytest.raises(PermissionDenied):
        await door.admit(request(("X-Forwarded-For", "192.0.2.66"), ip="10.0.0.1"))
    assert await door.admit(request(("X-Forwarded-For", "192.0.2.66"), ip="198.51.100.1")) == []


async def test_admitted_requests_carry_the_rate_limit_headers(clock: FakeClock) -> None:
    door = guard(clock, rate_limit={"requests_per_window": 3, "window_seconds": 60})
    seen = [await door.admit(request()) for _ in range(3)]
    assert seen == [
        [
            (b"x-ratelimit-limit", b"3"),
            (b"x-ratelimit-remaining", left),
            (b"x-ratelimit-reset", reset),
        ]
        for left, reset in ((b"2", b"20"), (b"1", b"40"), (b"0", b"60"))
    ]


async def test_over_the_limit_is_a_429_with_retry_after_and_the_limit_headers(
    clock: FakeClock,
) -> None:
    door = guard(clock, rate_limit={"requests_per_window": 3, "window_seconds": 60})
    for _ in range(3):
        await door.admit(request())
    with pytest.raises(RateLimited) as caught:
        await door.admit(request())
    refused = caught.value
    assert (refused.http_status, refused.error_code) == (429, "rate_limit_exceeded")
    assert refused.retry_after == pytest.approx(20.0)
    assert refused.headers() == {
        "x-ratelimit-limit": "3",
        "x-ratelimit-remaining": "0",
        "x-ratelimit-reset": "60",
        "Retry-After": "20",
    }
    assert refused.message == (
        "Rate limit exceeded (the gateway's global limit: 3 requests); retry after 20 s."
    )


async def test_retry_after_is_rounded_up_to_whole_seconds(clock: FakeClock) -> None:
    door = guard(clock, rate_limit={"requests_per_window": 2, "window_seconds": 5})
    await door.admit(request())
    await door.admit(request())
    with pytest.raises(RateLimited) as caught:
        await door.admit(request())
    assert caught.value.retry_after == pytest.approx(2.5)
    assert caught.value.headers()["Retry-After"] == "3"


async def test_retry_after_is_at_least_one_second(clock: FakeClock) -> None:
    door = guard(clock, rate_limit={"requests_per_window": 10, "window_seconds": 1})
    for _ in range(10):
        await door.admit(request())
    with pytest.raises(RateLimited) as caught:
        await door.admit(request())
    assert caught.value.headers()["Retry-After"] == "1"


async def test_a_client_that_waits_retry_after_gets_in(clock: FakeClock) -> None:
    door = guard(clock, rate_limit={"requests_per_window": 2, "window_seconds": 5})
    await door.admit(request())
    await door.admit(request())
    with pytest.raises(RateLimited) as caught:
        await door.admit(request())
    clock.advance(int(caught.value.headers()["Retry-After"]))
    assert (b"x-ratelimit-remaining", b"0") in await door.admit(request())


async def test_the_headers_report_the_tightest_bucket(clock: FakeClock) -> None:
    door = guard(
        clock,
        rate_limit={
            "requests_per_window": 1000,
            "user_limits": {"requests_per_minute": 5},
        },
        **KEYED,
    )
    headers = dict(await door.admit(request(api_key(CLIENT_KEY))))
    assert headers[b"x-ratelimit-limit"] == b"5"
    assert headers[b"x-ratelimit-remaining"] == b"4"


async def test_each_key_has_its_own_allowance(clock: FakeClock) -> None:
    door = guard(
        clock,
        rate_limit={"user_limits": {"requests_per_minute": 2}},
        auth={"api_keys": [CLIENT_KEY, OTHER_KEY]},
    )
    for _ in range(2):
        await door.admit(request(api_key(CLIENT_KEY)))
    with pytest.raises(RateLimited):
        await door.admit(request(api_key(CLIENT_KEY)))
    assert await door.admit(request(api_key(OTHER_KEY)))


async def test_the_rate_limit_message_never_contains_the_key(clock: FakeClock) -> None:
    door = guard(clock, rate_limit={"user_limits": {"requests_per_minute": 1}}, **KEYED)
    await door.admit(request(bearer(CLIENT_KEY)))
    with pytest.raises(RateLimited) as caught:
        await door.admit(request(bearer(CLIENT_KEY)))
    shown = caught.value.to_json().decode() + repr(caught.value.headers())
    assert "the limit for your API key: 1 requests" in caught.value.message
    assert CLIENT_KEY not in shown
    assert hash_key(CLIENT_KEY)[:12] not in shown


async def test_each_address_has_its_own_allowance(clock: FakeClock) -> None:
    door = guard(clock, rate_limit={"ip_limits": {"requests_per_minute": 1}})
    await door.admit(request(ip="198.51.100.1"))
    with pytest.raises(RateLimited) as caught:
        await door.admit(request(ip="198.51.100.1"))
    assert "the limit for your address" in caught.value.message
    assert await door.admit(request(ip="198.51.100.2"))


async def test_a_whitelisted_address_gets_no_limit_and_no_headers(clock: FakeClock) -> None:
    door = guard(
        clock,
        rate_limit={"requests_per_window": 1, "ip_limits": {"whitelist": ["203.0.113.0/24"]}},
    )
    for _ in range(5):
        assert await door.admit(request()) == []


async def test_the_rate_limit_header_names_can_be_changed(clock: FakeClock) -> None:
    names = {
        "limit": "RateLimit-Limit",
        "remaining": "RateLimit-Remaining",
        "reset": "RateLimit-Reset",
        "retry_after": "X-Retry-In",
    }
    door = guard(clock, rate_limit={"requests_per_window": 1, "headers": names})
    assert await door.admit(request()) == [
        (b"ratelimit-limit", b"1"),
        (b"ratelimit-remaining", b"0"),
        (b"ratelimit-reset", b"60"),
    ]
    with pytest.raises(RateLimited) as caught:
        await door.admit(request())
    assert caught.value.headers() == {
        "ratelimit-limit": "1",
        "ratelimit-remaining": "0",
        "ratelimit-reset": "60",
        "X-Retry-In": "60",
    }


async def test_disabled_headers_leave_only_retry_after_on_a_429(clock: FakeClock) -> None:
    door = guard(clock, rate_limit={"requests_per_window": 1, "headers": {"enabled": False}})
    assert await door.admit(request()) == []
    with pytest.raises(RateLimited) as caught:
        await door.admit(request())
    assert caught.value.headers() == {"Retry-After": "60"}


async def test_the_route_limit_counts_unversioned_aliases_together(clock: FakeClock) -> None:
    door = guard(clock, rate_limit={"routes": {CHAT: "2/minute"}})
    await door.admit(request(path="/chat/completions"))
    await door.admit(request(path=CHAT))
    with pytest.raises(RateLimited) as caught:
        await door.admit(request(path="/chat/completions"))
    assert "the limit on this route" in caught.value.message
    assert await door.admit(request(path="/v1/embeddings")) == []


async def test_an_unreachable_limiter_failing_open_admits_without_headers() -> None:
    limiter = RateLimiter(DownBackend(), fail_open=True)
    door = guard(limiter=limiter, rate_limit={"requests_per_window": 1})
    assert await door.admit(request()) == []
    assert await door.admit(request()) == []
    assert limiter.unjudged == 2


async def test_an_unreachable_limiter_failing_closed_is_a_503() -> None:
    limiter = RateLimiter(DownBackend(), fail_open=False)
    door = guard(limiter=limiter, rate_limit={"requests_per_window": 1})
    with pytest.raises(ServiceUnavailable) as caught:
        await door.admit(request())
    assert caught.value.http_status == 503
    assert caught.value.headers() == {"Retry-After": "1"}


async def test_the_key_is_checked_before_the_limits_are_spent(clock: FakeClock) -> None:
    door = guard(clock, rate_limit={"requests_per_window": 1}, **KEYED)
    for _ in range(3):
        await refusal(door, request(api_key(OTHER_KEY)))
    assert await door.admit(request(api_key(CLIENT_KEY)))


@pytest.mark.parametrize(
    ("value", "token"),
    [
        (b"Bearer abc", b"abc"),
        (b"BEARER abc", b"abc"),
        (b"Bearer   abc  ", b"abc"),
        (b"Bearer ", None),
        (b"Bearer    ", None),
        (b"Basic abc", None),
        (b"abc", None),
    ],
)
def test_bearer_token_reads_the_bearer_scheme_only(value: bytes, token: bytes | None) -> None:
    assert bearer_token(value) == token
