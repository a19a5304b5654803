"""The Jinja2 environment prompt templates render in: sandboxed, strict, switchable helpers.

Templates come from the operator's directory but their variables come from
clients, so rendering runs in Jinja2's ``ImmutableSandboxedEnvironment``:
attributes starting with ``_`` (``''.__class__``) and mutating methods are
refused, and ``StrictUndefined`` turns a missing variable into an error instead
of an empty string. The ``templates.filters`` and ``templates.functions``
switches decide which of our helpers exist at all.
"""

from __future__ import annotations

import base64
import hashlib
import random as _random
import uuid as _uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from proxyapi.config.prompts import TemplatesConfig

# Bounds on what one expression may build: ``'a' * 10**10`` would take the process down.
MAX_REPEAT = 100_000
MAX_EXPONENT = 1_000
# Fixed-length digests only: the shake_* ones need a length argument.
HASH_ALGORITHMS = tuple(sorted(a for a in hashlib.algorithms_guaranteed if "shake" not in a))


def json_encode(value: Any) -> str:
    """``{{ data | json_encode }}``: the value as JSON text."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def base64_encode(value: Any) -> str:
    """``{{ text | base64_encode }}``: the UTF-8 bytes of the value, standard base64."""
    raw = value if isinstance(value, bytes) else str(value).encode()
    return base64.b64encode(raw).decode("ascii")


def hash_value(value: Any, algorithm: str = "sha256") -> str:
    """``{{ text | hash }}`` or ``| hash('md5')``: the hex digest; other values as JSON first."""
    if algorithm not in HASH_ALGORITHMS:
        raise ValueError(
            f"unknown hash algorithm '{algorithm}'; use one of {', '.join(HASH_ALGORITHMS)}"
        )
    raw = value.encode() if isinstance(value, str) else json_encode(value).encode()
    return hashlib.new(algorithm, raw).hexdigest()


def now(format: str | None = None) -> str:
    """``{{ now() }}``: the current UTC time, ISO 8601; ``now('%Y-%m-%d')`` formats it."""
    moment = datetime.now(UTC)
    if format is None:
        return moment.isoformat(timespec="seconds")
    return moment.strftime(format)


def new_uuid() -> str:
    """``{{ uuid() }}``: a fresh random UUID (version 4)."""
    return str(_uuid.uuid4())


def random(*args: Any) -> Any:
    """``random()``: a float in [0, 1); ``random(a, b)``: an int in [a, b];
    ``random(seq)``: one item of ``seq``.
    """
    if not args:
        return _random.random()
    if len(args) == 1 and isinstance(args[0], list | tuple | str):
        return _random.choice(args[0])
    if len(args) == 2 and all(isinstance(a, int) for a in args):
        return _random.randint(args[0], args[1])
    raise TypeError("random() takes no argument, a list, or two integers (low, high)")


FILTERS: Mapping[str, Callable[..., Any]] = {
    "json_encode": json_encode,
    "base64_encode": base64_encode,
    "hash": hash_value,
}
FUNCTIONS: Mapping[str, Callable[..., Any]] = {"now": now, "uuid": new_uuid, "random": random}


class PromptSandbox(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox, with repetition and powers bounded."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int) and abs(right) > MAX_EXPONENT:
            raise SecurityError(f"exponent {right} is larger than {MAX_EXPONENT}")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int):
                    if len(seq) * times > MAX_REPEAT:
                        raise SecurityError(f"repetition longer than {MAX_REPEAT} items")
        return super().call_binop(context, operator, left, right)


def build_environment(config: TemplatesConfig, directory: Path) -> PromptSandbox:
    """The environment for ``config``: ``{% include %}`` reads from ``directory``."""
    environment = PromptSandbox(
        loader=FileSystemLoader(directory),
        undefined=StrictUndefined,
        autoescape=False,  # prompts are plain text, not HTML
        keep_trailing_newline=True,
        cache_size=config.cache_size,
        auto_reload=config.auto_reload,
    )
    environment.filters.update(
        {name: f for name, f in FILTERS.items() if config.filters.get(name, True)}
    )
    environment.globals.update(
        {name: f for name, f in FUNCTIONS.items() if config.functions.get(name, True)}
    )
    environment.globals.update(config.variables)
    return environment


def disabled_helpers(config: TemplatesConfig) -> dict[str, str]:
    """Each helper switched off, by name, with the config key that switches it."""
    off = {f"templates.functions.{n}": n for n in FUNCTIONS if not config.functions.get(n, True)}
    off.update({f"templates.filters.{n}": n for n in FILTERS if not config.filters.get(n, True)})
    return {name: key for key, name in off.items()}
