"""Built-in alerting: rules and reported conditions become few, well-timed webhook messages.

Every test sends to a real webhook receiver on a loopback port and moves a fake
clock by hand; ``await alerter.close()`` lets the queued messages go out first.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiohttp import web
from clocks import FakeClock

from proxyapi.config import validate_config
from proxyapi.config.observability import AlertRule, Condition, MetricsAlerting
from proxyapi.errors import ConfigError
from proxyapi.observability.alerts import Alerter

SECRET_PATH = "/services/T000/B000/s3cr3t-t0k3n"

BUSY_AND_FAILING = {"requests": 100.0, "error_rate": 0.2}
BUSY_AND_HEALTHY = {"requests": 100.0, "error_rate": 0.01}
QUIET = {"requests": 2.0, "error_rate": 0.0}


@dataclass
class Receiver:
    """A webhook endpoint that records what it is sent and answers ``status``."""

    url: str = ""
    status: int = 200
    delay: float = 0.0
    raw: list[bytes] = field(default_factory=list)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [orjson.loads(raw) for raw in self.raw]

    @property
    def statuses(self) -> list[tuple[str, str]]:
        return [(body["alert"], body["status"]) for body in self.bodies]

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(5), self.arrived:
            await self.arrived.wait_for(lambda: len(self.raw) >= count)

    async def handle(self, request: web.Request) -> web.Response:
        status = self.status  # as set when the request arrived
        async with self.arrived:
            self.raw.append(await request.read())
            self.arrived.notify_all()
        await asyncio.sleep(self.delay)
        return web.Response(status=status, text="ok")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    received = Receiver()
    app = web.Application()
    app.router.add_post(SECRET_PATH, received.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    received.url = f"http://{host}:{port}{SECRET_PATH}"
    yield received
    await runner.cleanup()


Build = Callable[..., Awaitable[Alerter]]


@pytest.fixture
async def make_alerter(receiver: Receiver, clock: FakeClock) -> AsyncIterator[Build]:
    """Build and start an Alerter sending to ``receiver``; it is closed after the test."""
    built: list[Alerter] = []

    async def build(drain_timeout: float = 2.0, **settings: Any) -> Alerter:
        settings.setdefault("webhook_url", receiver.url)
        alerter = Alerter(MetricsAlerting(**settings), clock=clock, drain_timeout=drain_timeout)
        await alerter.start()
        built.append(alerter)
        return alerter

    yield build
    for alerter in built:
        await alerter.close()


@pytest.fixture
def alert_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Records of the alerts logger, even if logging set-up stopped the tree propagating."""
    tree = logging.getLogger("proxyapi")
    propagate, tree.propagate = tree.propagate, True
    with caplog.at_level(logging.INFO, logger="proxyapi.observability.alerts"):
        yield caplog
    tree.propagate = propagate


def evaluate_every_15s(
    alerter: Alerter, clock: FakeClock, figures: dict[str, float], times: int
) -> None:
    for _ in range(times):
        alerter.evaluate(figures)
        clock.advance(15)


# -- firing and resolving ---------------------------------------------------------------


async def test_a_rule_fires_once_and_resolves_once_across_many_evaluations(
    make_alerter: Build, receiver: Receiver, clock: FakeClock
) -> None:
    alerter = await make_alerter()
    evaluate_every_15s(alerter, clock, BUSY_AND_FAILING, times=20)
    evaluate_every_15s(alerter, clock, BUSY_AND_HEALTHY, times=20)
    await alerter.close()
    assert receiver.statuses == [("high_error_rate", "firing"), ("high_error_rate", "resolved")]
    assert alerter.snapshot()["sent"] == 2


async def test_a_window_with_too_few_requests_neither_fires_nor_resolves(
    make_alerter: Build, receiver: Receiver, clock: FakeClock
) -> None:
    alerter = await make_alerter(min_requests=10)
    evaluate_every_15s(alerter, clock, {"requests": 9.0, "error_rate": 1.0}, times=10)
    assert alerter.snapshot()["firing"] == []

    evaluate_every_15s(alerter, clock, BUSY_AND_FAILING, times=1)
    evaluate_every_15s(alerter, clock, QUIET, times=20)
    await alerter.close()
    assert [alert["key"] for alert in alerter.snapshot()["firing"]] == ["high_error_rate"]
    assert receiver.statuses == [("high_error_rate", "firing")]


