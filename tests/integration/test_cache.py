"""The response cache end to end: real gateway processes, the simulator counting upstream calls.

A HIT must cost the upstream nothing; the disk layer must survive a restart;
Redis must share entries between processes; a stream must replay as it was;
and nothing a client should not get (another key's answer, an error, a cut
stream) may ever come out of the cache.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import redis
from processes import SIM_KEY, Running, free_port, serving, sim_provider

KEY = "pxy-cache-tenant-a"
OTHER_KEY = "pxy-cache-tenant-b"
ADMIN_KEY = "pxy-cache-admin"
REDIS_URL = "redis://127.0.0.1:6379/0"
Stats = Callable[[], dict[str, Any]]


def upstream_calls(sim_stats: Stats, path: str = "/v1/chat/completions") -> int:
    calls: int = sim_stats()["requests"].get(path, 0)
    return calls


def chat_body(**extra: object) -> dict[str, object]:
    question = f"what is {uuid.uuid4().hex}?"  # unique: no other test's entry can answer it
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": question}], **extra}


def config(sim_url: str, directory: Path, **blocks: object) -> dict[str, object]:
    return {
        "providers": [
            sim_provider("primary", sim_url, ["gpt-4o-mini", "text-embedding-3-small"], 1),
            sim_provider(
                "picky",
                sim_url,
                ["picky-model"],
                2,
                headers={"x-sim-error-status": "400", "x-sim-error-rate": "1"},
            ),
            sim_provider(
                "cut", sim_url, ["cut-model"], 3, headers={"x-sim-error-after-chunks": "2"}
            ),
            sim_provider("slow", sim_url, ["gpt-4o"], 4, headers={"x-sim-latency-ms": "300"}),
        ],
        "auth": {"api_keys": [KEY, OTHER_KEY], "admin_keys": [ADMIN_KEY]},
        "http_client": {"retry_attempts": 0},
        "circuit_breaker": {"enabled": False},
        "caching": {"enabled": True},
        "cache": {"unified": {"disk_cache_dir": str(directory / "disk-cache")}},
        "logging": {"level": "WARNING"},
        **blocks,
    }


@pytest.fixture()
def cached(simulator: Running, tmp_path: Path) -> Iterator[Running]:
    with serving(config(simulator.url, tmp_path), tmp_path, SIM_KEY=SIM_KEY) as running:
        yield running


def post(gw: Running, body: dict[str, object], key: str = KEY, **headers: str) -> httpx.Response:
    return httpx.post(
        gw.url + "/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {key}", **headers},
        timeout=20,
    )


def test_a_repeated_request_is_a_hit_that_costs_the_upstream_nothing(
    cached: Running, sim_stats: Stats
) -> None:
    body = chat_body()
    first, second = post(cached, body), post(cached, body)
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
    assert upstream_calls(sim_stats) == 1
    assert second.content == first.content
    assert second.headers["x-proxyapi-provider"] == "cache"


def test_key_order_and_whitespace_do_not_make_a_new_entry(
    cached: Running, sim_stats: Stats
) -> None:
    body = chat_body(temperature=0.5, max_tokens=20)
    post(cached, body)
    reordered = dict(reversed(list(body.items())))
    raw = httpx.post(
        cached.url + "/v1/chat/completions",
        content=json.dumps(reordered, indent=3),
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
    )
    assert raw.headers["x-cache"] == "HIT"
    changed = post(cached, {**body, "temperature": 0.6})
    assert changed.headers["x-cache"] == "MISS"
    assert upstream_calls(sim_stats) == 2


def test_another_keys_entry_is_a_miss(cached: Running, sim_stats: Stats) -> None:
    body = chat_body()
    post(cached, body, KEY)
    assert post(cached, body, OTHER_KEY).headers["x-cache"] == "MISS"
    assert post(cached, body, OTHER_KEY).headers["x-cache"] == "HIT"
    assert upstream_calls(sim_stats) == 2


def test_the_client_can_bypass_skip_the_store_and_set_the_ttl(
    cached: Running, sim_stats: Stats
) -> None:
    body = chat_body()
    post(cached, body)
    assert post(cached, body, **{"Cache-Control": "no-cache"}).headers["x-cache"] == "BYPASS"
    unstored = chat_body()
    post(cached, unstored, **{"Cache-Control": "no-store"})
    assert post(cached, unstored).headers["x-cache"] == "MISS"
    short = chat_body()
    post(cached, short, **{"x-proxyapi-cache-ttl": "1"})
    assert post(cached, short).headers["x-cache"] == "HIT"
    time.sleep(1.2)
    assert post(cached, short).headers["x-cache"] == "MISS"
    bad = post(cached, chat_body(), **{"x-proxyapi-cache-ttl": "soon"})
    assert bad.status_code == 400
    assert upstream_calls(sim_stats) == 6


def test_errors_are_never_cached(cached: Running, sim_stats: Stats) -> None:
    body = {**chat_body(), "model": "picky-model"}
    assert [post(cached, body).status_code for _ in range(2)] == [400, 400]
    assert upstream_calls(sim_stats) == 2


def test_a_stream_is_replayed_as_it_was_and_a_cut_stream_is_not_kept(
    cached: Running, sim_stats: Stats
) -> None:
    sdk = openai.OpenAI(base_url=cached.url + "/v1", api_key=KEY, max_retries=0)
    body = chat_body(stream=True)

    def streamed() -> tuple[str, str]:
        with sdk.chat.completions.with_streaming_response.create(**body) as raw:  # type: ignore[call-overload]
            text = "".join(
                chunk.choices[0].delta.content or "" for chunk in raw.parse() if chunk.choices
            )
            return raw.headers["x-cache"], text

    first, again = streamed(), streamed()
    assert (first[0], again[0]) == ("MISS", "HIT")
    assert again[1] == first[1] and first[1]
    assert upstream_calls(sim_stats) == 1
    cut = {**chat_body(stream=True), "model": "cut-model"}
    for _ in range(2):
        with httpx.stream(
            "POST",
            cached.url + "/v1/chat/completions",
            json=cut,
            headers={"Authorization": f"Bearer {KEY}"},
        ) as response:
            assert response.headers["x-cache"] == "MISS"
            assert b'data: {"error"' in response.read()
    assert upstream_calls(sim_stats) == 3


def test_embeddings_are_cached_too(cached: Running, sim_stats: Stats) -> None:
    body = {"model": "text-embedding-3-small", "input": uuid.uuid4().hex}
    replies = [
        httpx.post(cached.url + "/v1/embeddings", json=body, headers={"X-API-Key": KEY}).headers[
            "x-cache"
        ]
        for _ in range(2)
    ]
    assert replies == ["MISS", "HIT"]
    assert upstream_calls(sim_stats, "/v1/embeddings") == 1


def test_the_disk_layer_keeps_entries_across_a_restart(
    simulator: Running, tmp_path: Path, sim_stats: Stats
) -> None:
    body = chat_body()
    gw_config = config(simulator.url, tmp_path)
    with serving(gw_config, tmp_path, SIM_KEY=SIM_KEY) as gw:
        first = post(gw, body)
    with serving(gw_config, tmp_path, SIM_KEY=SIM_KEY) as gw:
        again = post(gw, body)
    assert (first.headers["x-cache"], again.headers["x-cache"]) == ("MISS", "HIT")
    assert again.content == first.content
    assert upstream_calls(sim_stats) == 1


def test_two_gateways_on_one_redis_share_their_entries(
    simulator: Running, tmp_path: Path, sim_stats: Stats
) -> None:
    prefix = f"test-cache-{uuid.uuid4().hex[:12]}"
    gw_config = config(
        simulator.url, tmp_path, redis={"enabled": True, "url": REDIS_URL, "key_prefix": prefix}
    )
    body = chat_body()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    try:
        with (
            serving(gw_config, tmp_path / "a", SIM_KEY=SIM_KEY) as one,
            serving(gw_config, tmp_path / "b", SIM_KEY=SIM_KEY) as other,
        ):
            first = post(one, body)
            there = post(other, body)
    finally:
        with redis.Redis.from_url(REDIS_URL) as client:
            keys = list(client.scan_iter(f"{prefix}:*"))
            if keys:
                client.delete(*keys)
    assert (first.headers["x-cache"], there.headers["x-cache"]) == ("MISS", "HIT")
    assert upstream_calls(sim_stats) == 1
    assert not list((tmp_path / "disk-cache").glob("**/*.pxc"))  # Redis replaced disk


def test_the_admin_api_reports_and_invalidates(cached: Running, sim_stats: Stats) -> None:
    admin = {"X-API-Key": ADMIN_KEY}
    body = chat_body()
    post(cached, body)
    post(cached, body)
    stats = httpx.get(cached.url + "/api/cache/stats", headers=admin).json()
    for field in ("hits", "misses", "hit_rate", "evictions", "consistency_checks", "categories"):
        assert field in stats
    assert stats["hits"] >= 1
    assert httpx.get(cached.url + "/api/cache/stats", headers={"X-API-Key": KEY}).status_code == 401
    deleted = httpx.delete(cached.url + "/api/cache", params={"provider": "primary"}, headers=admin)
    assert deleted.json()["deleted"] >= 1
    assert post(cached, body).headers["x-cache"] == "MISS"
    assert httpx.get(cached.url + "/health/cache").json()["status"] == "healthy"
    assert (
        httpx.get(cached.url + "/api/config/cache", headers=admin).json()["caching"]["scope"]
        == "per_key"
    )


def test_with_redis_unreachable_the_cache_is_bypassed_and_requests_answered(
    simulator: Running, tmp_path: Path, sim_stats: Stats
) -> None:
    dead = {"enabled": True, "url": f"redis://127.0.0.1:{free_port()}/0", "retry_interval": 0.2}
    with serving(config(simulator.url, tmp_path, redis=dead), tmp_path, SIM_KEY=SIM_KEY) as gw:
        body = chat_body()
        replies = [post(gw, body) for _ in range(3)]
        health = httpx.get(gw.url + "/health/cache").json()
    assert [r.status_code for r in replies] == [200, 200, 200]
    # The memory layer still answers the repeats; nothing is shared, nothing fails.
    assert [r.headers["x-cache"] for r in replies] == ["MISS", "HIT", "HIT"]
    assert (health["status"], health["l2_available"]) == ("degraded", False)
    assert upstream_calls(sim_stats) == 1


def test_a_popular_entry_about_to_expire_is_warmed_again(
    simulator: Running, tmp_path: Path, sim_stats: Stats
) -> None:
    warming = {"preload_threshold": 1, "interval": 3600}
    gw_config = config(simulator.url, tmp_path, caching={"enabled": True, "warming": warming})
    admin = {"X-API-Key": ADMIN_KEY}
    with serving(gw_config, tmp_path, SIM_KEY=SIM_KEY) as gw:
        body = chat_body()
        post(gw, body, **{"x-proxyapi-cache-ttl": "60"})  # expires before the next round
        assert post(gw, body).headers["x-cache"] == "HIT"  # popular now
        warmed = httpx.post(gw.url + "/api/cache/warm", headers=admin).json()
        status = httpx.get(gw.url + "/api/cache/warming/status", headers=admin).json()
        again = post(gw, body)
    assert (warmed["due"], warmed["warmed"]) == (1, 1)
    assert upstream_calls(sim_stats) == 2  # the first MISS, then the refresh
    assert (status["popular_keys"], status["warmup_operations"]) == (1, 1)
    assert again.headers["x-cache"] == "HIT"


async def test_a_burst_of_one_question_costs_one_upstream_call(
    cached: Running, sim_stats: Stats
) -> None:
    body = {**chat_body(), "model": "gpt-4o"}
    async with httpx.AsyncClient(timeout=20) as http:
        replies = await asyncio.gather(
            *(
                http.post(
                    cached.url + "/v1/chat/completions",
                    json=body,
                    headers={"Authorization": f"Bearer {KEY}"},
                )
                for _ in range(10)
            )
        )
    assert [r.status_code for r in replies] == [200] * 10
    assert sorted(r.headers["x-cache"] for r in replies) == ["HIT"] * 9 + ["MISS"]
    assert len({r.content for r in replies}) == 1
    assert upstream_calls(sim_stats) == 1
