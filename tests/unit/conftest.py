"""Fixtures every unit test may use."""

from __future__ import annotations

import pytest
from clocks import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
