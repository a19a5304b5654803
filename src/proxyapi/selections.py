"""Model selections: each provider's default model, kept in ``config/model_selections.json``.

The file is seed 004's::

    {"openai": {"model_name": "gpt-4o-mini", "editable": true,
                "last_updated": "2025-09-12T03:54:29.931051+00:00"}}

The legacy form ``{"openai": "gpt-4o-mini"}`` is read too (each entry editable);
the next ``PUT /api/model-selections/{provider}`` writes the file back in the
current form. A missing file means no selections: each provider's default is
then its first configured model.

The file is the truth, shared by every worker process and by whoever edits it
by hand. Reads check it at most every ``check_interval`` seconds (one ``stat``)
and reload it when its modification time, size or inode changed: no watcher
thread, and a hand edit is seen within about half a second. A file that cannot
be read or parsed keeps the last good selections in use and is reported once
per change; a request never fails because of it. Writes replace the whole file
atomically (a temporary file in the same directory, then ``os.replace``), so a
reader sees the old file or the new one, never half of one.

Two workers writing at the same moment may lose one of the two writes (the
file is re-read just before writing, not locked): acceptable for an operator's
occasional ``PUT``. The request path consults the file only for a model that is
not routable as it is (a provider name), so ordinary requests never touch it.

How a request's ``model`` uses the selections is ``resolve_model`` below.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import orjson

from proxyapi.errors import ModelNotFound, PermissionDenied

logger = logging.getLogger("proxyapi.selections")

CHECK_INTERVAL_SECONDS = 0.5
DEFAULT_SUFFIX = "default"  # "openai/default" is the same as "openai"

Source = Literal[
    "file",  # an entry of the selections file
    "default",  # no entry: the provider's first configured model
]
Stamp = tuple[int, int, int]  # (st_mtime_ns, st_size, st_ino) of the file as last read


class MalformedSelections(ValueError):
    """The selections file is not an object of provider -> entry."""


@dataclass(frozen=True, slots=True)
class Selection:
    """A provider's selected model, as the file holds it (plus where it came from)."""

    model_name: str
    editable: bool = True
    last_updated: str | None = None
    source: Source = "file"

    def to_file(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "editable": self.editable,
            "last_updated": self.last_updated,
        }

    def to_api(self) -> dict[str, Any]:
        return {**self.to_file(), "source": self.source}


