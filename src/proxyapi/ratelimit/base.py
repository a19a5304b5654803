"""What every rate-limit backend does: take tokens from several buckets at once, or none."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from proxyapi.ratelimit.bucket import Limit


@dataclass(frozen=True, slots=True)
class Bucket:
    """One bucket a request draws from: its storage key, its shape, and its scope's name."""

    key: str
    limit: Limit
    scope: str

    @property
    def storage_key(self) -> str:
        """Where a backend keeps this bucket: its key and its shape.

        A config reload that changes a limit starts that bucket afresh (its old
        level meant something else); an unchanged limit keeps its level.
        """
        return f"{self.key}@{self.limit.capacity:g}/{self.limit.rate:g}"


@dataclass(frozen=True, slots=True)
class Verdict:
    """All-or-nothing: ``allowed`` means every bucket paid; ``tokens`` are their levels after."""

    allowed: bool
    tokens: tuple[float, ...]


class Backend(Protocol):
    """Token-bucket storage. ``take`` is atomic across all the buckets it is given.

    All-or-nothing matters: a request refused by the global limit must not also
    spend the client's own allowance.
    """

    name: str

    async def take(self, buckets: Sequence[Bucket], cost: float = 1.0) -> Verdict: ...

    async def close(self) -> None: ...