async def test_cpu_and_memory_are_judged_whatever_the_traffic(
    make_alerter: Build, receiver: Receiver, clock: FakeClock
) -> None:
    alerter = await make_alerter(cpu_threshold=80, memory_threshold=85)
    alerter.evaluate({"requests": 0.0, "cpu_percent": 93.0, "memory_percent": 85.0})
    await alerter.close()
    assert receiver.statuses == [("high_cpu", "firing")]
    assert receiver.bodies[0]["details"] == {"condition": "cpu_percent > 80", "value": "93"}


async def test_the_seeds_avg_response_time_is_read_under_either_name(
    make_alerter: Build, clock: FakeClock
) -> None:
    rule = {"name": "slow", "condition": "avg_response_time > 300"}
    alerter = await make_alerter(rules=[rule])
    alerter.evaluate({"requests": 50.0, "avg_response_time": 450.0})
    assert [alert["key"] for alert in alerter.snapshot()["firing"]] == ["slow"]
    clock.advance(120)
    alerter.evaluate({"requests": 50.0, "avg_response_time_ms": 120.0})
    assert alerter.snapshot()["firing"] == []


async def test_a_still_firing_alert_is_reminded_once_per_repeat_interval(
    make_alerter: Build, receiver: Receiver, clock: FakeClock
) -> None:
    alerter = await make_alerter(repeat_interval=600)
    alerter.evaluate(BUSY_AND_FAILING)
    clock.advance(599)
    alerter.evaluate(BUSY_AND_FAILING)
    clock.advance(1)
    alerter.evaluate(BUSY_AND_FAILING)
    clock.advance(300)
    alerter.evaluate(BUSY_AND_FAILING)
    await alerter.close()
    assert receiver.statuses == [("high_error_rate", "firing")] * 2


# -- reported conditions and flapping ----------------------------------------------------


async def test_a_reported_condition_fires_and_resolves(
    make_alerter: Build, receiver: Receiver, clock: FakeClock
) -> None:
    alerter = await make_alerter()
    alerter.set_state("config_reload_failed", firing=True, summary="config reload failed")
    clock.advance(300)
    alerter.set_state("config_reload_failed", firing=False, summary="config reloaded")
    alerter.set_state("never_fired", firing=False, summary="nothing to resolve")
    await alerter.close()
    assert receiver.statuses == [
        ("config_reload_failed", "firing"),
        ("config_reload_failed", "resolved"),
    ]


async def test_flapping_back_to_the_notified_state_within_the_hold_sends_nothing(
    make_alerter: Build, receiver: Receiver, clock: FakeClock
) -> None:
    alerter = await make_alerter()
    key = "circuit_breaker_open:openai"
    alerter.set_state(key, firing=True, summary="breaker open", severity="critical")
    for firing in [False, True, False, True, False, True]:
        clock.advance(5)
        alerter.set_state(key, firing=firing, summary="breaker flapping", severity="critical")
    clock.advance(60)
    alerter.evaluate({})
    await alerter.close()
    assert receiver.statuses == [(key, "firing")]


async def test_flapping_is_coalesced_into_the_state_at_the_end_of_the_hold(
    make_alerter: Build, receiver: Receiver, clock: FakeClock
) -> None:
    alerter = await make_alerter()
    key = "circuit_breaker_open:openai"
    alerter.set_state(key, firing=True, summary="breaker open")
    for firing in [False, True, False, True, False]:
        clock.advance(5)
        alerter.set_state(key, firing=firing, summary="breaker closed")
    clock.advance(30)
    alerter.evaluate({})  # 55 s after the first message: still within the hold
    clock.advance(5)
    alerter.evaluate({})
    await alerter.close()
    assert receiver.statuses == [(key, "firing"), (key, "resolved")]


# -- the global cap ----------------------------------------------------------------------


async def test_notifications_over_max_per_minute_are_dropped_and_counted(
    make_alerter: Build, receiver: Receiver, clock: FakeClock
) -> None:
    alerter = await make_alerter(max_per_minute=3)
    for provider in ["a", "b", "c", "d", "e"]:
        alerter.set_state(f"circuit_breaker_open:{provider}", firing=True, summary="open")
    await alerter.close()
    assert len(receiver.raw) == 3
    assert alerter.snapshot()["dropped"] == 2


