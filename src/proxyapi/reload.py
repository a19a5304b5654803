"""Hot reload: a new configuration replaces the running one without a request noticing.

Three triggers, one path: the config file changes on disk (watched with
``watchfiles``; its directory is watched, so a Kubernetes ConfigMap's symlink
swap counts), ``POST /api/config/reload``, and SIGHUP. The new file is loaded
and validated completely first; an invalid one changes nothing and is
reported with the same ``path: reason`` list as at startup. A valid one
becomes a new Gateway, built (keeping the state that still means the same
thing, see ``Gateway.__init__``) and started before it is swapped in by one
assignment. Requests keep the Gateway they started on (the door pins it), so
the old one closes only once its last request, stream or not, has finished.

Every worker process reloads: each watches the file itself, and a reload asked
of one worker (the API) is passed to the others through the supervisor's SIGHUP.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import orjson
from starlette.datastructures import State

from proxyapi.config.loader import load_config
from proxyapi.config.models import Config
from proxyapi.errors import ConfigError
from proxyapi.gateway import Gateway
from proxyapi.observability.logging import configure_from
from proxyapi.observability.metrics import Metrics
from proxyapi.observability.tracing import SpanExporter

logger = logging.getLogger("proxyapi.config")

SUPERVISOR_ENV: Final = "PROXYAPI_SUPERVISOR_PID"  # set by `serve` when it runs workers
DRAIN_SECONDS: Final = 60.0  # the longest a retired configuration waits for its requests
DEBOUNCE_MS: Final = 300

# Settings read only when the server starts: a reload reports them, never applies them.
RESTART_ONLY: Final = (
    ("server", "host"),
    ("server", "port"),
    ("server", "workers"),
    ("server", "ssl_certfile"),
    ("server", "ssl_keyfile"),
    ("server", "cors_origins"),
    ("metrics", "prometheus", "port"),
    ("metrics", "prometheus", "path"),
)

Outcome = Literal["reloaded", "unchanged", "failed"]


def config_hash(config: Config) -> str:
    """A short fingerprint of a configuration (keys are digests in it: no secret leaks)."""
    dumped = orjson.dumps(config.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(dumped).hexdigest()[:16]


def _at(config: Config, path: tuple[str, ...]) -> Any:
    node: Any = config
    for part in path:
        node = getattr(node, part)
    return node


@dataclass(slots=True)
class Changes:
    """What differs between two configurations, by section and by provider name."""

    sections: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    requires_restart: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sections": self.sections,
            "providers": {"added": self.added, "removed": self.removed, "changed": self.changed},
            "requires_restart": self.requires_restart,
        }


def changes_between(before: Config, after: Config) -> Changes:
    changes = Changes()
    for name in type(after).model_fields:
        if getattr(before, name) != getattr(after, name):
            changes.sections.append(name)
    old = {p.name: p for p in before.providers}
    new = {p.name: p for p in after.providers}
    changes.added = sorted(new.keys() - old.keys())
    changes.removed = sorted(old.keys() - new.keys())
    changes.changed = sorted(n for n in new.keys() & old.keys() if new[n] != old[n])
    changes.requires_restart = [
        ".".join(path) for path in RESTART_ONLY if _at(before, path) != _at(after, path)
    ]
    return changes


@dataclass(slots=True)
class ReloadResult:
    outcome: Outcome
    trigger: str
    config_hash: str
    changes: Changes = field(default_factory=Changes)
    problems: list[str] = field(default_factory=list)
    source: str = ""

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": self.outcome,
            "trigger": self.trigger,
            "config_hash": self.config_hash,
            **self.changes.as_dict(),
        }
        if self.problems:
            body["problems"] = self.problems
        return body


@dataclass(slots=True)
class ActiveConfig:
    """What ``GET /api/config`` and ``/health`` say about the configuration in force."""

    source: str | None
    config_hash: str
    loaded_at: float
    reloads: int = 0
    failed_reloads: int = 0
    last_result: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "hash": self.config_hash,
            "loaded_at": self.loaded_at,
            "reloads": self.reloads,
            "failed_reloads": self.failed_reloads,
            "worker_pid": os.getpid(),
            "last_reload": self.last_result,
        }


class _ConfigEntries:
    """The directory entries a config change shows up as: the file itself, or the
    ``..data`` / ``..2024_...`` entries a Kubernetes ConfigMap swaps. Writes to
    anything else in the directory (a log file, say) wake nothing."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, change: object, path: str) -> bool:
        entry = Path(path).name
        return entry == self.name or entry.startswith("..")


