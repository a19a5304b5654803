"""The simulator's runtime state, held on the aiohttp Application (no globals)."""

from __future__ import annotations

import dataclasses
import random

from aiohttp import web

from .knobs import RequestKnobs, SimulatorSettings
from .stats import RequestStats


@dataclasses.dataclass(slots=True)
class SimulatorState:
    """Everything built from the settings once, shared by all requests of one app."""

    settings: SimulatorSettings
    default_knobs: RequestKnobs
    models: frozenset[str]
    rng: random.Random
    stats: RequestStats

    @classmethod
    def from_settings(cls, settings: SimulatorSettings) -> SimulatorState:
        return cls(
            settings=settings,
            default_knobs=RequestKnobs.from_settings(settings),
            models=frozenset(settings.models),
            rng=random.Random(settings.seed),
            stats=RequestStats(),
        )

    def should_fail(self, rate: float) -> bool:
        """Draw from the (optionally seeded) error-injection RNG."""
        return rate > 0 and (rate >= 1 or self.rng.random() < rate)


SIM_STATE = web.AppKey("sim_state", SimulatorState)