async def test_a_dropped_notification_is_not_replayed_but_the_current_state_is_sent_later(
    make_alerter: Build, receiver: Receiver, clock: FakeClock
) -> None:
    alerter = await make_alerter(max_per_minute=1)
    alerter.set_state("breaker:a", firing=True, summary="open")
    alerter.set_state("breaker:b", firing=True, summary="open")  # dropped
    alerter.set_state("breaker:c", firing=True, summary="open")  # dropped
    alerter.set_state("breaker:c", firing=False, summary="closed")
    clock.advance(60)
    alerter.evaluate({})
    await alerter.close()
    assert receiver.statuses == [("breaker:a", "firing"), ("breaker:b", "firing")]
    assert alerter.snapshot()["dropped"] == 2


# -- a failing webhook -----------------------------------------------------------------


async def test_a_webhook_answering_500_is_counted_as_failed_and_logged_once(
    make_alerter: Build,
    receiver: Receiver,
    clock: FakeClock,
    alert_log: pytest.LogCaptureFixture,
) -> None:
    receiver.status = 500
    alerter = await make_alerter()
    alerter.set_state("breaker:a", firing=True, summary="open")
    alerter.set_state("breaker:b", firing=True, summary="open")
    await alerter.close()
    assert (alerter.snapshot()["sent"], alerter.snapshot()["failed"]) == (0, 2)
    warnings = [r for r in alert_log.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "alert webhook failed (HTTP 500); further failures are counted, not logged, "
        "until it answers again"
    ]


async def test_a_new_failure_streak_is_logged_again_after_the_webhook_recovers(
    make_alerter: Build,
    receiver: Receiver,
    clock: FakeClock,
    alert_log: pytest.LogCaptureFixture,
) -> None:
    alerter = await make_alerter()
    for count, status in enumerate([500, 200, 500], start=1):
        receiver.status = status
        alerter.set_state(f"breaker:{count}", firing=True, summary="open")
        await receiver.wait_for(count)
    await alerter.close()
    levels = [r.levelname for r in alert_log.records]
    assert levels == ["WARNING", "INFO", "WARNING"]
    assert alerter.snapshot()["failed"] == 2


