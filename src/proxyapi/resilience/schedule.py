"""When chaos is allowed to run: the ``chaos_engineering.schedule`` rules.

A rule's ``condition`` is a tiny boolean language over the local time in the
schedule's timezone, parsed here by hand and compiled to closures. Nothing the
user writes ever reaches ``eval``, ``exec`` or Python's ``ast``::

    condition  := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | "(" or_expr ")" | comparison
    comparison := operand (OP operand)+        # chained as in Python: 9 <= hour <= 17
    operand    := "hour" | "weekday" | "minute" | INTEGER
    OP         := "==" | "!=" | "<" | "<=" | ">" | ">="

``hour`` is 0-23, ``minute`` 0-59 and ``weekday`` is ISO 8601: Monday=1 .. Sunday=7,
so ``weekday >= 1 and weekday <= 5`` means Monday to Friday. ``not`` binds
tighter than ``and``, which binds tighter than ``or``.

Semantics of a schedule: every *enabled* rule is a condition that must hold for
chaos to be active (the rules are and-ed); a disabled schedule, or one without
enabled rules, always allows chaos. Errors name the character offset (from 0)
in the condition: ``ScheduleError("unexpected token 'x' at 12")``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    # Only for annotations, so config validators may import compile_condition from here.
    from proxyapi.config.testing import ChaosRule, ChaosSchedule

VARIABLES = ("hour", "weekday", "minute")
_KEYWORDS = frozenset({"and", "or", "not"})
_COMPARISONS: dict[str, Callable[[int, int], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class ScheduleError(ValueError):
    """A schedule rule or timezone that cannot be used; the message is meant for the user."""


@dataclass(frozen=True, slots=True)
class Moment:
    """The values a condition can see, in the schedule's timezone."""

    hour: int
    weekday: int  # ISO: Monday=1 .. Sunday=7
    minute: int

    @classmethod
    def of(cls, at: datetime) -> Moment:
        return cls(hour=at.hour, weekday=at.isoweekday(), minute=at.minute)


Test = Callable[[Moment], bool]
_Operand = Callable[[Moment], int]


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "int", "name", "op", "(", ")" or "end"
    text: str
    at: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif char in "()":
            tokens.append(_Token(char, char, i))
            i += 1
        elif char.isascii() and char.isdigit():
            end = _scan(text, i, lambda c: c.isascii() and c.isdigit())
            tokens.append(_Token("int", text[i:end], i))
            i = end
        elif char.isascii() and (char.isalpha() or char == "_"):
            end = _scan(text, i, lambda c: c.isascii() and (c.isalnum() or c == "_"))
            tokens.append(_Token("name", text[i:end], i))
            i = end
        elif text[i : i + 2] in _COMPARISONS:
            tokens.append(_Token("op", text[i : i + 2], i))
            i += 2
        elif char in _COMPARISONS:
            tokens.append(_Token("op", char, i))
            i += 1
        else:
            hint = " (use == to compare)" if char == "=" else ""
            raise ScheduleError(f"unexpected character {char!r} at {i}{hint}")
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _scan(text: str, start: int, accepts: Callable[[str], bool]) -> int:
    end = start
    while end < len(text) and accepts(text[end]):
        end += 1
    return end


