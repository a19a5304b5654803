"""Rate limits end to end, against both backends: memory (per process) and a real Redis.

Every test but the Redis outage ones runs twice through the ``backend``
fixture; the expected numbers differ only where they should: two gateway
processes share one Redis bucket, but each has its own memory buckets.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import openai
import pytest
import redis
from processes import (
    SIM_KEY,
    Running,
    free_port,
    serving,
    sim_provider,
    start_redis,
    stop,
)

KEY = "pxy-rate-limited-client"
OTHER_KEY = "pxy-another-client"
AUTH = {"X-API-Key": KEY}
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> Iterator[dict[str, object]]:
    """The config blocks that select a backend; Redis keys are removed afterwards."""
    if request.param == "memory":
        yield {}
        return
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    yield {"redis": {"enabled": True, "url": REDIS_URL, "key_prefix": prefix}}
    with redis.Redis.from_url(REDIS_URL) as client:
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)


def config(sim_url: str, backend: dict[str, object], **blocks: object) -> dict[str, object]:
    return {
        "providers": [
            sim_provider("primary", sim_url, ["gpt-4o-mini", "text-embedding-3-small"], 1)
        ],
        "auth": {"api_keys": [KEY, OTHER_KEY]},
        "http_client": {"retry_attempts": 0},
        "circuit_breaker": {"enabled": False},
        "logging": {"level": "WARNING"},
        **backend,
        **blocks,
    }


async def fire(
    urls: list[str], count: int, headers: dict[str, str], path: str = "/v1/chat/completions"
) -> list[httpx.Response]:
    """``count`` requests spread over ``urls`` in turn, 16 at a time."""
    gate = asyncio.Semaphore(16)
    async with httpx.AsyncClient(timeout=20) as http:

        async def one(i: int) -> httpx.Response:
            async with gate:
                return await http.post(urls[i % len(urls)] + path, json=CHAT, headers=headers)

        return await asyncio.gather(*(one(i) for i in range(count)))


def statuses(responses: list[httpx.Response]) -> list[int]:
    return [r.status_code for r in responses]


async def test_one_key_has_one_limit_across_gateways_with_redis_and_one_per_process_without(
    simulator: Running, tmp_path: Path, backend: dict[str, object]
) -> None:
    blocks = {"rate_limit": {"user_limits": {"requests_per_minute": 100}}}
    directories = [tmp_path / "a", tmp_path / "b"]
    with ExitStack() as stack:
        gateways = []
        for directory in directories:
            directory.mkdir()
            gw_config = config(simulator.url, backend, **blocks)
            gateways.append(stack.enter_context(serving(gw_config, directory, SIM_KEY=SIM_KEY)))
        replies = await fire([g.url for g in gateways], 240, AUTH)
    admitted = statuses(replies).count(200)
    assert set(statuses(replies)) == {200, 429}
    if "redis" in backend:
        assert abs(admitted - 100) <= 2  # one bucket, shared
    else:
        assert abs(admitted - 200) <= 4  # a bucket in each process


def test_every_response_carries_the_rate_limit_headers(
    simulator: Running, tmp_path: Path, backend: dict[str, object]
) -> None:
    blocks = {"rate_limit": {"user_limits": {"requests_per_minute": 3}}}
    with serving(config(simulator.url, backend, **blocks), tmp_path, SIM_KEY=SIM_KEY) as gw:
        url = gw.url + "/v1/chat/completions"
        first = httpx.post(url, json=CHAT, headers=AUTH)
        unknown_model = httpx.post(url, json={**CHAT, "model": "no-such-model"}, headers=AUTH)
        models = httpx.get(gw.url + "/v1/models", headers=AUTH)
        refused = httpx.post(url, json=CHAT, headers=AUTH)
        other_client = httpx.post(url, json=CHAT, headers={"X-API-Key": OTHER_KEY})
    assert [first.status_code, unknown_model.status_code, models.status_code] == [200, 404, 200]
    remaining = [r.headers["x-ratelimit-remaining"] for r in (first, unknown_model, models)]
    assert remaining == ["2", "1", "0"]
    assert {r.headers["x-ratelimit-limit"] for r in (first, unknown_model, models)} == {"3"}
    assert 0 < int(first.headers["x-ratelimit-reset"]) <= 20  # one token back: 60 s / 3
    assert refused.status_code == 429
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert 1 <= int(refused.headers["retry-after"]) <= 20
    error = refused.json()["error"]
    assert (error["type"], error["code"]) == ("rate_limit_error", "rate_limit_exceeded")
    assert KEY not in refused.text
    assert other_client.status_code == 200  # a bucket per key


def test_the_openai_sdk_sees_a_rate_limit_error(
    simulator: Running, tmp_path: Path, backend: dict[str, object]
) -> None:
    blocks = {"rate_limit": {"user_limits": {"requests_per_minute": 1}}}
    with serving(config(simulator.url, backend, **blocks), tmp_path, SIM_KEY=SIM_KEY) as gw:
        sdk = openai.OpenAI(base_url=gw.url + "/v1", api_key=KEY, max_retries=0)
        sdk.chat.completions.create(**CHAT)  # type: ignore[call-overload]
        with pytest.raises(openai.RateLimitError) as caught:
            sdk.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    assert caught.value.status_code == 429
    assert int(caught.value.response.headers["retry-after"]) >= 1


def test_the_global_limit_comes_from_the_environment_and_custom_header_names(
    simulator: Running, tmp_path: Path, backend: dict[str, object]
) -> None:
    names = {"limit": "X-Limit", "remaining": "X-Left", "reset": "X-Reset", "retry_after": "X-Wait"}
    blocks = {"rate_limit": {"headers": names}}
    env = {"PROXY_API_RATE_LIMIT_REQUESTS": "3", "PROXY_API_RATE_LIMIT_WINDOW": "3600"}
    with serving(config(simulator.url, backend, **blocks), tmp_path, SIM_KEY=SIM_KEY, **env) as gw:
        both_keys = [AUTH, {"X-API-Key": OTHER_KEY}]
        replies = [
            httpx.post(gw.url + "/v1/chat/completions", json=CHAT, headers=both_keys[i % 2])
            for i in range(4)
        ]
    assert statuses(replies) == [200, 200, 200, 429]  # every client together
    assert [r.headers["x-left"] for r in replies] == ["2", "1", "0", "0"]
    assert replies[0].headers["x-limit"] == "3"
    assert int(replies[3].headers["x-wait"]) > 1000  # 3 an hour: 20 minutes a token
    assert "x-ratelimit-limit" not in replies[0].headers


def test_a_route_limit_counts_that_route_only_under_both_of_its_paths(
    simulator: Running, tmp_path: Path, backend: dict[str, object]
) -> None:
    blocks = {"rate_limit": {"routes": {"/v1/chat/completions": "2/minute"}}}
    with serving(config(simulator.url, backend, **blocks), tmp_path, SIM_KEY=SIM_KEY) as gw:
        chat = [
            httpx.post(gw.url + path, json=CHAT, headers=AUTH).status_code
            for path in ("/v1/chat/completions", "/chat/completions", "/v1/chat/completions")
        ]
        embeddings = [
            httpx.post(
                gw.url + "/v1/embeddings",
                json={"model": "text-embedding-3-small", "input": "x"},
                headers=AUTH,
            ).status_code
            for _ in range(3)
        ]
    assert chat == [200, 200, 429]
    assert embeddings == [200, 200, 200]


def test_addresses_are_limited_listed_and_read_through_trusted_proxies(
    simulator: Running, tmp_path: Path, backend: dict[str, object]
) -> None:
    ip_limits = {
        "requests_per_minute": 2,
        "whitelist": ["192.0.2.0/24"],
        "blacklist": ["198.51.100.0/24"],
    }
    blocks = {"rate_limit": {"ip_limits": ip_limits}}
    trusted = {"TRUSTED_PROXIES": "127.0.0.1/32"}

    def from_ip(gw: Running, address: str) -> int:
        headers = {**AUTH, "X-Forwarded-For": f"{address}, 127.0.0.1"}
        return httpx.post(gw.url + "/v1/chat/completions", json=CHAT, headers=headers).status_code

    gw_config = config(simulator.url, backend, **blocks)
    with serving(gw_config, tmp_path, SIM_KEY=SIM_KEY, **trusted) as gw:
        one = [from_ip(gw, "203.0.113.7") for _ in range(3)]
        other = from_ip(gw, "203.0.113.8")
        listed = [from_ip(gw, "192.0.2.1") for _ in range(4)]
        banned = from_ip(gw, "198.51.100.9")
    assert one == [200, 200, 429]
    assert other == 200
    assert listed == [200] * 4
    assert banned == 403
    (tmp_path / "untrusted").mkdir()
    with serving(gw_config, tmp_path / "untrusted", SIM_KEY=SIM_KEY) as gw:
        # No trusted proxy: X-Forwarded-For is the client's word, and ignored.
        spoofed = [from_ip(gw, f"203.0.113.{n}") for n in range(3)]
        also_banned_not = from_ip(gw, "198.51.100.9")
    assert spoofed == [200, 200, 429]
    assert also_banned_not == 429  # limited as 127.0.0.1, not refused as a listed address


def test_a_provider_over_its_limit_is_skipped_and_429_only_when_none_is_left(
    simulator: Running, tmp_path: Path, backend: dict[str, object]
) -> None:
    gw_config = config(
        simulator.url, backend, rate_limit={"providers": {"first": {"requests_per_minute": 2}}}
    )
    gw_config["providers"] = [
        sim_provider("first", simulator.url, ["gpt-4o-mini"], 1),
        sim_provider("second", simulator.url, ["gpt-4o-mini"], 2, rate_limit=1),  # 1 an hour
    ]
    with serving(gw_config, tmp_path, SIM_KEY=SIM_KEY) as gw:
        replies = [
            httpx.post(gw.url + "/v1/chat/completions", json=CHAT, headers=AUTH) for _ in range(4)
        ]
        report = httpx.get(gw.url + "/v1/metrics").json()["rate_limit"]
    assert statuses(replies) == [200, 200, 200, 429]
    assert [r.headers["x-proxyapi-provider"] for r in replies[:3]] == ["first", "first", "second"]
    assert 1 <= int(replies[3].headers["retry-after"]) <= 30  # first frees up in 30 s
    assert replies[3].json()["error"]["type"] == "rate_limit_error"
    assert report["rejected"]["provider"] >= 3


def shared_redis_config(sim_url: str, port: int, fail_open: bool) -> dict[str, object]:
    blocks = {
        "redis": {"enabled": True, "url": f"redis://127.0.0.1:{port}/0", "retry_interval": 0.2},
        "rate_limit": {"user_limits": {"requests_per_minute": 3}, "fail_open": fail_open},
        "logging": {"level": "INFO"},
    }
    return config(sim_url, {}, **blocks)


def chat(gw: Running) -> httpx.Response:
    return httpx.post(gw.url + "/v1/chat/completions", json=CHAT, headers=AUTH, timeout=10)


def test_redis_going_away_never_stops_the_gateway_and_limits_resume_after(
    simulator: Running, tmp_path: Path
) -> None:
    port = free_port()
    server = start_redis(port)
    try:
        with serving(
            shared_redis_config(simulator.url, port, True), tmp_path, SIM_KEY=SIM_KEY
        ) as gw:
            before = [chat(gw).status_code for _ in range(4)]
            stop(server)
            started = time.monotonic()
            during = [chat(gw) for _ in range(10)]
            elapsed = time.monotonic() - started
            down = httpx.get(gw.url + "/v1/metrics").json()["rate_limit"]
            server = start_redis(port)  # back, empty: the buckets start full again
            time.sleep(0.3)  # past retry_interval
            after = [chat(gw).status_code for _ in range(4)]
            up = httpx.get(gw.url + "/v1/metrics").json()["rate_limit"]
            printed = gw.output()
    finally:
        stop(server)
    assert before == [200, 200, 200, 429]
    assert statuses(during) == [200] * 10  # fail open: answered, not limited, never a 500
    assert "x-ratelimit-limit" not in during[0].headers  # no numbers it does not know
    assert elapsed < 5
    assert (down["available"], down["backend_errors"] >= 1, down["unjudged"] >= 10) == (
        False,
        True,
        True,
    )
    assert after == [200, 200, 200, 429]
    assert up["available"] is True
    assert printed.count("rate-limit backend redis unreachable") == 1  # once, not per request
    assert "reachable again" in printed


def test_with_fail_open_off_a_redis_outage_is_a_503_never_a_500(
    simulator: Running, tmp_path: Path
) -> None:
    port = free_port()
    server = start_redis(port)
    try:
        with serving(
            shared_redis_config(simulator.url, port, False), tmp_path, SIM_KEY=SIM_KEY
        ) as gw:
            assert chat(gw).status_code == 200
            stop(server)
            during = [chat(gw) for _ in range(3)]
    finally:
        stop(server)
    assert statuses(during) == [503] * 3
    assert during[0].json()["error"]["type"] == "service_unavailable"
    assert during[0].headers["retry-after"] == "1"
