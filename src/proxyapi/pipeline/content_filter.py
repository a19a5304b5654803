"""``validation.content_filter``: keyword and regex rules over requests and answers.

Every rule of one direction (request or response) is compiled into ONE regex
with a named group per rule, so each text is scanned once however many rules
there are, and text with nothing to filter costs a single ``search``.

Keywords match whole words, case-insensitively (``key`` catches ``KEY`` but not
``keyboard``: the seed's example keywords would otherwise block ordinary prompts).
Regex patterns match as written; add ``(?i)`` for case-insensitivity.

Matched text is never logged: logs and ``proxy_api_content_filter_total`` name
the rule only.
"""

from __future__ import annotations

import logging
import re
import re._parser as sre_parse  # type: ignore[import-not-found]  # the widths of patterns
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from proxyapi.config.traffic import ContentFilter as ContentFilterConfig, ContentFilterRule
from proxyapi.errors import ContentBlocked
from proxyapi.observability.metrics import Metrics

logger = logging.getLogger("proxyapi.content_filter")

Direction = Literal["request", "response"]
_LEADING_FLAGS = re.compile(r"^\(\?([aiLmsux]+)\)")


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    action: str
    mask: str


@dataclass(slots=True)
class Hit:
    """What ``Screen.apply`` found: the text to send on, where it ends, any block."""

    text: str
    stop: int
    blocked: Rule | None = None
    hits: list[Rule] = field(default_factory=list)


def _alternative(rule: ContentFilterRule) -> str | None:
    """One rule as one regex alternative, or None when it has nothing to match."""
    if rule.type == "keyword":
        words = [_word(k) for k in rule.keywords if k]
        return f"(?i:{'|'.join(words)})" if words else None
    parts = [_scoped(p) for p in rule.patterns if p]
    return "|".join(parts) or None


def _word(keyword: str) -> str:
    escaped = re.escape(keyword)
    start = r"\b" if keyword[0].isalnum() or keyword[0] == "_" else ""
    end = r"\b" if keyword[-1].isalnum() or keyword[-1] == "_" else ""
    return f"{start}{escaped}{end}"


def _scoped(pattern: str) -> str:
    """A pattern's leading global flags (``(?i)``) made local, so patterns can be joined."""
    flags = _LEADING_FLAGS.match(pattern)
    if flags is None:
        return f"(?:{pattern})"
    return f"(?{flags.group(1)}:{pattern[flags.end() :]})"


def _width(pattern: str, cap: int) -> int:
    """The longest text ``pattern`` can match, at most ``cap``."""
    try:
        _, longest = sre_parse.parse(pattern).getwidth()
    except Exception:  # an internal API: be safe, hold back the most
        return cap
    return min(int(longest), cap)


class Screen:
    """The rules of one direction, compiled into one regex."""

    def __init__(self, rules: list[tuple[Rule, str]], hold_back: int) -> None:
        self.rules = [rule for rule, _ in rules]
        self.pattern = re.compile("|".join(f"(?P<r{i}>{alt})" for i, (_, alt) in enumerate(rules)))
        self.hold_back = max(1, hold_back)

    def apply(self, text: str, start: int = 0, limit: int | None = None) -> Hit:
        """``text[start:stop]`` with redactions made, where ``stop`` is ``limit`` or later.

        ``text[:start]`` is context only (for ``\\b`` and lookbehinds). Matches
        starting at or past ``limit`` are left for later; one starting before it
        is taken whole. Stops at a ``block`` match, returning the text before it.
        """
        limit = len(text) if limit is None else limit
        if self.pattern.search(text, start) is None:
            return Hit(text[start:limit], limit)
        out: list[str] = []
        hits: list[Rule] = []
        done = start
        stop = limit
        for match in self.pattern.finditer(text, start):
            if match.start() >= limit:
                break
            rule = self.rules[int((match.lastgroup or "r0")[1:])]
            hits.append(rule)
            if rule.action == "block":
                out.append(text[done : match.start()])
                return Hit("".join(out), match.start(), rule, hits)
            if rule.action == "redact":
                out.append(text[done : match.start()])
                out.append(rule.mask)
                done = match.end()
            stop = max(stop, match.end())
        out.append(text[done:stop])
        return Hit("".join(out), stop, None, hits)


