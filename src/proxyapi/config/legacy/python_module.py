"""The legacy Python settings module, read without running it.

``production_config.py`` (else ``settings.py``) in the working directory, used
when neither ``config.yaml`` nor ``config.json`` is there. Its top-level names
are the flat layout's keys (see :mod:`.flat`): ``HOST = "0.0.0.0"``,
``PORT = 8000``, ``API_KEYS = ["..."]``, ``PROVIDERS = {"openai": {...}}``.

The file is parsed with :mod:`ast`, never imported: each value must be a
literal (:func:`ast.literal_eval`). Imports, docstrings, function and class
definitions, ``if __name__ == "__main__":`` blocks and ``_private`` names are
skipped; any other statement would have to run, so it is refused with its
line number.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any, Final

from proxyapi.config.legacy.flat import FLAT_KEYS
from proxyapi.errors import ConfigError

__all__ = ["SETTINGS_MODULE_NAMES", "find_settings_module", "read_settings_module"]

SETTINGS_MODULE_NAMES: Final = ("production_config.py", "settings.py")
_SKIPPED: Final = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_REFUSED: Final = (
    "would have to run; a settings module is read, never run: only imports, definitions "
    "and NAME = <literal> assignments are allowed"
)


def find_settings_module(directory: Path) -> Path | None:
    """The first settings module in ``directory`` that assigns a ProxyAPI setting."""
    for name in SETTINGS_MODULE_NAMES:
        path = directory / name
        if path.is_file() and assigns_settings(path):
            return path
    return None


def assigns_settings(path: Path) -> bool:
    """Whether the module sets ``PROVIDERS`` or a flat key; unparseable counts as yes.

    A broken file under one of these names is more likely a broken settings
    module than someone else's code: reading it then reports why.
    """
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return True
    return any(
        name.lower() == "providers" or name.lower() in FLAT_KEYS
        for statement in tree.body
        for name, _ in _assigned(statement)
    )


def read_settings_module(path: Path) -> dict[str, Any]:
    """The module's settings as a flat document (names as written); ConfigError if refused."""
    source = str(path)
    try:
        tree = ast.parse(path.read_bytes(), filename=source)
    except OSError as exc:
        raise ConfigError([f"{path}: cannot be read: {exc}"], source=source) from None
    except SyntaxError as exc:
        where = f"line {exc.lineno}, column {exc.offset}" if exc.lineno else "(root)"
        raise ConfigError([f"{where}: invalid Python: {exc.msg}"], source=source) from None
    except ValueError as exc:  # e.g. a null byte
        raise ConfigError([f"invalid Python: {exc}"], source=source) from None
    document: dict[str, Any] = {}
    problems: list[str] = []
    for statement in tree.body:
        if _is_skipped(statement):
            continue
        assigned = _assigned(statement)
        if not assigned:
            code = _excerpt(statement)
            problems.append(f"line {statement.lineno}: `{code}` {_REFUSED}")
        for name, value in assigned:
            if name.startswith("_"):
                continue
            problem = _read_value(name, value, document)
            if problem:
                problems.append(f"line {statement.lineno}: {problem}")
    if problems:
        raise ConfigError(problems, source=source)
    return document


def _read_value(name: str, node: ast.expr, document: dict[str, Any]) -> str | None:
    """Put ``name``'s literal value into ``document``; the problem if it has none."""
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return (
            f"{name} = `{_excerpt(node)}` is not a literal; "
            "a settings module is read, never run: write the value itself"
        )
    try:
        plain = _plain(value)
    except ValueError as exc:
        return f"{name}: {exc} (use strings, numbers, booleans, lists and dicts)"
    if plain is not None:  # None means unset, as an empty YAML key does
        document[name] = plain
    return None


def _is_skipped(statement: ast.stmt) -> bool:
    if isinstance(statement, _SKIPPED):
        return True
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
        return isinstance(statement.value.value, str)  # a docstring
    return isinstance(statement, ast.If) and ast.unparse(statement.test).replace("'", '"') in (
        '__name__ == "__main__"',
        '"__main__" == __name__',
    )


def _assigned(statement: ast.stmt) -> list[tuple[str, ast.expr]]:
    """``[(name, value)]`` for ``A = B = value`` / ``A: int = value``; ``[]`` for anything else."""
    if isinstance(statement, ast.Assign):
        names = [target.id for target in statement.targets if isinstance(target, ast.Name)]
        if len(names) == len(statement.targets):
            return [(name, statement.value) for name in names]
    elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
        if isinstance(statement.target, ast.Name):
            return [(statement.target.id, statement.value)]
    return []


def _plain(value: Any) -> Any:
    """Only what YAML writes back as it was: str, numbers, bools, None, lists, str-keyed dicts."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {key: _plain(item) for key, item in value.items()}
    raise ValueError(f"{type(value).__name__} values are not supported")


def _excerpt(node: ast.AST) -> str:
    lines = ast.unparse(node).splitlines()
    text = lines[0] if lines else ""
    return text if len(text) <= 60 else text[:57] + "..."
