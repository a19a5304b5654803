"""Behaviour settings of the simulator, from YAML and from per-request headers.

A knob set in the YAML file is the default for every request; the matching
``x-sim-*`` request header overrides it for that one request, so a single
running simulator can play a slow, a failing and a healthy upstream at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

DEFAULT_MODELS = (
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-4.1-mini",
    "gpt-3.5-turbo",
    "text-embedding-3-small",
    "text-embedding-3-large",
)


class SimulatorSettings(BaseModel):
    """Everything the simulator can be told in its YAML file (keys = field names)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ttft_ms: float = Field(0, ge=0)
    tokens_per_second: float = Field(0, ge=0)
    latency_ms: float = Field(0, ge=0)
    error_status: int = Field(500, ge=400, le=599)
    error_rate: float = Field(0, ge=0, le=1)
    error_after_chunks: int | None = Field(None, ge=0)
    context_window: int = Field(128_000, gt=0)
    reply_tokens: int = Field(30, gt=0)
    retry_after_s: int = Field(1, ge=0)
    seed: int | None = None
    models: tuple[str, ...] = DEFAULT_MODELS
    api_key: str | None = None
    strict_models: bool = False


def load_settings(path: str | None) -> SimulatorSettings:
    """Read settings from an optional YAML file; no file means all defaults."""
    if path is None:
        return SimulatorSettings()
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of simulator settings")
    return SimulatorSettings.model_validate(data)


@dataclasses.dataclass(frozen=True, slots=True)
class RequestKnobs:
    """The behaviour knobs in force for one request (settings, then headers)."""

    ttft_ms: float
    tokens_per_second: float
    latency_ms: float
    error_status: int
    error_rate: float
    error_after_chunks: int | None
    context_window: int
    reply_tokens: int
    retry_after_s: int

    @classmethod
    def from_settings(cls, settings: SimulatorSettings) -> RequestKnobs:
        names = [field.name for field in dataclasses.fields(cls)]
        return cls(**{name: getattr(settings, name) for name in names})

    def delay_for(self, tokens: int) -> float:
        """Seconds a non-streamed answer of ``tokens`` tokens takes to produce."""
        seconds = self.ttft_ms / 1000
        if self.tokens_per_second > 0:
            seconds += tokens / self.tokens_per_second
        return seconds


class KnobError(ValueError):
    """A request header carried a knob value that cannot be used."""

    def __init__(self, header: str, raw: str, reason: str) -> None:
        super().__init__(f"Invalid {header} header {raw!r}: {reason}.")
        self.header = header


def _parse_number(low: float, high: float | None) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        value = float(raw)
        if value != value or value < low or (high is not None and value > high):
            raise ValueError(f"expected a number in [{low}, {high if high is not None else 'inf'}]")
        return value

    return parse


def _parse_int(low: int, high: int | None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw)
        if value < low or (high is not None and value > high):
            raise ValueError(
                f"expected an integer in [{low}, {high if high is not None else 'inf'}]"
            )
        return value

    return parse


HEADER_KNOBS: Mapping[str, tuple[str, Callable[[str], Any]]] = {
    "x-sim-ttft-ms": ("ttft_ms", _parse_number(0, None)),
    "x-sim-tokens-per-second": ("tokens_per_second", _parse_number(0, None)),
    "x-sim-latency-ms": ("latency_ms", _parse_number(0, None)),
    "x-sim-error-status": ("error_status", _parse_int(400, 599)),
    "x-sim-error-rate": ("error_rate", _parse_number(0, 1)),
    "x-sim-error-after-chunks": ("error_after_chunks", _parse_int(0, None)),
    "x-sim-context-window": ("context_window", _parse_int(1, None)),
    "x-sim-reply-tokens": ("reply_tokens", _parse_int(1, None)),
    "x-sim-retry-after": ("retry_after_s", _parse_int(0, None)),
}


def resolve_knobs(defaults: RequestKnobs, headers: Mapping[str, str]) -> RequestKnobs:
    """Apply any ``x-sim-*`` headers over the defaults (header wins).

    ``x-sim-error-status`` alone means "fail this request": its rate defaults
    to 1 unless ``x-sim-error-rate`` says otherwise.
    """
    overrides: dict[str, Any] = {}
    for header, (field, parse) in HEADER_KNOBS.items():
        raw = headers.get(header)
        if raw is None:
            continue
        try:
            overrides[field] = parse(raw.strip())
        except ValueError as exc:
            raise KnobError(header, raw, str(exc)) from None
    if not overrides:
        return defaults
    if "error_status" in overrides and "error_rate" not in overrides:
        overrides["error_rate"] = 1.0
    return dataclasses.replace(defaults, **overrides)
