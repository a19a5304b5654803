"""Prompt templates: files in ``templates.directory`` that render to a chat request.

One prompt is one file, ``NAME.yaml`` (or ``NAME.yml``, ``NAME.json``), directly
in the directory; ``NAME`` is what ``POST /v1/prompts/NAME/completions`` calls::

    description: Summarise a text for an audience.      # optional
    variables:                                          # optional declarations
      text: The text to summarise                       # a description: required
      audience: {description: Who reads it, default: engineers}
    defaults:                                           # optional chat parameters
      model: gpt-4o-mini
      temperature: 0.2
    messages:                                           # required, at least one
      - role: system
        content: "You write for {{ app_name }}."
      - role: user
        content: "Summarise for {{ audience }}:\\n{{ text }}"

Each message's ``content`` is a Jinja2 template (other message keys are copied
as they are). A template sees, later ones winning: the block's ``variables``,
the declared defaults, then the request's ``variables``; plus the enabled
filters (``json_encode``, ``base64_encode``, ``hash``) and functions (``now``,
``uuid``, ``random``). Other files in the directory (``partials/tone.jinja``)
can be pulled in with ``{% include %}`` / ``{% import %}``.

Each prompt is parsed and compiled once and kept (at most ``cache_size`` of
them, least recently used dropped); with ``auto_reload`` an edited file is
compiled again on its next use. Every failure is an ``InvalidRequest`` (400)
naming the template: ``template_not_found``, ``missing_variable`` or
``template_error``; Jinja2's and YAML's exceptions are mapped here and nowhere else.
"""

from __future__ import annotations

import copy
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml
from jinja2 import Template, TemplateError, UndefinedError, meta
from jinja2.exceptions import SecurityError, TemplateSyntaxError

from proxyapi.config.prompts import TemplatesConfig
from proxyapi.errors import InvalidRequest
from proxyapi.prompts.sandbox import FUNCTIONS, build_environment, disabled_helpers

logger = logging.getLogger("proxyapi.prompts")

SUFFIXES = (".yaml", ".yml", ".json")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_UNDEFINED = re.compile(r"^'([^']+)' is undefined$")


def not_found(name: str) -> InvalidRequest:
    return InvalidRequest(
        f"Unknown prompt template '{name}'.", param="name", code="template_not_found"
    )


def template_error(name: str, reason: str) -> InvalidRequest:
    return InvalidRequest(
        f"Prompt template '{name}' failed: {reason}", param="name", code="template_error"
    )


def missing_variable(name: str, variables: list[str]) -> InvalidRequest:
    listed = ", ".join(f"'{v}'" for v in variables)
    return InvalidRequest(
        f"Prompt template '{name}' needs variable{'s' if len(variables) > 1 else ''} {listed}.",
        param=f"variables.{variables[0]}",
        code="missing_variable",
    )


@dataclass(frozen=True, slots=True)
class Variable:
    """A variable a prompt uses: declared in its file, or found in its templates."""

    name: str
    description: str | None = None
    default: Any = None
    required: bool = True

    def to_dict(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"name": self.name, "required": self.required}
        if self.description is not None:
            shown["description"] = self.description
        if not self.required:
            shown["default"] = self.default
        return shown


@dataclass(frozen=True, slots=True)
class Prompt:
    """One parsed, compiled prompt file."""

    name: str
    path: Path
    mtime_ns: int
    description: str | None
    defaults: dict[str, Any]
    variables: tuple[Variable, ...]
    messages: tuple[tuple[dict[str, Any], Template], ...]  # other keys, compiled content

    def describe(self) -> dict[str, Any]:
        """The entry of ``GET /v1/prompts``."""
        return {
            "name": self.name,
            "object": "prompt",
            "description": self.description,
            "variables": [v.to_dict() for v in self.variables],
            "defaults": self.defaults,
        }


