"""Build ``docs/configuration.md`` from the configuration models, so it cannot drift.

    .venv/bin/python scripts/generate_config_reference.py           # (re)write the file
    .venv/bin/python scripts/generate_config_reference.py --check   # exit 1 if it is stale

The introduction is hand-written (``INTRODUCTION`` below); everything that can
be read from the code is: the environment-variable table (``env._TARGETS`` and
``EnvOverrides``), the provider types and their endpoints, the per-environment
defaults, the example error reports (produced by the real loader), and one
table per top-level key of ``Config``, in field order.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import inspect
import json
import re
import sys
import textwrap
import types
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
import yaml
from pydantic import AliasChoices, BaseModel
from pydantic.fields import FieldInfo

from proxyapi.config import defaults as config_defaults, env as config_env
from proxyapi.config._fields import ByteSize, Duration, IpNetwork, Rate
from proxyapi.config.access import HashedKey
from proxyapi.config.env import ENV_PREFIX, EnvOverrides, read_env_overrides
from proxyapi.config.loader import validate_config
from proxyapi.config.messages import format_config_error
from proxyapi.config.models import Config
from proxyapi.config.provider import DEFAULT_BASE_URLS, KEYLESS_TYPES, PROVIDER_TYPES
from proxyapi.config.substitution import substitute_variables
from proxyapi.config.unknown_keys import find_unknown_keys
from proxyapi.errors import ConfigError
from proxyapi.keys import KeyDigest

ROOT = Path(__file__).resolve().parents[1]
DOC_PATH = ROOT / "docs" / "configuration.md"
SCRIPT = "scripts/generate_config_reference.py"

# Top-level keys that are parsed and validated today but not acted on yet:
# key -> the feature that will give them behaviour.
PENDING: dict[str, str] = {
    "condensation": "context condensation",
    "load_testing": "`proxyapi loadtest`",
}

# Keys of the sections in effect that are validated but not read by the gateway yet.
PENDING_KEYS: frozenset[str] = frozenset(
    {
        "circuit_breaker.expected_exception",
        "circuit_breaker.monitoring",
        "chaos_engineering.faults[].severity",
        "chaos_engineering.safety.rollback_on_failure",
        "app.name",
        "app.debug",
        "server.debug",
        "server.reload",
        "server.worker_class",
        "server.max_requests",
        "server.max_requests_jitter",
        "caching.response_cache.max_size_mb",
        "caching.summary_cache",
        "caching.model_cache",
        "caching.config_cache",
        "caching.monitoring",
        "caching.warming.enable_pattern_analysis",
        "caching.warming.enable_predictive_warming",
        "cache.unified.enable_predictive_warming",
        "auth.jwt",
        "auth.oauth2",
        "http_client.retry_backoff_factor",
        "validation.enabled",
        "memory.gc_threshold_percent",
        "memory.cache_cleanup_interval",
        "memory.gc_tuning",
        "memory.profiling",
        "logging.rotation",
        "logging.compression",
        "logging.structured.enabled",
        "metrics.prometheus.registry",
        "metrics.custom",
        "metrics.collection.timeout",
        "telemetry.jaeger",
        "telemetry.zipkin",
        "health_check.checks.cache",
        "health_check.checks.database",
        "health_check.checks.external_services",
        "health_check.detailed",
        "health_check.endpoints",
        "logging.filters",
        "logging.external",
    }
)
NOT_YET = "*Not yet in effect.*"

# Defaults the models declare but that are not what a loaded config ends up with.
DISPLAY_DEFAULTS: dict[str, str] = {
    "app.version": "*the installed package version*",
    "providers[].base_url": "*by `type`, see [Provider types](#provider-types)*",
    "providers[].priority": "*after every explicit priority, in list order*",
    "providers[].timeout": "*`http_client.timeout`*",
}

# EnvOverrides fields that do more (or other) than set the paths in env._TARGETS.
ENV_NOTES: dict[str, str] = {
    "config_file": "the configuration file to load (see [Discovery](#discovery))",
    "provider_timeout": "and every `providers[].timeout`, even ones set in the file",
    "provider_retries": "and every `providers[].retry_attempts`, even ones set in the file",
    "log_json_format": "`logging.format`: `true` is json, `false` is text",
    "log_max_size": "`logging.max_file_size`, in megabytes",
    "otlp_endpoint": "`telemetry.otlp.endpoint`, and turns `telemetry` and its OTLP export on",
}

LONG_DEFAULT = 80  # characters; longer defaults are printed as YAML under the table

INTRODUCTION = """\
# Configuration reference

