"""Sizes such as ``10MB`` and rates such as ``500/minute``."""

from __future__ import annotations

import pytest
from config_helpers import MINIMAL, Load

from proxyapi.config import parse_rate, parse_size


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("10MB", 10 * 1024**2),
        ("512KB", 512 * 1024),
        ("1.5 MB", int(1.5 * 1024**2)),
        ("1GB", 1024**3),
        ("2gib", 2 * 1024**3),
        ("100", 100),
        ("64k", 64 * 1024),
        (4096, 4096),
    ],
)
def test_sizes_are_binary_bytes(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("bad", ["ten MB", "10XB", "", "-1", -1, True, 1.5])
def test_malformed_sizes_are_rejected(bad: object) -> None:
    with pytest.raises(ValueError, match="minimum|not a valid size"):
        parse_size(bad)


def test_config_sizes_are_bytes_after_loading(load: Load) -> None:
    text = (
        MINIMAL
        + "validation: {request: {max_body_size: 512KB}, response: {max_response_size: 1GB}}\n"
    )
    validation = load(text).config.validation
    assert (validation.request.max_body_size, validation.response.max_response_size) == (
        512 * 1024,
        1024**3,
    )


def test_default_sizes_match_the_seed(load: Load) -> None:
    validation = load().config.validation
    assert validation.request.max_body_size == 10 * 1024 * 1024
    assert validation.response.max_response_size == 50 * 1024 * 1024
    assert validation.request.allowed_content_types == ["application/json"]


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("500/minute", (500, 60)),
        ("10/second", (10, 1)),
        ("1000 / hour", (1000, 3600)),
        ("5/day", (5, 86400)),
        ("30/minutes", (30, 60)),
        ("7/m", (7, 60)),
    ],
)
def test_rates_are_requests_per_window(text: str, rate: tuple[int, int]) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("bad", ["500", "0/minute", "500/fortnight", "many/minute"])
def test_malformed_rates_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match="not a valid rate"):
        parse_rate(bad)