class ContentFilter:
    """The runtime filter built from ``validation.content_filter``; None when it is off."""

    def __init__(self, config: ContentFilterConfig, metrics: Metrics | None) -> None:
        self.metrics = metrics
        self.request = self._screen(config, "request")
        self.response = self._screen(config, "response")

    @staticmethod
    def build(config: ContentFilterConfig, metrics: Metrics | None) -> ContentFilter | None:
        if not config.enabled or not config.rules:
            return None
        built = ContentFilter(config, metrics)
        return built if built.request or built.response else None

    @staticmethod
    def _screen(config: ContentFilterConfig, direction: Direction) -> Screen | None:
        rules: list[tuple[Rule, str]] = []
        widest = 1
        for index, rule in enumerate(config.rules):
            alternative = _alternative(rule)
            if direction not in rule.applies_to or alternative is None:
                continue
            rules.append((Rule(rule.name or f"rule-{index}", rule.action, rule.mask), alternative))
            for pattern in rule.patterns:
                widest = max(widest, _width(pattern, config.max_hold_back))
            widest = max(widest, *(len(k) for k in rule.keywords), 1)
        return Screen(rules, min(widest, config.max_hold_back)) if rules else None

    def note(self, hits: list[Rule], direction: Direction) -> None:
        """Count every hit; log flags by rule name (never the matched text)."""
        for rule in hits:
            if self.metrics is not None:
                self.metrics.content_filter.labels(rule.name, rule.action, direction).inc()
            if rule.action == "flag":
                logger.info("content filter flagged a %s (rule %s)", direction, rule.name)

    def screen_request(self, body: dict[str, Any]) -> None:
        """Redact or flag the request's texts in place; 400 ``content_filter`` on a block."""
        screen = self.request
        messages = body.get("messages")
        if screen is None or not isinstance(messages, list):
            return
        for holder, key in _message_texts(messages):
            hit = screen.apply(holder[key])
            if not hit.hits:
                continue
            self.note(hit.hits, "request")
            if hit.blocked is not None:
                raise ContentBlocked(
                    f"The request was blocked by content filter rule '{hit.blocked.name}'.",
                    param="messages",
                )
            holder[key] = hit.text

    def screen_answer(self, body: bytes) -> bytes:
        """A chat completion with the response rules applied (block: finish_reason)."""
        screen = self.response
        if screen is None:
            return body
        answer = orjson.loads(body)
        changed = False
        for choice in answer.get("choices") or ():
            message = choice.get("message") if isinstance(choice, dict) else None
            if not isinstance(message, dict):
                continue
            for holder, key in _message_texts([message]):
                hit = screen.apply(holder[key])
                if not hit.hits:
                    continue
                self.note(hit.hits, "response")
                changed = True
                holder[key] = hit.text
                if hit.blocked is not None:
                    choice["finish_reason"] = "content_filter"
                    message.pop("tool_calls", None)
                    break
        return orjson.dumps(answer) if changed else body

    def screen_stream(
        self, first: bytes, rest: AsyncIterator[bytes]
    ) -> tuple[bytes, AsyncIterator[bytes]]:
        """The stream with the response rules applied across chunk boundaries."""
        if self.response is None:
            return first, rest
        screener = StreamScreener(self, self.response)
        return screener.feed(first), screener.follow(rest)


def _message_texts(messages: list[Any]) -> Iterator[tuple[dict[str, Any], str]]:
    """(holder, key) of every text in ``messages``: contents, text parts, tool arguments."""
    for message in messages:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            yield message, "content"
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    yield part, "text"
        calls = message.get("tool_calls")
        for call in calls if isinstance(calls, list) else ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                yield function, "arguments"
        legacy = message.get("function_call")
        if isinstance(legacy, dict) and isinstance(legacy.get("arguments"), str):
            yield legacy, "arguments"


class StreamScreener:
    """Applies the response rules to ``delta.content`` of an OpenAI SSE stream.

    Per choice it holds back the last ``hold_back`` characters (the longest match
    the rules allow), sending text on once no match can start in it; the held text
    goes out with the choice's finish chunk. A block ends the stream with a
    ``finish_reason: content_filter`` chunk and ``[DONE]``.
    """

    def __init__(self, owner: ContentFilter, screen: Screen) -> None:
        self.owner = owner
        self.screen = screen
        self.pending: dict[int, str] = {}  # choice index -> text not sent yet
        self.context: dict[int, str] = {}  # choice index -> tail of the text sent
        self.partial = b""
        self.blocked = False

    async def follow(self, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        try:
            async for chunk in rest:
                if self.blocked:
                    break
                out = self.feed(chunk)
                if out:
                    yield out
        finally:
            closing = getattr(rest, "aclose", None)
            if closing is not None:
                await closing()

    def feed(self, data: bytes) -> bytes:
        """Whole SSE events in, screened events out."""
        events = (self.partial + data).split(b"\n\n")
        self.partial = events.pop()
        out: list[bytes] = []
        for event in events:
            if self.blocked:
                break
            if event:
                out.append(self._event(event))
        return b"".join(out)

    def _event(self, event: bytes) -> bytes:
        if not event.startswith(b"data: {"):
            return event + b"\n\n"
        chunk = orjson.loads(event[6:])
        choices = chunk.get("choices")
        if not isinstance(choices, list):
            return event + b"\n\n"
        for choice in choices:
            if isinstance(choice, dict) and self._choice(choice):
                return b"data: " + orjson.dumps(chunk) + b"\n\ndata: [DONE]\n\n"
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def _choice(self, choice: dict[str, Any]) -> bool:
        """Screen one choice's delta in place; True when a block rule matched."""
        index = choice.get("index", 0)
        delta = choice.get("delta")
        text = delta.get("content") if isinstance(delta, dict) else None
        pending = self.pending.get(index, "") + (text if isinstance(text, str) else "")
        finished = choice.get("finish_reason") is not None
        if not pending and not finished:
            return False
        context = self.context.get(index, "")
        whole = context + pending
        cut = len(whole) if finished else max(len(context), len(whole) - self.screen.hold_back)
        hit = self.screen.apply(whole, len(context), cut)
        self.owner.note(hit.hits, "response")
        if isinstance(delta, dict) and (text is not None or hit.text):
            delta["content"] = hit.text
        elif hit.text:
            choice["delta"] = {"content": hit.text}
        if hit.blocked is not None:
            choice["finish_reason"] = "content_filter"
            self.blocked = True
            return True
        self.pending[index] = whole[hit.stop :]
        self.context[index] = whole[max(0, hit.stop - self.screen.hold_back) : hit.stop]
        return False
