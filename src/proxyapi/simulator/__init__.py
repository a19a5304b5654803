"""A fake upstream that speaks providers' real wire formats over real HTTP.

It is the upstream of the test suite, the benchmark and the demo. Formats live
one per module (``openai_format``); behaviour knobs (latency, TTFT, pacing,
injected errors, context window) come from settings and ``x-sim-*`` headers.
"""

from __future__ import annotations

from .knobs import HEADER_KNOBS, SimulatorSettings, load_settings
from .server import RunningSimulator, build_app, run, start_simulator

__all__ = [
    "HEADER_KNOBS",
    "RunningSimulator",
    "SimulatorSettings",
    "build_app",
    "load_settings",
    "run",
    "start_simulator",
]