class Reloader:
    """Swaps the app's Gateway for one built from the current file, on each trigger."""

    def __init__(
        self,
        state: State,
        source: str | None,
        metrics: Metrics,
        *,
        span_exporter: SpanExporter | None = None,
    ) -> None:
        self.state = state
        self.source = source if source and Path(source).is_file() else None
        self.metrics = metrics
        self.span_exporter = span_exporter
        gateway: Gateway = state.gateway
        self.active = ActiveConfig(self.source, config_hash(gateway.config), time.time())
        self._lock = asyncio.Lock()
        self._retiring: set[asyncio.Task[Any]] = set()
        self._watcher: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._file_digest = self._digest()
        self._signals = False

    # -- triggers ------------------------------------------------------------------------

    async def start(self) -> None:
        if self.source is not None:
            self._watcher = asyncio.create_task(self._watch(Path(self.source)))
        loop = asyncio.get_running_loop()
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
            # Only the main thread may; an app run in a thread (tests) goes without.
            loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
            self._signals = True

    def _on_sighup(self) -> None:
        logger.info("SIGHUP: reloading the configuration")
        task = asyncio.get_running_loop().create_task(self.reload("signal"))
        self._retiring.add(task)  # keep a reference until done
        task.add_done_callback(self._retiring.discard)

    async def _watch(self, file: Path) -> None:
        from watchfiles import awatch

        try:
            # An empty batch every second too: a change made before the watch was set
            # up (or an event the platform dropped) is still seen, a second late.
            async for _ in awatch(
                file.parent,
                watch_filter=_ConfigEntries(file.name),
                debounce=DEBOUNCE_MS,
                step=50,
                stop_event=self._stop,
                recursive=False,  # logs and the disk cache often live below it
                rust_timeout=1000,
                yield_on_timeout=True,
            ):
                digest = self._digest()
                if digest is not None and digest != self._file_digest:
                    await self.reload("file")
        except Exception:
            logger.exception("watching %s failed; reload with the API or SIGHUP", file)

    def _digest(self) -> str | None:
        if self.source is None:
            return None
        try:
            return hashlib.sha256(Path(self.source).read_bytes()).hexdigest()
        except OSError:
            return None  # mid-swap: the next event reads it again

    def tell_other_workers(self) -> None:
        """Ask the supervisor to pass SIGHUP on to every worker (ours reloads again: unchanged)."""
        supervisor = os.environ.get(SUPERVISOR_ENV)
        if supervisor and supervisor.isdigit() and int(supervisor) == os.getppid():
            os.kill(int(supervisor), signal.SIGHUP)

    # -- the reload itself ---------------------------------------------------------------

    async def reload(self, trigger: str) -> ReloadResult:
        async with self._lock:
            result = await self._reload(trigger)
        self.metrics.config_reloads.labels(result.outcome).inc()
        self.active.last_result = {"at": time.time(), **result.as_dict()}
        if result.outcome == "failed":
            self.active.failed_reloads += 1
        self._log(result)
        self._alert(result)
        return result

    async def _reload(self, trigger: str) -> ReloadResult:
        current: Gateway = self.state.gateway
        self._file_digest = self._digest()
        try:
            loaded = await asyncio.to_thread(load_config, self.source)
        except ConfigError as error:
            return ReloadResult(
                "failed", trigger, self.active.config_hash, problems=list(error.problems)
            )
        new_hash = config_hash(loaded.config)
        changes = changes_between(current.config, loaded.config)
        if not changes.sections:
            return ReloadResult("unchanged", trigger, new_hash, changes, source=loaded.source)
        try:
            fresh = Gateway(
                loaded.config,
                metrics=self.metrics if loaded.config.metrics.enabled else None,
                span_exporter=self.span_exporter,
                previous=current,
            )
            await fresh.start()
        except Exception as exc:  # a config that validates but cannot be built
            logger.exception("the new configuration could not be started")
            return ReloadResult(
                "failed", trigger, self.active.config_hash, problems=[f"startup: {exc}"]
            )
        self.state.gateway = fresh  # from here on, new requests see only the new one
        if "logging" in changes.sections or "telemetry" in changes.sections:
            configure_from(loaded.config)
        self.active.config_hash = new_hash
        self.active.loaded_at = time.time()
        self.active.reloads += 1
        task = asyncio.create_task(current.retire(DRAIN_SECONDS))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)
        return ReloadResult("reloaded", trigger, new_hash, changes, source=loaded.source)

    def _log(self, result: ReloadResult) -> None:
        fields = {"event": "config_reload", **result.as_dict()}
        if result.outcome == "failed":
            logger.error(
                "config_reload failed (%s): the running configuration stays: %s",
                result.trigger,
                "; ".join(result.problems),
                extra={"fields": fields},
            )
        else:
            logger.info(
                "config_reload %s (%s): sections %s",
                result.outcome,
                result.trigger,
                ", ".join(result.changes.sections) or "none",
                extra={"fields": fields},
            )
        for path in result.changes.requires_restart:
            logger.warning("config_reload: %s changed and requires restart to apply", path)

    def _alert(self, result: ReloadResult) -> None:
        gateway: Gateway = self.state.gateway
        if gateway.alerter is None:
            return  # (an unchanged reload of a fixed file resolves a failure too)
        gateway.alerter.set_state(
            "config_reload_failed",
            firing=result.outcome == "failed",
            summary="the configuration reload failed; the previous configuration stays",
            severity="warning",
            details={"problems": str(len(result.problems)), "trigger": result.trigger},
        )

    async def stop(self) -> None:
        """Shutdown: stop watching, let retiring Gateways finish their requests."""
        self._stop.set()
        if self._signals:
            with contextlib.suppress(ValueError, RuntimeError):
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)
