"""Built-in alerting to a Slack-compatible webhook, for operators without an Alertmanager.

The gateway builds one :class:`Alerter` only when ``metrics.alerting`` is enabled
*and* has a ``webhook_url``; otherwise there is no alerter at all, and nothing
in this module runs.

Two inputs set an alert's state (firing or not), each alert named by a key:

* ``evaluate(figures)``, every ``evaluation_interval``, judges the configured
  rules plus ``high_cpu`` and ``high_memory``. Rules on error rate and latency
  are judged only when the window saw ``min_requests`` requests: a quiet window
  says nothing about them, so it neither fires nor resolves them.
* ``set_state(key, ...)`` reports a condition the gateway sees itself
  (``circuit_breaker_open:openai``, ``config_reload_failed``).

What goes to the webhook, per key::

    state changes, last notification long enough ago (min_hold) -> one notification
    state changes again within min_hold of the last notification -> coalesced: at the
        end of the hold the state then is sent, or nothing if it is what was last sent
    still firing repeat_interval after the last notification    -> a reminder

Pending coalesced changes and reminders go out on the next ``evaluate()`` after
they fall due. Above all of this, at most ``max_per_minute`` notifications leave
per minute (a token bucket). A notification over the cap, or one finding the
send queue full, is dropped and counted, never queued: the key is compared
again after ``min_hold``, and only what then differs from the last notification
is sent.

``evaluate`` and ``set_state`` never wait on the network: a background task
sends, one POST at a time, with ``timeout``. A failing webhook is counted and
logged once per failure streak. The URL carries a secret token, so it never
appears in a log line or in ``snapshot()``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import aiohttp
import orjson

from proxyapi.config.observability import Condition, MetricsAlerting
from proxyapi.ratelimit.bucket import Limit, refill

__all__ = ["Alerter", "build_webhook_body"]

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
Status = Literal["firing", "resolved"]

# Figures that mean something only with enough requests in the window.
_TRAFFIC_FIGURES: Final = frozenset(
    {"error_rate", "avg_response_time_ms", "p95_latency_ms", "p99_latency_ms"}
)
# The seed's name for avg_response_time_ms; the gateway may report either.
_FIGURE_ALIASES: Final = {"avg_response_time_ms": "avg_response_time"}
_FIRING_EMOJI: Final = {"critical": "🚨", "warning": "⚠️", "info": "ℹ️"}
_RESOLVED_EMOJI: Final = "✅"
_COLORS: Final = {"firing": "#d32f2f", "resolved": "#2e7d32"}
_JSON_HEADERS: Final = {"Content-Type": "application/json"}


@dataclass(frozen=True, slots=True)
class _Rule:
    key: str
    condition: Condition
    severity: str
    summary: str

    @property
    def needs_traffic(self) -> bool:
        return self.condition.figure in _TRAFFIC_FIGURES


@dataclass(slots=True)
class _Alert:
    """One key's state, and what the last notification about it said."""

    key: str
    severity: str = "warning"
    summary: str = ""
    details: dict[str, str] = field(default_factory=dict)
    firing: bool = False
    since: float | None = None  # when it started firing, on the Alerter's clock
    announced: bool = False  # the state the last notification sent (none sent: inactive)
    announced_at: float = float("-inf")  # when a notification was last sent or dropped