class _Parser:
    """Recursive descent over the token list, one method per grammar rule."""

    def __init__(self, text: str) -> None:
        self._tokens = _tokenize(text)
        self._pos = 0

    def parse(self) -> Test:
        if self._peek().kind == "end":
            raise ScheduleError("empty condition")
        test = self._or_expr()
        self._expect("end")
        return test

    def _peek(self) -> _Token:
        return self._tokens[self._pos]

    def _advance(self) -> _Token:
        token = self._tokens[self._pos]
        self._pos += 1
        return token

    def _accept_keyword(self, word: str) -> bool:
        token = self._peek()
        if token.kind == "name" and token.text == word:
            self._pos += 1
            return True
        return False

    def _expect(self, kind: str) -> _Token:
        token = self._peek()
        if token.kind != kind:
            raise _unexpected(token)
        return self._advance()

    def _or_expr(self) -> Test:
        tests = [self._and_expr()]
        while self._accept_keyword("or"):
            tests.append(self._and_expr())
        if len(tests) == 1:
            return tests[0]
        return lambda moment: any(test(moment) for test in tests)

    def _and_expr(self) -> Test:
        tests = [self._not_expr()]
        while self._accept_keyword("and"):
            tests.append(self._not_expr())
        if len(tests) == 1:
            return tests[0]
        return lambda moment: all(test(moment) for test in tests)

    def _not_expr(self) -> Test:
        if self._accept_keyword("not"):
            inner = self._not_expr()
            return lambda moment: not inner(moment)
        if self._peek().kind == "(":
            self._advance()
            test = self._or_expr()
            self._expect(")")
            return test
        return self._comparison()

    def _comparison(self) -> Test:
        operands = [self._operand()]
        compares: list[Callable[[int, int], bool]] = []
        while self._peek().kind == "op":
            compares.append(_COMPARISONS[self._advance().text])
            operands.append(self._operand())
        if not compares:
            raise ScheduleError(f"expected a comparison operator at {self._peek().at}")

        def test(moment: Moment) -> bool:
            values = [operand(moment) for operand in operands]
            return all(cmp(*pair) for cmp, pair in zip(compares, pairwise(values), strict=True))

        return test

    def _operand(self) -> _Operand:
        token = self._peek()
        if token.kind == "int":
            self._advance()
            value = int(token.text)
            return lambda moment: value
        if token.kind == "name" and token.text not in _KEYWORDS:
            if token.text not in VARIABLES:
                raise ScheduleError(
                    f"unknown name {token.text!r} at {token.at} "
                    f"(conditions may use {', '.join(VARIABLES)})"
                )
            self._advance()
            return operator.attrgetter(token.text)
        raise _unexpected(token)


def _unexpected(token: _Token) -> ScheduleError:
    if token.kind == "end":
        return ScheduleError(f"unexpected end of condition at {token.at}")
    return ScheduleError(f"unexpected token {token.text!r} at {token.at}")


@dataclass(frozen=True, slots=True)
class Condition:
    """A compiled rule condition; ``holds(moment)`` evaluates it."""

    source: str
    _test: Test

    def holds(self, moment: Moment) -> bool:
        return self._test(moment)


def compile_condition(text: str) -> Condition:
    """Parse ``text`` into a Condition, or raise ScheduleError saying where it went wrong."""
    return Condition(text, _Parser(text).parse())


def load_timezone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ScheduleError(f"unknown timezone {name!r}") from exc


class Schedule:
    """The enabled rules of a schedule, compiled once; ``allows(now)`` per request."""

    def __init__(self, rules: Sequence[ChaosRule], timezone: str = "UTC") -> None:
        self.timezone = load_timezone(timezone)
        self.conditions: list[tuple[str, Condition]] = []
        for rule in rules:
            if not rule.enabled:
                continue
            try:
                self.conditions.append((rule.name, compile_condition(rule.condition)))
            except ScheduleError as exc:
                raise ScheduleError(f"schedule rule {rule.name!r}: {exc}") from None

    @classmethod
    def from_config(cls, config: ChaosSchedule) -> Schedule:
        """Build from the ``schedule`` block; a disabled block has no rules (always allows)."""
        return cls(config.rules if config.enabled else [], config.timezone)

    def allows(self, now: datetime) -> bool:
        """Whether every enabled rule holds at ``now`` (a naive ``now`` is taken as UTC)."""
        if not self.conditions:
            return True
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        moment = Moment.of(now.astimezone(self.timezone))
        return all(condition.holds(moment) for _, condition in self.conditions)


def schedule_allows(rules: Sequence[ChaosRule], now: datetime, timezone: str) -> bool:
    """Whether every enabled rule in ``rules`` holds at ``now`` in ``timezone``.

    Compiles the rules on each call; keep a Schedule to evaluate them repeatedly.
    """
    return Schedule(rules, timezone).allows(now)