def parse_selections(raw: bytes) -> dict[str, Selection]:
    """The entries of a selections file, current or legacy form; raises MalformedSelections."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedSelections(f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MalformedSelections("expected a JSON object of provider -> selection")
    return {str(provider): _parse_entry(provider, entry) for provider, entry in data.items()}


def _parse_entry(provider: str, entry: object) -> Selection:
    if isinstance(entry, str) and entry:
        return Selection(entry)  # legacy {"provider": "model_name"}
    if not isinstance(entry, dict):
        raise MalformedSelections(f"{provider}: expected an object or a model name")
    model_name = entry.get("model_name")
    editable = entry.get("editable", True)
    last_updated = entry.get("last_updated")
    if not isinstance(model_name, str) or not model_name:
        raise MalformedSelections(f"{provider}.model_name: expected a non-empty string")
    if not isinstance(editable, bool):
        raise MalformedSelections(f"{provider}.editable: expected true or false")
    if last_updated is not None and not isinstance(last_updated, str):
        raise MalformedSelections(f"{provider}.last_updated: expected a string")
    return Selection(model_name, editable, last_updated)


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one step: a temporary file beside it, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as sink:
            sink.write(data)
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class ModelSelections:
    """The selections file of one gateway: read lazily, re-read when it changes on disk."""

    def __init__(
        self,
        path: Path,
        *,
        check_interval: float = CHECK_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.check_interval = check_interval
        self.clock = clock
        self._entries: dict[str, Selection] = {}
        self._stamp: Stamp | None = None  # None: no file (or never read)
        self._checked_at: float | None = None

    def get(self, provider: str) -> Selection | None:
        """The file's entry for ``provider``, if it has one."""
        self._refresh()
        return self._entries.get(provider)

    def choose(self, provider: str, configured: Sequence[str]) -> Selection | None:
        """``provider``'s selected model: its file entry, else its first configured model."""
        found = self.get(provider)
        if found is not None:
            return found
        return Selection(configured[0], source="default") if configured else None

    def entries(self) -> dict[str, Selection]:
        self._refresh()
        return dict(self._entries)

    def put(self, provider: str, model_name: str) -> Selection:
        """Select ``model_name`` for ``provider`` and write the whole file; keeps other entries.

        Raises PermissionDenied when the provider's entry says ``"editable": false``.
        The file is re-read first; if it is malformed, the last good selections
        are written back with the new one (the broken edit was reported already).
        """
        self._refresh(force=True)
        current = self._entries.get(provider)
        if current is not None and not current.editable:
            raise PermissionDenied(
                f"The model selection of provider '{provider}' is not editable "
                f'("editable": false in {self.path.name}).'
            )
        stamped = datetime.now(UTC).isoformat()
        selection = Selection(model_name, editable=True, last_updated=stamped)
        entries = {**self._entries, provider: selection}
        data = {name: entry.to_file() for name, entry in entries.items()}
        write_atomically(self.path, orjson.dumps(data, option=orjson.OPT_INDENT_2))
        self._entries = entries
        self._stamp = self._stat()
        logger.info("model selection for %s is now %s", provider, model_name)
        return selection

    def _refresh(self, *, force: bool = False) -> None:
        """Re-read the file if it changed since the last look (at most every check_interval)."""
        now = self.clock()
        recent = self._checked_at is not None and now - self._checked_at < self.check_interval
        if recent and not force:
            return
        self._checked_at = now
        stamp = self._stat()
        if stamp == self._stamp:
            return
        self._stamp = stamp
        if stamp is None:
            self._entries = {}
            return
        try:
            self._entries = parse_selections(self.path.read_bytes())
        except (OSError, MalformedSelections) as exc:
            logger.warning(
                "model selections file %s is unusable (%s); keeping the last good selections",
                self.path,
                exc,
            )

    def _stat(self) -> Stamp | None:
        try:
            found = self.path.stat()
        except FileNotFoundError:
            return None
        except OSError as exc:  # unreadable directory: treat like an unusable file
            logger.warning("cannot stat model selections file %s: %s", self.path, exc)
            return self._stamp
        return (found.st_mtime_ns, found.st_size, found.st_ino)


Routed = TypeVar("Routed")


def resolve_model(
    requested: str,
    candidates: Callable[[str], tuple[Routed, ...]],
    providers: Mapping[str, Routed],
    selected: Callable[[str], str | None],
) -> tuple[str, tuple[Routed, ...]] | None:
    """The model a request's ``model`` names, and where it goes; None when it names nothing.

    In order:

    1. A model routable as it is wins (``candidates(requested)`` is not empty),
       so a real model id with a slash (``meta-llama/Llama-3-8B``) still works.
    2. ``openai`` or ``openai/default``, ``openai`` being a usable provider: that
       provider's ``selected`` model, sent to that provider first and to the
       model's other candidates after it. The provider is tried even if it does
       not list the model: the selection is the operator's word.
    3. ``openai/gpt-4o``: pinned, only that provider, with ``gpt-4o``, which must
       be one the provider offers (it is among ``candidates("gpt-4o")``: configured,
       or reported by the provider's /models and still in the model-discovery
       cache); otherwise ModelNotFound.

    ``providers`` maps usable provider names to their candidate; ``selected``
    gives a provider's selected model (None when it has none).
    """
    found = candidates(requested)
    if found:
        return requested, found
    name, slash, rest = requested.partition("/")
    provider = providers.get(name)
    if provider is None:
        return None
    if not slash or rest == DEFAULT_SUFFIX:
        model = selected(name)
        if model is None:
            raise ModelNotFound(requested)
        others = tuple(c for c in candidates(model) if c is not provider)
        return model, (provider, *others)
    if provider not in candidates(rest):
        raise ModelNotFound(requested)
    return rest, (provider,)