async def test_a_webhook_that_is_not_listening_is_counted_and_never_raises_into_evaluate(
    make_alerter: Build, clock: FakeClock, alert_log: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{closed_port}{SECRET_PATH}"
    alerter = await make_alerter(webhook_url=url)
    alerter.evaluate(BUSY_AND_FAILING)
    await alerter.close()
    assert alerter.snapshot()["failed"] == 1
    assert SECRET_PATH not in alert_log.text and str(closed_port) not in alert_log.text


async def test_close_waits_only_a_bounded_time_for_a_slow_webhook(
    make_alerter: Build, receiver: Receiver, clock: FakeClock
) -> None:
    receiver.delay = 10
    alerter = await make_alerter(drain_timeout=0.1)
    for provider in ["a", "b", "c"]:
        alerter.set_state(f"breaker:{provider}", firing=True, summary="open")
    await receiver.wait_for(1)
    async with asyncio.timeout(2):
        await alerter.close()
    assert alerter.snapshot()["dropped"] == 2  # the two still queued; the one in flight is cut


# -- the message -------------------------------------------------------------------------


async def test_the_body_is_slack_compatible_and_machine_readable(
    make_alerter: Build, receiver: Receiver, clock: FakeClock
) -> None:
    alerter = await make_alerter()
    alerter.set_state(
        "circuit_breaker_open:openai",
        firing=True,
        summary="circuit breaker for openai is open",
        severity="critical",
        details={"provider": "openai"},
    )
    await alerter.close()
    assert receiver.bodies == [
        {
            "text": "🚨 [FIRING] critical: circuit breaker for openai is open",
            "attachments": [
                {
                    "color": "#d32f2f",
                    "fields": [
                        {"title": "Alert", "value": "circuit_breaker_open:openai", "short": True},
                        {"title": "Severity", "value": "critical", "short": True},
                        {"title": "provider", "value": "openai", "short": True},
                    ],
                }
            ],
            "alert": "circuit_breaker_open:openai",
            "status": "firing",
            "severity": "critical",
            "details": {"provider": "openai"},
        }
    ]


async def test_a_resolved_message_is_green_and_says_resolved(
    make_alerter: Build, receiver: Receiver, clock: FakeClock
) -> None:
    alerter = await make_alerter()
    evaluate_every_15s(alerter, clock, BUSY_AND_FAILING, times=5)
    evaluate_every_15s(alerter, clock, BUSY_AND_HEALTHY, times=1)
    await alerter.close()
    resolved = receiver.bodies[-1]
    assert resolved["text"] == "✅ [RESOLVED] warning: Error rate is above 5%"
    assert resolved["attachments"][0]["color"] == "#2e7d32"
    assert resolved["details"] == {
        "condition": "error_rate > 0.05",
        "value": "0.01",
        "requests": "100",
    }


async def test_the_webhook_url_is_in_no_message_and_not_in_the_snapshot(
    make_alerter: Build, receiver: Receiver, clock: FakeClock
) -> None:
    alerter = await make_alerter()
    alerter.evaluate(BUSY_AND_FAILING)
    alerter.set_state("config_reload_failed", firing=True, summary="reload failed")
    await alerter.close()
    assert len(receiver.raw) == 2
    assert not any(b"s3cr3t" in raw for raw in receiver.raw)
    assert "s3cr3t" not in orjson.dumps(alerter.snapshot()).decode()


async def test_the_snapshot_lists_firing_alerts_and_counters(
    make_alerter: Build, clock: FakeClock
) -> None:
    alerter = await make_alerter()
    alerter.evaluate(BUSY_AND_FAILING)
    clock.advance(30)
    await alerter.close()
    assert alerter.snapshot() == {
        "enabled": True,
        "firing": [
            {
                "key": "high_error_rate",
                "severity": "warning",
                "since": 1000.0,
                "firing_for_s": 30.0,
                "notified": True,
            }
        ],
        "sent": 1,
        "dropped": 0,
        "failed": 0,
        "queued": 0,
    }


# -- configuration -----------------------------------------------------------------------


def test_an_alerter_is_built_only_with_alerting_enabled_and_a_webhook_url() -> None:
    with pytest.raises(ValueError, match="webhook_url"):
        Alerter(MetricsAlerting())
    with pytest.raises(ValueError, match="enabled"):
        Alerter(MetricsAlerting(enabled=False, webhook_url="http://127.0.0.1:9/hook"))


def test_a_condition_is_parsed_once_into_figure_op_and_threshold() -> None:
    rule = AlertRule(name="slow", condition="avg_response_time>=300")
    assert rule.parsed_condition == Condition("avg_response_time_ms", ">=", 300.0)
    assert str(rule.parsed_condition) == "avg_response_time_ms >= 300"


def alerting_problems(condition: str) -> list[str]:
    rules = [{"name": "r", "condition": condition}]
    with pytest.raises(ConfigError) as caught:
        validate_config({"providers": [], "metrics": {"alerting": {"rules": rules}}})
    return caught.value.problems


@pytest.mark.parametrize(
    ("condition", "reason"),
    [
        (
            "errro_rate > 0.05",
            "unknown figure 'errro_rate'; known: error_rate, avg_response_time, "
            "avg_response_time_ms, p95_latency_ms, p99_latency_ms, cpu_percent, "
            "memory_percent, requests_per_second",
        ),
        (
            "error_rate == 0.05",
            "'error_rate == 0.05' is not a condition; write '<figure> <op> <number>' "
            "with op one of > >= < <=, e.g. 'error_rate > 0.05'",
        ),
        ("p95_latency_ms > 5s", "'5s' in 'p95_latency_ms > 5s' is not a number"),
        ("error_rate > 5", "error_rate threshold 5 should be from 0 to 1 (a fraction: 5% is 0.05)"),
        ("requests_per_second < -1", "requests_per_second threshold -1 should not be negative"),
    ],
)
def test_config_refuses_a_bad_condition_and_says_why(condition: str, reason: str) -> None:
    assert alerting_problems(condition) == [f"metrics.alerting.rules[0].condition: {reason}"]
