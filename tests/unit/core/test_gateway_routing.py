"""The Gateway's routing table: which providers a model goes to, in which order."""

from __future__ import annotations

from typing import Any

import pytest

from proxyapi.config import validate_config
from proxyapi.errors import (
    AllProvidersFailed,
    ConfigError,
    NoProviderAvailable,
    UpstreamRateLimited,
    UpstreamStatusError,
    UpstreamTimeout,
)
from proxyapi.gateway import Gateway
from proxyapi.pipeline.dispatch import final_error


def provider(name: str, priority: int, models: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "type": "openai",
        "api_key_env": f"{name.upper()}_KEY",
        "models": models,
        "priority": priority,
        **extra,
    }


def gateway(*providers: dict[str, Any], overrides: dict[str, Any] | None = None) -> Gateway:
    config = validate_config({"providers": list(providers), "model_overrides": overrides or {}})
    environ = {f"{p['name'].upper()}_KEY": "k" for p in providers}
    environ.pop("NOKEY_KEY", None)
    return Gateway(config, environ=environ)


def names(gw: Gateway, model: str) -> list[str]:
    return [c.deployment.name for c in gw.candidates(model)]


def test_candidates_come_lowest_priority_number_first_whatever_the_file_order() -> None:
    gw = gateway(provider("c", 30, ["m"]), provider("a", 10, ["m"]), provider("b", 20, ["m"]))
    assert names(gw, "m") == ["a", "b", "c"]


def test_disabled_providers_are_not_candidates() -> None:
    gw = gateway(provider("a", 1, ["m"], enabled=False), provider("b", 2, ["m"]))
    assert names(gw, "m") == ["b"]


def test_a_provider_without_its_key_is_skipped_and_reported() -> None:
    gw = gateway(provider("nokey", 1, ["m"]), provider("b", 2, ["m"]))
    assert names(gw, "m") == ["b"]
    assert gw.skipped == {"nokey": "environment variable NOKEY_KEY is not set"}


def test_an_unknown_model_has_no_candidates() -> None:
    assert names(gateway(provider("a", 1, ["m"])), "other") == []


def test_the_provider_key_comes_from_its_api_key_env() -> None:
    gw = gateway(provider("a", 1, ["m"]))
    assert gw.candidates("m")[0].deployment.api_key == "k"


def test_model_overrides_fill_only_missing_parameters() -> None:
    gw = gateway(provider("a", 1, ["m"]), overrides={"m": {"max_tokens": 5, "temperature": 0.1}})
    body: dict[str, Any] = {"model": "m", "temperature": 0.9}
    gw.apply_overrides(body)
    assert body == {"model": "m", "temperature": 0.9, "max_tokens": 5}


def test_a_max_tokens_override_yields_to_max_completion_tokens() -> None:
    gw = gateway(provider("a", 1, ["m"]), overrides={"m": {"max_tokens": 5}})
    body: dict[str, Any] = {"model": "m", "max_completion_tokens": 50}
    gw.apply_overrides(body)
    assert "max_tokens" not in body


def test_no_error_at_all_means_no_provider_was_available() -> None:
    assert isinstance(final_error([], "m"), NoProviderAvailable)


def test_all_timeouts_are_a_504() -> None:
    error = final_error(
        [UpstreamTimeout("t", provider="a"), UpstreamTimeout("t", provider="b")], "m"
    )
    assert isinstance(error, UpstreamTimeout) and error.http_status == 504


def test_all_rate_limited_is_a_429_with_the_soonest_retry_after() -> None:
    soonest = UpstreamRateLimited("slow", retry_after=1, provider="b")
    error = final_error([UpstreamRateLimited("slow", retry_after=4, provider="a"), soonest], "m")
    assert error is soonest and error.headers() == {"Retry-After": "1"}


def test_mixed_failures_are_a_502_naming_each_provider() -> None:
    errors = [
        UpstreamTimeout("timed out", provider="a"),
        UpstreamStatusError("overloaded", provider="b", upstream_status=503),
    ]
    error = final_error(errors, "m")
    assert isinstance(error, AllProvidersFailed) and error.http_status == 502
    assert "a: timed out" in error.message and "b: overloaded" in error.message


@pytest.mark.parametrize(
    ("status", "retryable"), [(500, True), (503, True), (400, False), (422, False)]
)
def test_upstream_status_errors_are_retryable_only_for_5xx(status: int, retryable: bool) -> None:
    assert UpstreamStatusError("x", upstream_status=status).is_retryable is retryable


def test_an_explicit_fallback_provider_comes_right_after_its_provider() -> None:
    gw = gateway(
        provider("a", 1, ["m"], fallback_provider="c"),
        provider("b", 2, ["m"]),
        provider("c", 3, ["other"]),
    )
    assert names(gw, "m") == ["a", "c", "b"]


def test_a_fallback_chain_is_followed_to_its_end() -> None:
    gw = gateway(
        provider("a", 1, ["m"], fallback_provider="b"),
        provider("b", 2, ["x"], fallback_provider="c"),
        provider("c", 3, ["y"]),
    )
    assert names(gw, "m") == ["a", "b", "c"]


def test_a_fallback_cycle_is_refused_at_validation() -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config(
            {
                "providers": [
                    provider("a", 1, ["m"], fallback_provider="b"),
                    provider("b", 2, ["m"], fallback_provider="a"),
                ]
            }
        )
    assert any("loops: a -> b -> a" in p for p in caught.value.problems)