class Alerter:
    """Turns rule verdicts and reported conditions into rate-limited webhook notifications."""

    def __init__(
        self,
        settings: MetricsAlerting,
        *,
        clock: Clock = time.monotonic,
        min_hold: float = 60.0,
        queue_size: int = 100,
        drain_timeout: float = 2.0,
    ) -> None:
        if not settings.enabled or not settings.webhook_url:
            raise ValueError(
                "an Alerter needs metrics.alerting enabled with a webhook_url; "
                "without them the gateway builds none"
            )
        self._settings = settings
        self._url = settings.webhook_url
        self._clock = clock
        self._hold = min_hold
        self._drain_timeout = drain_timeout
        self._rules = _build_rules(settings)
        self._alerts: dict[str, _Alert] = {}
        self._limit = Limit.per_window(settings.max_per_minute, 60.0)
        self._tokens = self._limit.capacity
        self._stamp = clock()
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=queue_size)
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._failing = False
        self._sent = self._dropped = self._failed = 0

    # -- inputs -------------------------------------------------------------

    def evaluate(self, figures: Mapping[str, float]) -> None:
        """Judge every rule on the last window's figures, then send what has fallen due.

        A rule whose figure is missing (or NaN) keeps its state, like a traffic
        rule in a window with fewer than ``min_requests`` requests.
        """
        now = self._clock()
        requests = figures.get("requests", 0.0)
        has_traffic = requests >= self._settings.min_requests
        for rule in self._rules:
            value = _read(figures, rule.condition.figure)
            if value is None or (rule.needs_traffic and not has_traffic):
                continue
            details = {"condition": str(rule.condition), "value": f"{value:g}"}
            if rule.needs_traffic:
                details["requests"] = f"{requests:g}"
            self._change(
                rule.key,
                rule.condition.holds(value),
                now,
                severity=rule.severity,
                summary=rule.summary,
                details=details,
            )
        for alert in list(self._alerts.values()):
            self._settle(alert, now)

    def set_state(
        self,
        key: str,
        *,
        firing: bool,
        summary: str,
        severity: str = "warning",
        details: Mapping[str, str] | None = None,
    ) -> None:
        """Report a condition the gateway sees itself: fire ``key`` or resolve it.

        Keys share one namespace with rule names. Resolving a key that is not
        firing does nothing.
        """
        now = self._clock()
        alert = self._change(
            key, firing, now, severity=severity, summary=summary, details=dict(details or {})
        )
        if alert is not None:
            self._settle(alert, now)

    # -- lifecycle ----------------------------------------------------------

    async def start(self) -> None:
        """Open the HTTP session and start the sender; call once, inside the event loop."""
        if self._task is not None:
            return
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._settings.timeout)
        )
        self._task = asyncio.create_task(self._deliver(), name="alert-webhook")

    async def close(self) -> None:
        """Give queued notifications ``drain_timeout`` seconds to go out, then stop."""
        self._closed = True
        if self._task is not None:
            try:
                await asyncio.wait_for(self._queue.join(), self._drain_timeout)
            except TimeoutError:
                pass  # what is left is counted below
            self._task.cancel()
            await asyncio.wait([self._task])
            self._task = None
        unsent = self._unsent()
        if unsent:
            self._dropped += unsent
            logger.warning("alert notifications not sent before shutdown: %d", unsent)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def snapshot(self) -> dict[str, Any]:
        """Firing alerts and counters for a status endpoint; never the webhook URL.

        ``since`` is a reading of the Alerter's clock (monotonic unless injected),
        so ``firing_for_s`` is the figure to show a person.
        """
        now = self._clock()
        firing = [
            {
                "key": alert.key,
                "severity": alert.severity,
                "since": alert.since,
                "firing_for_s": round(now - alert.since, 3),
                "notified": alert.announced,
            }
            for alert in self._alerts.values()
            if alert.firing and alert.since is not None
        ]
        return {
            "enabled": True,
            "firing": firing,
            "sent": self._sent,
            "dropped": self._dropped,
            "failed": self._failed,
            "queued": self._queue.qsize(),
        }

    # -- state and notifications -------------------------------------------

    def _change(
        self,
        key: str,
        firing: bool,
        now: float,
        *,
        severity: str,
        summary: str,
        details: dict[str, str],
    ) -> _Alert | None:
        alert = self._alerts.get(key)
        if alert is None:
            if not firing:
                return None
            alert = self._alerts[key] = _Alert(key)
        if firing and not alert.firing:
            alert.since = now
        elif not firing:
            alert.since = None
        alert.firing = firing
        alert.severity, alert.summary, alert.details = severity, summary, details
        return alert

    def _settle(self, alert: _Alert, now: float) -> None:
        """Send what the hold and the repeat interval allow for ``alert`` at ``now``."""
        since_last = now - alert.announced_at
        if alert.firing != alert.announced:
            if since_last >= self._hold:
                self._notify(alert, now, "firing" if alert.firing else "resolved")
        elif alert.firing:
            if since_last >= self._settings.repeat_interval:
                self._notify(alert, now, "firing")
        elif since_last >= self._hold:
            # Quiet and announced as quiet: a fresh change may be sent at once.
            del self._alerts[alert.key]

    def _notify(self, alert: _Alert, now: float, status: Status) -> None:
        alert.announced_at = now
        if self._closed or self._queue.full() or not self._take_token(now):
            self._dropped += 1
            return
        alert.announced = alert.firing
        body = build_webhook_body(
            alert.key, status, severity=alert.severity, summary=alert.summary, details=alert.details
        )
        self._queue.put_nowait(body)

    def _take_token(self, now: float) -> bool:
        self._tokens = refill(self._tokens, self._stamp, self._limit, now)
        self._stamp = max(self._stamp, now)
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def _unsent(self) -> int:
        """Empty the queue (once the sender has stopped) and say how many it held."""
        count = 0
        while not self._queue.empty():
            self._queue.get_nowait()
            self._queue.task_done()
            count += 1
        return count

    # -- sending --------------------------------------------------------------

    async def _deliver(self) -> None:
        while True:
            body = await self._queue.get()
            try:
                await self._post(body)
            finally:
                self._queue.task_done()

    async def _post(self, body: dict[str, Any]) -> None:
        assert self._session is not None
        try:
            async with self._session.post(
                self._url, data=orjson.dumps(body), headers=_JSON_HEADERS
            ) as response:
                status = response.status
        except Exception as exc:
            # Any failure to deliver counts alike and must not stop the sender. Only the
            # class name is logged: aiohttp's messages may quote the URL and its token.
            self._record_failure(type(exc).__name__)
            return
        if 200 <= status < 300:
            self._record_success()
        else:
            self._record_failure(f"HTTP {status}")

    def _record_success(self) -> None:
        self._sent += 1
        if self._failing:
            self._failing = False
            logger.info("alert webhook answers again")

    def _record_failure(self, reason: str) -> None:
        self._failed += 1
        if not self._failing:
            self._failing = True
            logger.warning(
                "alert webhook failed (%s); further failures are counted, not logged, "
                "until it answers again",
                reason,
            )


