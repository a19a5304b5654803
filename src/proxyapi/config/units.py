"""Human-written quantities in config files: byte sizes (``"10MB"``) and rates (``"500/minute"``).

Sizes are binary (1KB = 1024 bytes), the way the seeds' limits are meant and the
way most servers read them.
"""

from __future__ import annotations

import re

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
_SIZE_FACTORS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}

_RATE = re.compile(r"^\s*(\d+)\s*/\s*([a-z]+)\s*$", re.IGNORECASE)
_RATE_UNITS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}

SIZE_PATTERN = r"^\s*\d+(\.\d+)?\s*([kKmMgGtT]?)([iI]?[bB])?\s*$"
RATE_PATTERN = r"^\s*\d+\s*/\s*[A-Za-z]+\s*$"


def parse_size(value: object) -> int:
    """Return a size in bytes from ``10MB``, ``512KB``, ``1.5 MB``, ``1GB`` or a plain int.

    Raises ValueError with a message meant for the user.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a valid size (use e.g. 512KB, 10MB, 1GB)")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{value!r} is less than the minimum of 0")
        return value
    if isinstance(value, str):
        match = _SIZE.match(value)
        if match is not None:
            number, unit = match.groups()
            return int(float(number) * _SIZE_FACTORS[unit.lower()])
    raise ValueError(f"{value!r} is not a valid size (use e.g. 512KB, 10MB, 1GB)")


def parse_rate(value: str) -> tuple[int, int]:
    """Return ``(requests, window_seconds)`` from ``"500/minute"`` (or per second, hour, day).

    Raises ValueError with a message meant for the user.
    """
    match = _RATE.match(value)
    if match is not None:
        count, unit = match.groups()
        unit = unit.lower()
        seconds = _RATE_UNITS.get(unit.removesuffix("s") if len(unit) > 3 else unit)
        if seconds is not None and int(count) > 0:
            return int(count), seconds
    raise ValueError(f"{value!r} is not a valid rate (use e.g. '500/minute')")
