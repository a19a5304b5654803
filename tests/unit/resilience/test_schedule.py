"""Schedule rules: a small safe condition language over hour, weekday and minute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from proxyapi.config.testing import ChaosRule, ChaosSchedule
from proxyapi.resilience.schedule import (
    Moment,
    Schedule,
    ScheduleError,
    compile_condition,
    schedule_allows,
)

# 2024-01-01 was a Monday.
MONDAY = datetime(2024, 1, 1, tzinfo=UTC)


def holds(condition: str, *, hour: int = 0, weekday: int = 1, minute: int = 0) -> bool:
    return compile_condition(condition).holds(Moment(hour=hour, weekday=weekday, minute=minute))


def rule(condition: str, *, enabled: bool = True, name: str = "r") -> ChaosRule:
    return ChaosRule(name=name, condition=condition, enabled=enabled)


@pytest.mark.parametrize(
    ("condition", "hour", "expected"),
    [
        ("hour >= 9 and hour <= 17", 9, True),
        ("hour >= 9 and hour <= 17", 17, True),
        ("hour >= 9 and hour <= 17", 18, False),
        ("hour == 3", 3, True),
        ("hour != 3", 3, False),
        ("hour < 3", 2, True),
        ("hour > 3", 3, False),
        ("9 <= hour <= 17", 12, True),
        ("9 <= hour <= 17", 20, False),
        ("((hour == 4))", 4, True),
        ("not hour == 4", 4, False),
        ("not not hour == 4", 4, True),
    ],
)
def test_comparisons_and_boolean_operators_evaluate_like_python(
    condition: str, hour: int, expected: bool
) -> None:
    assert holds(condition, hour=hour) is expected


def test_weekday_is_iso_monday_one_to_sunday_seven() -> None:
    weekdays = "weekday >= 1 and weekday <= 5"
    assert Moment.of(MONDAY).weekday == 1
    assert Moment.of(MONDAY + timedelta(days=6)).weekday == 7
    assert holds(weekdays, weekday=5)
    assert not holds(weekdays, weekday=6)
    assert not holds(weekdays, weekday=7)


def test_minute_is_available_to_conditions() -> None:
    assert holds("minute < 30 or hour == 3", hour=1, minute=29)
    assert holds("minute < 30 or hour == 3", hour=3, minute=45)
    assert not holds("minute < 30 or hour == 3", hour=1, minute=30)


def test_and_binds_tighter_than_or() -> None:
    # Read as: hour == 1 or (hour == 2 and minute == 5).
    assert holds("hour == 1 or hour == 2 and minute == 5", hour=1, minute=0)
    assert not holds("hour == 1 or hour == 2 and minute == 5", hour=2, minute=0)


def test_not_binds_tighter_than_and() -> None:
    # Read as: (not hour == 1) and minute == 0.
    assert not holds("not hour == 1 and minute == 0", hour=1, minute=0)
    assert holds("not hour == 1 and minute == 0", hour=2, minute=0)


def test_parentheses_override_precedence() -> None:
    assert not holds("(hour == 1 or hour == 2) and minute == 5", hour=1, minute=0)
    assert holds("not (hour >= 2 and hour <= 6)", hour=7)
    assert not holds("not (hour >= 2 and hour <= 6)", hour=4)


def test_whitespace_is_optional_around_operators() -> None:
    assert holds("hour>=9 and(hour<=17)", hour=10)
    assert not holds("not(hour>=9)", hour=10)


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("hour >= 9 and x", "unknown name 'x' at 14 (conditions may use hour, weekday, minute)"),
        ("hour >= 9 and and hour < 3", "unexpected token 'and' at 14"),
        ("hour >= ", "unexpected end of condition at 8"),
        ("hour", "expected a comparison operator at 4"),
        ("hour = 9", "unexpected character '=' at 5 (use == to compare)"),
        ("(hour == 9", "unexpected end of condition at 10"),
        ("hour == 9)", "unexpected token ')' at 9"),
        ("hour == 9 hour == 10", "unexpected token 'hour' at 10"),
        ("", "empty condition"),
        ("   ", "empty condition"),
        ("hour == 9 && minute == 0", "unexpected character '&' at 10"),
        ("hour == 9.5", "unexpected character '.' at 9"),
        ("hour == -1", "unexpected character '-' at 8"),
    ],
)
def test_invalid_conditions_raise_schedule_error_with_position(
    condition: str, message: str
) -> None:
    with pytest.raises(ScheduleError) as caught:
        compile_condition(condition)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    "condition",
    [
        "__import__('os').system('true')",
        "hour.__class__ == 1",
        "open('/etc/passwd')",
        "hour == 1 if True else 2",
        "lambda: 1",
        "[hour][0] == 1",
        "True",
        "hour == ０",  # a full-width digit: Python would accept it as a number
    ],
)
def test_python_expressions_are_rejected_not_evaluated(condition: str) -> None:
    with pytest.raises(ScheduleError):
        compile_condition(condition)


def test_schedule_error_is_a_value_error() -> None:
    assert issubclass(ScheduleError, ValueError)


def test_enabled_rules_must_all_hold() -> None:
    rules = [rule("hour >= 9 and hour <= 17"), rule("weekday >= 1 and weekday <= 5")]
    assert schedule_allows(rules, MONDAY.replace(hour=10), "UTC")
    assert not schedule_allows(rules, MONDAY.replace(hour=8), "UTC")
    assert not schedule_allows(rules, MONDAY.replace(hour=10) + timedelta(days=5), "UTC")


def test_disabled_rules_are_ignored() -> None:
    rules = [rule("hour >= 9"), rule("hour >= 2 and hour <= 6", enabled=False)]
    assert schedule_allows(rules, MONDAY.replace(hour=10), "UTC")


def test_no_enabled_rules_always_allows() -> None:
    assert schedule_allows([], MONDAY, "UTC")
    assert schedule_allows([rule("hour == 99", enabled=False)], MONDAY, "UTC")


def test_a_disabled_schedule_always_allows() -> None:
    schedule = Schedule.from_config(ChaosSchedule(enabled=False, rules=[rule("hour == 99")]))
    assert schedule.allows(MONDAY)


def test_conditions_see_the_time_in_the_schedule_timezone() -> None:
    # 08:30 UTC on a Monday is 09:30 in Berlin (CET, UTC+1) and 03:30 in New York.
    now = MONDAY.replace(hour=8, minute=30)
    rules = [rule("hour >= 9 and hour <= 17")]
    assert not schedule_allows(rules, now, "UTC")
    assert schedule_allows(rules, now, "Europe/Berlin")
    assert not schedule_allows(rules, now, "America/New_York")


def test_the_weekday_follows_the_timezone_across_midnight() -> None:
    # Monday 23:30 UTC is already Tuesday in Tokyo.
    now = MONDAY.replace(hour=23, minute=30)
    assert schedule_allows([rule("weekday == 1")], now, "UTC")
    assert schedule_allows([rule("weekday == 2")], now, "Asia/Tokyo")


def test_an_aware_now_in_another_offset_is_converted() -> None:
    now = datetime(2024, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=5)))  # 07:00 UTC
    assert schedule_allows([rule("hour == 7")], now, "UTC")


def test_a_naive_now_is_taken_as_utc() -> None:
    assert (
        schedule_allows([rule("hour == 10")], datetime(2024, 1, 1, 10, 0), "Europe/Berlin") is False
    )
    assert schedule_allows([rule("hour == 11")], datetime(2024, 1, 1, 10, 0), "Europe/Berlin")


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "", "../etc/passwd"])
def test_an_unknown_timezone_is_a_schedule_error(name: str) -> None:
    with pytest.raises(ScheduleError, match="unknown timezone"):
        schedule_allows([], MONDAY, name)


def test_a_bad_rule_built_in_code_is_reported_with_its_name() -> None:
    # Config validation refuses such a rule; one built without validation still fails clearly.
    unchecked = ChaosRule.model_construct(name="nights", condition="night == 1", enabled=True)
    with pytest.raises(ScheduleError, match=r"schedule rule 'nights': unknown name 'night' at 0"):
        Schedule([unchecked])


def test_the_seed_schedule_allows_weekday_business_hours_only() -> None:
    schedule = Schedule.from_config(
        ChaosSchedule(
            timezone="UTC",
            rules=[
                rule("hour >= 9 and hour <= 17", name="business_hours_only"),
                rule("weekday >= 1 and weekday <= 5", name="weekdays_only"),
                rule("hour >= 2 and hour <= 6", name="low_traffic_periods", enabled=False),
            ],
        )
    )
    assert schedule.allows(MONDAY.replace(hour=9))
    assert not schedule.allows(MONDAY.replace(hour=3))
    assert not schedule.allows(MONDAY.replace(hour=9) + timedelta(days=6))