class PromptStore:
    """The prompts of one ``templates`` block: found, compiled, cached and rendered."""

    def __init__(self, config: TemplatesConfig) -> None:
        self.config = config
        self.directory = Path(config.directory).absolute()
        self.environment = build_environment(config, self.directory)
        self.disabled = disabled_helpers(config)
        self._cache: OrderedDict[str, Prompt] = OrderedDict()

    def names(self) -> list[str]:
        """Every prompt name in the directory, sorted (none when it does not exist)."""
        if not self.directory.is_dir():
            return []
        found = {
            path.stem
            for path in self.directory.iterdir()
            if path.suffix in SUFFIXES and _NAME.fullmatch(path.stem) and path.is_file()
        }
        return sorted(found)

    def get(self, name: str) -> Prompt:
        """The compiled prompt ``name``; compiled again when its file changed and auto_reload."""
        cached = self._cache.get(name)
        if cached is not None and not self.config.auto_reload:
            self._cache.move_to_end(name)
            return cached
        path = self._path_of(name)
        mtime_ns = _mtime_ns(path)
        if mtime_ns is None:
            self._cache.pop(name, None)
            raise not_found(name)
        if cached is not None and cached.path == path and cached.mtime_ns == mtime_ns:
            self._cache.move_to_end(name)
            return cached
        prompt = self._compile(name, path, mtime_ns)
        self._cache[name] = prompt
        self._cache.move_to_end(name)
        while len(self._cache) > self.config.cache_size:
            self._cache.popitem(last=False)
        return prompt

    def render(self, name: str, variables: dict[str, Any]) -> tuple[Prompt, list[dict[str, Any]]]:
        """The prompt and its messages rendered with ``variables``."""
        prompt = self.get(name)
        given = {v.name: v.default for v in prompt.variables if not v.required}
        given.update(variables)
        missing = [
            v.name
            for v in prompt.variables
            if v.required and v.name not in given and v.name not in self.environment.globals
        ]
        if missing:
            raise missing_variable(name, missing)
        messages = []
        for fields, template in prompt.messages:
            messages.append({**fields, "content": self._render_one(name, template, given)})
        return prompt, messages

    def _render_one(self, name: str, template: Template, variables: dict[str, Any]) -> str:
        try:
            return template.render(variables)
        except SecurityError as exc:
            raise template_error(name, f"refused by the sandbox: {exc}") from None
        except UndefinedError as exc:
            raise self._undefined(name, str(exc)) from None
        except TemplateError as exc:
            raise template_error(name, str(exc)) from None
        except Exception as exc:
            # The template is code the operator wrote run on values the client sent:
            # whatever it raises (a TypeError in a filter, 1/0) is the request's fault.
            raise template_error(name, f"{type(exc).__name__}: {exc}") from None

    def _undefined(self, name: str, message: str) -> InvalidRequest:
        match = _UNDEFINED.match(message)
        if match is None:
            return template_error(name, message)
        variable = match.group(1)
        key = self.disabled.get(variable)
        if key is not None:
            return template_error(name, f"'{variable}' is disabled ({key}: false).")
        return missing_variable(name, [variable])

    def _path_of(self, name: str) -> Path:
        if not _NAME.fullmatch(name):
            raise not_found(name)
        for suffix in SUFFIXES:
            path = self.directory / f"{name}{suffix}"
            if path.is_file():
                return path
        raise not_found(name)

    def _compile(self, name: str, path: Path, mtime_ns: int) -> Prompt:
        spec = _read_spec(name, path)
        messages = []
        found: set[str] = set()
        for index, message in enumerate(_messages_of(name, spec)):
            source = message["content"]
            try:
                tree = self.environment.parse(source, name=f"{path.name}#messages[{index}]")
                template = self.environment.from_string(tree)
            except TemplateSyntaxError as exc:
                raise template_error(
                    name, f"messages[{index}].content, line {exc.lineno}: {exc.message}"
                ) from None
            except TemplateError as exc:
                raise template_error(name, f"messages[{index}].content: {exc}") from None
            found |= meta.find_undeclared_variables(tree)
            fields = {k: v for k, v in message.items() if k != "content"}
            messages.append((fields, template))
        declared = _declared_variables(name, spec)
        known = {v.name for v in declared} | set(self.environment.globals) | set(FUNCTIONS)
        variables = (*declared, *(Variable(n) for n in sorted(found - known)))
        defaults = spec.get("defaults") or {}
        if not isinstance(defaults, dict):
            raise template_error(name, "'defaults' must be a mapping of chat parameters.")
        description = spec.get("description")
        return Prompt(
            name=name,
            path=path,
            mtime_ns=mtime_ns,
            description=str(description) if description is not None else None,
            defaults=defaults,
            variables=variables,
            messages=tuple(messages),
        )


def _mtime_ns(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _read_spec(name: str, path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
        spec = orjson.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, orjson.JSONDecodeError, yaml.YAMLError) as exc:
        raise template_error(name, f"cannot read {path.name}: {exc}") from None
    if not isinstance(spec, dict):
        raise template_error(name, f"{path.name} must hold a mapping with 'messages'.")
    return spec


def _messages_of(name: str, spec: dict[str, Any]) -> list[dict[str, Any]]:
    messages = spec.get("messages")
    if not isinstance(messages, list) or not messages:
        raise template_error(name, "'messages' must be a non-empty list.")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise template_error(name, f"messages[{index}] must be a mapping with a 'role'.")
        if not isinstance(message.get("content"), str):
            raise template_error(name, f"messages[{index}].content must be a string.")
    return messages


def _declared_variables(name: str, spec: dict[str, Any]) -> list[Variable]:
    declared = spec.get("variables") or {}
    if not isinstance(declared, dict):
        raise template_error(name, "'variables' must be a mapping of name to description.")
    variables = []
    for variable, about in declared.items():
        if isinstance(about, dict):
            description = about.get("description")
            variables.append(
                Variable(
                    str(variable),
                    str(description) if description is not None else None,
                    about.get("default"),
                    required="default" not in about,
                )
            )
        else:
            variables.append(Variable(str(variable), str(about) if about is not None else None))
    return variables


def build_chat_request(store: PromptStore, name: str, request: dict[str, Any]) -> dict[str, Any]:
    """The chat request prompt ``name`` makes of a client's ``request``.

    ``variables`` fill the templates; every other key is a chat parameter that
    overrides the file's ``defaults`` (``model``, ``stream``, ``temperature`` ...),
    except ``messages``: those are appended after the rendered ones, so a client
    can continue a conversation the template starts.
    """
    overrides = dict(request)
    variables = overrides.pop("variables", None)
    if variables is None:
        variables = {}
    if not isinstance(variables, dict):
        raise InvalidRequest("'variables' must be an object of name to value.", param="variables")
    extra = overrides.pop("messages", None)
    if extra is not None and not isinstance(extra, list):
        raise InvalidRequest("'messages' must be an array of messages.", param="messages")
    prompt, messages = store.render(name, variables)
    # A copy: the request path may change nested values, the cached prompt must not see it.
    defaults = copy.deepcopy(prompt.defaults)
    return {**defaults, **overrides, "messages": [*messages, *(extra or [])]}
