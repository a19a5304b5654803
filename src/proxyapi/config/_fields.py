"""The base of every config block and the small field types the blocks share."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from proxyapi.config.units import RATE_PATTERN, SIZE_PATTERN, parse_rate, parse_size


class Section(BaseModel):
    """A block of ``config.yaml``.

    Unknown keys are kept (``extra="allow"``) rather than rejected so the loader
    can report each one as a warning with its path: a typo should be visible,
    not fatal.
    """

    model_config = ConfigDict(extra="allow")

    # Keys the seeds document but this version does not model: kept silently.
    tolerated_keys: ClassVar[frozenset[str]] = frozenset()


def _to_bytes(value: Any) -> int:
    try:
        return parse_size(value)
    except ValueError as exc:
        raise PydanticCustomError("size", str(exc)) from None


def _check_rate(value: str) -> str:
    try:
        parse_rate(value)
    except ValueError as exc:
        raise PydanticCustomError("rate", str(exc)) from None
    return value


ByteSize = Annotated[
    int,
    BeforeValidator(_to_bytes),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": SIZE_PATTERN},
            ],
            "description": "bytes, or a size such as 512KB, 10MB, 1.5 MB, 1GB",
        },
        mode="validation",
    ),
]
"""A size in bytes after validation; ``"10MB"`` style strings accepted on input."""

Rate = Annotated[
    str,
    AfterValidator(_check_rate),
    WithJsonSchema({"type": "string", "pattern": RATE_PATTERN}, mode="validation"),
]
"""A rate such as ``"500/minute"`` (per second, minute, hour or day)."""


def _check_network(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("cidr", "{v} is not an IP address or CIDR", {"v": repr(value)})
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError:
        raise PydanticCustomError(
            "cidr", "{v} is not an IP address or CIDR (e.g. 10.0.0.0/8)", {"v": repr(value)}
        ) from None


IpNetwork = Annotated[
    str,
    BeforeValidator(_check_network),
    WithJsonSchema({"type": "string", "description": "an IP address or CIDR"}, mode="validation"),
]
"""An IP address or CIDR (``10.0.0.0/8``, ``::1``), normalised: ``10.1.2.3/8`` -> ``10.0.0.0/8``."""

Seconds = Annotated[float, Field(gt=0)]
Count = Annotated[int, Field(ge=0)]
Positive = Annotated[int, Field(ge=1)]
Percent = Annotated[float, Field(ge=0, le=100)]
Probability = Annotated[float, Field(ge=0, le=1)]
Port = Annotated[int, Field(ge=1, le=65535)]
Duration = Annotated[str, Field(pattern=r"^\d+(ms|s|m|h|d)$")]
"""A duration such as ``30s``, ``5m``, ``1h``."""
