"""``${VAR}`` and ``${VAR:-default}`` in config values, resolved after parsing.

Substituting parsed strings (rather than the file text) means a value can
never break the YAML syntax or inject keys.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from proxyapi.config.messages import format_path

_REFERENCE: Final = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def substitute_variables(
    node: Any, environ: Mapping[str, str], warnings: list[str], loc: tuple[int | str, ...] = ()
) -> Any:
    """Return ``node`` with every reference in every string replaced.

    An unset variable without a default becomes ``""`` and adds a warning to
    ``warnings``: a missing optional secret should not stop the gateway, but
    the operator should hear about it.
    """
    if isinstance(node, str):
        return _substitute(node, environ, warnings, loc)
    if isinstance(node, dict):
        return {
            key: substitute_variables(value, environ, warnings, (*loc, str(key)))
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [
            substitute_variables(item, environ, warnings, (*loc, index))
            for index, item in enumerate(node)
        ]
    return node


def _substitute(
    text: str, environ: Mapping[str, str], warnings: list[str], loc: tuple[int | str, ...]
) -> str:
    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        warnings.append(f"{format_path(loc)}: environment variable '{name}' is not set")
        return ""

    return _REFERENCE.sub(replace, text)