<!-- Generated by {script} from the models in src/proxyapi/config/.
     Do not edit by hand: change the models (or the introduction in the script)
     and run `.venv/bin/python {script}`. -->

ProxyAPI reads one YAML (or JSON) document, overlays environment variables,
fills what is left from defaults, and validates the result with pydantic before
serving a single request. Every problem is reported at once, and the gateway
does not start on an invalid configuration.

This page is generated from the configuration models themselves
(`src/proxyapi/config/`), so the keys, types and defaults below are the ones the
code uses. `tests/unit/config/test_config_reference.py` fails when it is stale;
regenerate it with `.venv/bin/python {script}`.

- [Discovery](#discovery)
- [Precedence](#precedence)
- [The `.env` file](#the-env-file)
- [`${{VAR}}` substitution](#var-substitution)
- [Environment variables](#environment-variables)
- [`ENVIRONMENT`: development, staging, production](#environment-development-staging-production)
- [Provider types](#provider-types)
- [Sizes, rates and durations](#sizes-rates-and-durations)
- [Errors and warnings](#errors-and-warnings)
- [Commands](#commands)
- [Validated but not yet in effect](#validated-but-not-yet-in-effect)
- [Reference](#reference): {section_links}

## Discovery

The gateway uses the **first** of these that exists, and only that one:

1. The file named on the command line (`proxyapi serve --config FILE`,
   `proxyapi config validate FILE`), or else by `PROXY_API_CONFIG_FILE`. A
   relative path is resolved against the current directory. A named file that
   does not exist is an error; there is no fallback to the steps below.
2. `./config.yaml` in the current directory.
3. `./config.json` in the current directory.
4. The bundled default, `default.yaml` inside the package
   (`src/proxyapi/config/default.yaml`): one `openai` provider reading its key
   from `OPENAI_API_KEY`, and every other section written out as comments. Copy
   it to `./config.yaml` to start your own.
5. The generated default, built in code (the same single `openai` provider),
   used only when the bundled file is missing from the installation.

A file whose name ends in `.json` is parsed as JSON, anything else as YAML
(`config.yml` is not discovered; name it explicitly). The top level must be a
mapping. A top-level key whose value is empty (`server:` with everything below
it commented out) counts as absent.

## Precedence

Highest first:

1. **Environment variables** ([table below](#environment-variables)): they win
   over any file.
2. **The file** found by discovery: yours, or else the bundled default, or else
   the generated default. Files are never merged: when you have a
   `config.yaml`, the bundled `default.yaml` is not read at all.
3. **Per-environment defaults** ([`ENVIRONMENT`](#environment-development-staging-production)),
   only for keys that neither the file nor the environment set.
4. **Model defaults**, the `default` column of the tables below.

For one run, the `--host`, `--port` and `--workers` options of `proxyapi serve`
override `server.host`, `server.port` and `server.workers` from every source.

In order, loading does: read `.env`; parse the environment variables (a
malformed one is an error); read the file; substitute `${{VAR}}` references;
write the environment variables over the result; fill the per-environment
defaults; validate; report unknown keys as warnings.

## The `.env` file

Before anything else, `./.env` in the current directory (only there, not in
parent directories) is loaded into the process environment with python-dotenv.
Variables that are already set are **not** overridden by it. Everything read from
the environment can live there: the `PROXY_API_*` variables, the variables
named by `providers[].api_key_env`, and the ones referenced with `${{VAR}}`.

```bash
# .env
OPENAI_API_KEY=sk-...
PROXY_API_PORT=8080
PROXY_API_PROXY_API_KEYS=key1,key2
```

## `${{VAR}}` substitution

Any string value in the file may reference environment variables (after `.env`
is loaded):

```yaml
auth:
  api_keys: ["${{PROXY_KEY}}"]
redis:
  password: "${{REDIS_PASSWORD:-}}"
  host: "${{REDIS_HOST:-localhost}}"
server:
  port: "${{PORT:-8000}}"        # a string after substitution; validated as an integer
```

- `${{VAR}}` is replaced by the value of `VAR`. If `VAR` is not set it becomes
  the empty string and a warning is printed at startup
  (`auth.api_keys[0]: environment variable 'PROXY_KEY' is not set`).
- `${{VAR:-default}}` is replaced by `default` when `VAR` is not set. Unlike the
  shell, a variable that is set to the empty string counts as set and gives `""`.
  The default cannot contain `}}`.
- Variable names match `[A-Za-z_][A-Za-z0-9_]*`; anything else is left as it is.
  There is no escape syntax and no nesting.
- Substitution runs on the parsed values, never on the file text, so a value
  cannot break the YAML or add keys. Keys are not substituted, nor are the
  values of the environment variables in the next section.
- An empty key in `auth.api_keys` / `auth.admin_keys` (an unset `${{VAR}}`) is
  dropped; an empty `redis.password` or `redis.url` counts as unset.

## Environment variables

Names are case-insensitive; a variable set to the empty string is ignored. The
values of `PROXY_API_LOG_LEVEL` and `ENVIRONMENT` are case-insensitive too, and
booleans accept `true`/`false`, `1`/`0`, `yes`/`no` and `on`/`off`. A variable
that does not parse (`PROXY_API_PORT=abc`) stops the gateway with the
[error report](#errors-and-warnings) below.

{env_table}

The list variables (`PROXY_API_PROXY_API_KEYS`, `PROXY_API_ADMIN_KEYS`,
`CORS_ORIGINS`) accept these forms; items are trimmed and empty items dropped:

| form | example |
| --- | --- |
| comma-separated | `PROXY_API_PROXY_API_KEYS=key1,key2` |
| JSON list | `PROXY_API_PROXY_API_KEYS='["key1","key2"]'` |
| Python-style list | `PROXY_API_PROXY_API_KEYS="['key1','key2']"` |
| a single key | `PROXY_API_PROXY_API_KEYS=key1` |

A value starting with `[` must be a JSON or Python list of strings; use that
form for a key that contains a comma.

Besides these, the gateway reads the variables your file names: each
`providers[].api_key_env` (the provider's key; the file holds the variable's
name, never the key) and every `${{VAR}}`. `proxyapi serve` sets
`PROXY_API_CONFIG_FILE` itself so that its worker processes load the same file.

## `ENVIRONMENT`: development, staging, production

`app.environment` (or the `ENVIRONMENT` variable) is one of `development` (the
default), `staging` or `production`. It fills these defaults, each only where
neither the file nor an environment variable sets the key:

{environment_table}

The `ENVIRONMENT` variable is case-insensitive. In the file, `app.environment`
is accepted in any case, but the defaults above are only filled when it is
written in lower case (`production`, not `Production`).

## Provider types

`providers[].type` is one of the types below. `base_url` defaults to the
type's public endpoint; a trailing `/` is removed, and it must be an `http(s)`
URL. `api_key_env` is the **name** of the environment variable holding the key
(UPPER_SNAKE_CASE).

{provider_table}

Across providers: names must be unique; explicit `priority` values must be
unique (lower is tried first; a provider without one is ranked after every
explicit priority, in list order); `fallback_provider` must name another
configured provider. A provider's `timeout` defaults to `http_client.timeout`.
`max_retries` is accepted as another name for `retry_attempts`.

## Sizes, rates and durations

- **size**: bytes, or a string such as `512KB`, `10MB`, `1.5 MB`, `1GB`
  (binary: 1KB = 1024 bytes; `KiB`/`MiB` and a missing `B` are accepted).
  Loaded as an integer number of bytes.
- **rate**: `N/unit` such as `500/minute`; unit `second`, `minute`, `hour` or
  `day` (also `s`/`sec`, `m`/`min`, `h`, `d`, and plurals).
- **duration**: a whole number and a unit, `ms`, `s`, `m`, `h` or `d`: `30s`, `5m`, `1h`.

## Errors and warnings

An invalid configuration stops the gateway (and `proxyapi config validate`)
with exit status 1 and every problem at once, one `path: reason` line each,
on stderr. For this file

```yaml
{error_input}
```

the report is

```text
{error_output}
```

A malformed environment variable is reported the same way:

```text
{env_error_output}
```

Unknown keys are not fatal: they are ignored and reported as warnings (a typo
should be visible, not fatal), as are unset `${{VAR}}` references:

```text
{warning_output}
```

Keys inside free-form mappings (`headers`, `model_overrides`, `deployments`,
...) are never reported. The top-level keys {tolerated} appear in older
configuration files and are accepted silently.

## Commands

- `proxyapi config validate [FILE]`: load the configuration exactly as the
  server would (discovery when `FILE` is omitted, `.env`, environment
  variables), print the warnings, then
  `✅ Configuration is valid: SOURCE (N providers)`; exit 1 with the report
  above when it is invalid. `SOURCE` is the file's path, `bundled default` or
  `generated default`.
- `proxyapi config schema`: print the JSON Schema (draft 2020-12) of what a file
  may contain, for editors and CI (`proxyapi config schema > config.schema.json`).
  It checks shapes and types only; the rules across fields (unique provider
  names, `base_url` required by type, ...) are checked by `config validate`.
- `proxyapi serve --config FILE --host HOST --port PORT --workers N`: load,
  validate and serve. Every option is optional (`-c` is short for `--config`);
  `--host`, `--port` and `--workers` override the configuration for this run.
- `proxyapi config check --production [FILE]`: the production-readiness check;
  one line per rule with its config path, exit 1 when any is an error (see the
  README, "Production readiness check").
- `proxyapi config migrate --check | --report | [--format NAME] [--dry-run] |
  --rollback NAME`: seed 004's legacy formats (flat YAML, Python settings,
  old model selections), the originals kept as `.legacy` (see the README,
  "Legacy configuration").
- A running gateway reloads this file when it changes, on `SIGHUP` and on
  `POST /api/config/reload`; an invalid file is refused with the same report and
  the running configuration stays (see the README, "Configuration reload").

## Validated but not yet in effect

These sections are parsed and validated today, so a mistake in them is caught
now, but the gateway does not act on them yet; their headings below say which
feature brings their behaviour: {pending}.

Within the other sections, the keys whose description says *Not yet in effect*
(and every key below them) are validated the same way but not read yet: for
example a provider's `rate_limit`, the `memory` thresholds and the log rotation
policy. Pool sizes and retries set in `http_client` (or by the `HTTP_*`
variables) are inherited by every provider that does not set its own.

# Reference

One table per top-level key, in the order of the `Config` model. Nested blocks
are flattened into dotted keys (`validation.request.max_body_size`); `[]` stands
for every item of a list (`providers[].name`) and `<name>` for every key of a
mapping (`rate_limit.providers.<name>.burst_limit`). A block whose default
is longer than fits in a cell is shown as YAML under its table.
"""


@dataclass(frozen=True, slots=True)
class Row:
    key: str
    type: str
    default: str
    description: str


@dataclass(slots=True)
class Table:
    rows: list[Row] = field(default_factory=list)
    long_defaults: list[tuple[str, Any]] = field(default_factory=list)
    used_display_defaults: set[str] = field(default_factory=set)
    used_pending_keys: set[str] = field(default_factory=set)


# --------------------------------------------------------------------------- types


_SIZE_MARKERS = get_args(ByteSize)[1:]
_RATE_MARKERS = get_args(Rate)[1:]
_HASHED_MARKERS = get_args(HashedKey)[1:]
_NETWORK_MARKERS = get_args(IpNetwork)[1:]
_DURATION_PATTERN = next(
    getattr(m, "pattern", None) for m in get_args(Duration)[1].metadata if hasattr(m, "pattern")
)


def type_name(annotation: Any, metadata: list[Any] | tuple[Any, ...] = ()) -> str:
    """A short, YAML-minded name for a field's type, with its bounds."""
    if get_origin(annotation) is Annotated:
        inner, *extra = get_args(annotation)
        expanded = [m for item in extra for m in _expand(item)]
        return type_name(inner, [*metadata, *expanded])
    if any(marker in metadata for marker in _SIZE_MARKERS):
        return "size"
    if any(marker in metadata for marker in _RATE_MARKERS):
        return "rate"
    if any(getattr(m, "pattern", None) == _DURATION_PATTERN for m in metadata):
        return "duration"
    if annotation is KeyDigest:
        hashed = any(m is marker for m in metadata for marker in _HASHED_MARKERS)
        return "sha256 hex" if hashed else "string (key)"
    if any(marker in metadata for marker in _NETWORK_MARKERS):
        return "CIDR"
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType):
        return " | ".join(type_name(arg) for arg in args)
    if origin is Literal:
        return " | ".join(json.dumps(arg) for arg in args)
    if origin is list:
        return f"list[{type_name(args[0])}]"
    if origin is dict:
        return f"map[{type_name(args[0])}, {type_name(args[1])}]"
    if annotation is type(None):
        return "null"
    if annotation is Any:
        return "any"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping"
    name = {bool: "bool", int: "int", float: "number", str: "string"}.get(annotation)
    base = name if name is not None else getattr(annotation, "__name__", str(annotation))
    return base + _bounds(metadata)


def _expand(item: Any) -> list[Any]:
    """``Field(ge=1)`` inside ``Annotated`` carries its constraints as metadata."""
    return [item, *item.metadata] if isinstance(item, FieldInfo) else [item]


def _bounds(metadata: list[Any] | tuple[Any, ...]) -> str:
    found: dict[str, Any] = {}
    for item in metadata:
        for bound in ("ge", "gt", "le", "lt", "min_length"):
            value = getattr(item, bound, None)
            if value is not None and isinstance(item, annotated_types.BaseMetadata):
                found[bound] = value
    low = f"≥ {found['ge']}" if "ge" in found else f"> {found['gt']}" if "gt" in found else ""
    high = f"≤ {found['le']}" if "le" in found else f"< {found['lt']}" if "lt" in found else ""
    if "ge" in found and "le" in found:
        return f" {found['ge']}–{found['le']}"
    if found.get("min_length") == 1:
        return ", non-empty"
    return "".join(f" {part}" for part in (low, high) if part)


def model_of(annotation: Any) -> tuple[type[BaseModel], str] | None:
    """``(Model, suffix)`` when a field holds a model, a list of them or a mapping of them."""
    if get_origin(annotation) is Annotated:
        return model_of(get_args(annotation)[0])
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType):
        models = [found for arg in args if (found := model_of(arg)) is not None]
        return models[0] if len(models) == 1 else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, ""
    if origin is list and _is_model(args[0]):
        return args[0], "[]"
    if origin is dict and _is_model(args[1]):
        return args[1], ".<name>"
    return None


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


# ------------------------------------------------------------------------ defaults


def literal(value: Any, *, size: bool = False) -> str:
    """A default as it would be written in YAML flow style."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if size and isinstance(value, int):
        return json.dumps(human_size(value))
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(literal(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_key(k)}: {literal(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _key(key: object) -> str:
    text = str(key)
    return text if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", text) else json.dumps(text)


def human_size(size: int) -> str:
    for unit, factor in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size and size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size}B"


def plain(value: Any) -> Any:
    """``value`` with models turned into plain data, for ``yaml.safe_dump``."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


# -------------------------------------------------------------------- descriptions


def first_paragraph(doc: str | None) -> str:
    return docstring(doc).split("\n\n")[0]


def docstring(doc: str | None) -> str:
    """A docstring as Markdown: RST ````code```` made single-quoted, lines joined."""
    if not doc:
        return ""
    paragraphs = inspect.cleandoc(doc).replace("``", "`").split("\n\n")
    return "\n\n".join(" ".join(paragraph.split()) for paragraph in paragraphs)


@cache
def attribute_docstrings(model: type[BaseModel]) -> dict[str, str]:
    """``name: int = 1`` followed by a string literal, whether or not pydantic reads them."""
    try:
        source = textwrap.dedent(inspect.getsource(model))
    except (OSError, TypeError):
        return {}
    found: dict[str, str] = {}
    body = ast.parse(source).body[0]
    assert isinstance(body, ast.ClassDef)
    for node, following in zip(body.body, body.body[1:], strict=False):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            found[node.target.id] = first_paragraph(following.value.value)
    return found


def describe(model: type[BaseModel], name: str, info: FieldInfo, *, nested_doc: bool) -> str:
    text = info.description or attribute_docstrings(model).get(name, "")
    if not text and nested_doc and (nested := model_of(info.annotation)) is not None:
        text = first_paragraph(nested[0].__doc__)
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        others = [str(choice) for choice in alias.choices if choice != name]
        if others:
            names = ", ".join(f"`{other}`" for other in others)
            text = f"{text}. Also accepted as {names}." if text else f"Also accepted as {names}."
    return text


# ------------------------------------------------------------------------ flatten


def flatten(model: type[BaseModel], prefix: str, instance: Any, table: Table) -> None:
    """Add a row per field of ``model`` (and of nested models) under ``prefix``.

    ``instance`` is the default value of the block when there is one, so that
    blocks built by a ``default_factory`` show their own values.
    """
    for name, info in model.model_fields.items():
        key = f"{prefix}.{name}" if prefix else name
        if isinstance(instance, BaseModel):
            value, required = getattr(instance, name), False
        else:
            required = info.is_required()
            value = None if required else info.get_default(call_default_factory=True)
        add_row(model, name, info, key, value, required, table, nested_doc=True)
        nested = model_of(info.annotation)
        if nested is not None:
            nested_model, suffix = nested
            child = value if suffix == "" and isinstance(value, BaseModel) else None
            flatten(nested_model, key + suffix, child, table)


def add_row(
    model: type[BaseModel],
    name: str,
    info: FieldInfo,
    key: str,
    value: Any,
    required: bool,
    table: Table,
    *,
    nested_doc: bool,
) -> None:
    kind = type_name(info.annotation, info.metadata)
    if key in DISPLAY_DEFAULTS:
        shown = DISPLAY_DEFAULTS[key]
        table.used_display_defaults.add(key)
    elif required:
        shown = "*required*"
    elif isinstance(value, BaseModel):
        shown = ""  # its keys follow
    else:
        shown = f"`{literal(value, size=kind.startswith('size'))}`"
        if len(shown) > LONG_DEFAULT:
            table.long_defaults.append((key, plain(value)))
            shown = "*see below*"
    text = describe(model, name, info, nested_doc=nested_doc)
    if key in PENDING_KEYS:
        table.used_pending_keys.add(key)
        text = f"{text}{'' if text.endswith('.') else '.'} {NOT_YET}" if text else NOT_YET
    table.rows.append(Row(key, kind, shown, text))


def section_table(name: str, info: FieldInfo) -> Table:
    table = Table()
    nested = model_of(info.annotation)
    if nested is not None and nested[1] == "":
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        flatten(nested[0], name, default, table)
    else:
        value = None if info.is_required() else info.get_default(call_default_factory=True)
        add_row(Config, name, info, name, value, info.is_required(), table, nested_doc=False)
        if nested is not None:
            flatten(nested[0], name + nested[1], None, table)
    return table


# ------------------------------------------------------------------------ markdown


def cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
    ]
    lines += ["| " + " | ".join(cell(text) for text in row) + " |" for row in rows]
    return "\n".join(lines)


def render_section(name: str, info: FieldInfo) -> str:
    parts = [f"## {heading(name)}"]
    nested = model_of(info.annotation)
    about = info.description or (docstring(nested[0].__doc__) if nested else "")
    if about:
        parts.append(about)
    table = section_table(name, info)
    rows = [(f"`{row.key}`", row.type, row.default, row.description) for row in table.rows]
    parts.append(markdown_table(("key", "type", "default", "description"), rows))
    for key, value in table.long_defaults:
        dumped = yaml.safe_dump(
            {key.rsplit(".", 1)[-1]: value}, sort_keys=False, allow_unicode=True, width=88
        )
        parts.append(f"Default of `{key}`:\n\n```yaml\n{dumped.rstrip()}\n```")
    for listed, used, title in (
        (DISPLAY_DEFAULTS, table.used_display_defaults, "DISPLAY_DEFAULTS"),
        (PENDING_KEYS, table.used_pending_keys, "PENDING_KEYS"),
    ):
        unused = {key for key in listed if top_level(key) == name} - used
        if unused:
            raise SystemExit(f"{title} names keys that do not exist: {sorted(unused)}")
    return "\n\n".join(parts)


def top_level(key: str) -> str:
    return key.split(".")[0].split("[")[0]


def env_variable(name: str, info: FieldInfo) -> str:
    alias = info.validation_alias
    return alias if isinstance(alias, str) else ENV_PREFIX + name.upper()


def env_table() -> str:
    targets: dict[str, list[str]] = {}
    for name, path in config_env._TARGETS:
        targets.setdefault(name, []).append(".".join(path))
    rows = []
    for name, info in EnvOverrides.model_fields.items():
        if name not in targets and name not in ENV_NOTES:
            raise SystemExit(f"EnvOverrides.{name} is neither in env._TARGETS nor in ENV_NOTES")
        sets = " and ".join(f"`{path}`" for path in targets.get(name, []))
        if name in ENV_NOTES:
            sets = f"{sets} {ENV_NOTES[name]}".strip()
        kind = type_name(info.annotation, info.metadata).removesuffix(" | null")
        if kind.startswith("list"):
            kind = "list of strings (see below)"
        rows.append((f"`{env_variable(name, info)}`", sets, kind))
    return markdown_table(("variable", "sets", "type"), rows)


def environment_table() -> str:
    rows = []
    for environment, entries in config_defaults._ENVIRONMENT_DEFAULTS.items():
        filled = ", ".join(f"`{'.'.join(path)}: {literal(value)}`" for path, value in entries)
        rows.append((f"`{environment}`", filled))
    return markdown_table(("environment", "defaults filled"), rows)


def provider_table() -> str:
    rows = []
    for kind in PROVIDER_TYPES:
        url = DEFAULT_BASE_URLS.get(kind)
        rows.append(
            (
                f"`{kind}`",
                f"`{url}`" if url else "*none: `base_url` is required*",
                "no" if kind in KEYLESS_TYPES else "yes",
            )
        )
    return markdown_table(("type", "default `base_url`", "`api_key_env` required"), rows)


ERROR_INPUT = """\
server:
  port: "abc"
providers:
  - name: openai
    type: opnai
    api_key_env: openai_key
    models: []
  - name: openai
    type: azure_openai
    api_key_env: AZURE_OPENAI_KEY
    models: [gpt-4o]
    fallback_provider: anthropic"""

WARNING_INPUT = """\
app:
  enviroment: production
providers:
  - name: openai
    type: openai
    api_key_env: OPENAI_API_KEY
    models: [gpt-4o]
    timout: 10
    headers: {X-Team: "${TEAM}"}"""


def example_outputs() -> dict[str, str]:
    """Reports produced by the real loader, so the examples cannot drift either."""
    try:
        validate_config(yaml.safe_load(ERROR_INPUT), "config.yaml")
    except ConfigError as error:
        error_output = format_config_error(error)
    else:  # pragma: no cover - the example must stay invalid
        raise SystemExit("ERROR_INPUT unexpectedly validated")
    try:
        read_env_overrides({"PROXY_API_PORT": "abc", "WORKERS": "0"})
    except ConfigError as error:
        env_error_output = format_config_error(error)
    else:  # pragma: no cover
        raise SystemExit("the environment example unexpectedly validated")

    warnings: list[str] = []
    data = substitute_variables(yaml.safe_load(WARNING_INPUT), {}, warnings)
    warnings += find_unknown_keys(validate_config(data, "config.yaml"))
    return {
        "error_input": ERROR_INPUT,
        "error_output": error_output,
        "env_error_output": env_error_output,
        "warning_output": "\n".join(f"⚠️  {warning}" for warning in warnings),
    }


def sections() -> Iterator[tuple[str, FieldInfo]]:
    yield from Config.model_fields.items()


def generate() -> str:
    """The whole of ``docs/configuration.md``."""
    missing = set(PENDING) - set(Config.model_fields)
    if missing:
        raise SystemExit(f"PENDING names keys Config does not have: {sorted(missing)}")
    names = [name for name, _ in sections()]
    introduction = INTRODUCTION.format(
        script=SCRIPT,
        section_links=", ".join(f"[`{name}`](#{anchor(name)})" for name in names),
        env_table=env_table(),
        environment_table=environment_table(),
        provider_table=provider_table(),
        tolerated=" and ".join(f"`{key}`" for key in sorted(Config.tolerated_keys)),
        pending=", ".join(f"[`{name}`](#{anchor(name)})" for name in names if name in PENDING),
        **example_outputs(),
    )
    body = [render_section(name, info) for name, info in sections()]
    return introduction.rstrip() + "\n\n" + "\n\n".join(body) + "\n"


def anchor(name: str) -> str:
    """GitHub's anchor for a section heading."""
    return re.sub(r"[^\w\- ]", "", heading(name).lower()).replace(" ", "-")


def heading(name: str) -> str:
    """A section's heading text: the key, and when it is not in effect yet, why."""
    if name in PENDING:
        return f"`{name}` (validated; behaviour lands with {PENDING[name]})"
    return f"`{name}`"


def check(path: Path = DOC_PATH) -> bool:
    """True when ``path`` holds exactly what :func:`generate` would write."""
    expected = generate()
    actual = path.read_text(encoding="utf-8") if path.is_file() else ""
    if actual == expected:
        return True
    diff = difflib.unified_diff(
        actual.splitlines(), expected.splitlines(), str(path), "generated", lineterm="", n=1
    )
    print("\n".join(list(diff)[:40]), file=sys.stderr)
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    parser.add_argument("--output", type=Path, default=DOC_PATH, help="default: %(default)s")
    args = parser.parse_args(argv)
    if args.check:
        if check(args.output):
            return 0
        print(f"{args.output} is stale: run {SCRIPT}", file=sys.stderr)
        return 1
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(generate(), encoding="utf-8", newline="\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