def build_webhook_body(
    key: str,
    status: Status,
    *,
    severity: str,
    summary: str,
    details: Mapping[str, str],
) -> dict[str, Any]:
    """A Slack incoming-webhook message, plus machine-readable keys Slack ignores.

    See https://api.slack.com/messaging/webhooks and the legacy ``attachments``
    format (``color``, ``fields`` with ``title`` / ``value`` / ``short``).
    """
    emoji = _FIRING_EMOJI.get(severity, "🔔") if status == "firing" else _RESOLVED_EMOJI
    fields = [
        {"title": "Alert", "value": key, "short": True},
        {"title": "Severity", "value": severity, "short": True},
        *({"title": name, "value": value, "short": True} for name, value in details.items()),
    ]
    return {
        "text": f"{emoji} [{status.upper()}] {severity}: {summary}",
        "attachments": [{"color": _COLORS[status], "fields": fields}],
        "alert": key,
        "status": status,
        "severity": severity,
        "details": dict(details),
    }


def _build_rules(settings: MetricsAlerting) -> list[_Rule]:
    """The built-in CPU and memory rules, then the configured ones; a configured rule
    named ``high_cpu`` or ``high_memory`` replaces the built-in one (and of two
    configured rules with one name, the last wins)."""
    rules = {
        "high_cpu": _Rule(
            "high_cpu",
            Condition("cpu_percent", ">", settings.cpu_threshold),
            "warning",
            f"CPU usage is above {settings.cpu_threshold:g}%",
        ),
        "high_memory": _Rule(
            "high_memory",
            Condition("memory_percent", ">", settings.memory_threshold),
            "warning",
            f"Memory usage is above {settings.memory_threshold:g}%",
        ),
    }
    for rule in settings.rules:
        summary = rule.description or f"{rule.name}: {rule.condition}"
        rules[rule.name] = _Rule(rule.name, rule.parsed_condition, rule.severity, summary)
    return list(rules.values())


def _read(figures: Mapping[str, float], figure: str) -> float | None:
    value = figures.get(figure)
    if value is None and figure in _FIGURE_ALIASES:
        value = figures.get(_FIGURE_ALIASES[figure])
    if value is None or value != value:  # NaN: no samples in the window
        return None
    return float(value)
