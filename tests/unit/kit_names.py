"""The metric names the monitoring kit (monitoring/) queries, read from its files.

Shared by the unit test of the kit, which holds them against the gateway's
metric contract, and the integration test, which holds them against a real
scrape. Names come back as PromQL sees them: ``x_bucket`` for a histogram's
buckets, ``x_total`` for a counter; ``series_names`` maps a metric family to
those names.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Final

import yaml

MONITORING_DIR: Final = Path(__file__).resolve().parents[2] / "monitoring"
ALERT_RULES: Final = MONITORING_DIR / "alert_rules.yml"
DASHBOARD: Final = MONITORING_DIR / "grafana-dashboard.json"

# Words PromQL uses outside a call's parentheses; every function and aggregation
# is recognised by the "(" after it instead.
_KEYWORDS: Final = frozenset(
    {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring"}
    | {"group_left", "group_right", "le", "inf", "nan", "atan2"}
)
_STRING: Final = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_MATCHERS: Final = re.compile(r"\{[^{}]*\}")
_RANGE: Final = re.compile(r"\[[^\[\]]*\]")
_LABEL_LIST: Final = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE
)
_VARIABLE: Final = re.compile(r"\$\{?\w+\}?")
_NUMBER: Final = re.compile(r"(?<![\w:.])\d+(?:\.\d*)?(?:[eE][+-]?\d+)?(?:ms|[smhdwy])?\b")
_NAME: Final = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_LABEL_VALUES: Final = re.compile(r"^\s*label_values\((?P<selector>.*),\s*\w+\s*\)\s*$", re.S)


def metric_names_in(expr: str) -> set[str]:
    """The metric names an expression selects (without label matchers or functions)."""
    for pattern in (_STRING, _MATCHERS, _RANGE, _LABEL_LIST, _VARIABLE, _NUMBER):
        expr = pattern.sub(" ", expr)
    names = set()
    for match in _NAME.finditer(expr):
        word = match.group()
        if word.lower() in _KEYWORDS or expr[match.end() :].lstrip().startswith("("):
            continue
        names.add(word)
    return names


def alert_expressions(path: Path = ALERT_RULES) -> list[str]:
    groups = yaml.safe_load(path.read_text())["groups"]
    return [str(rule["expr"]) for group in groups for rule in group["rules"]]


def _panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every panel, those inside collapsed rows included."""
    found = []
    for panel in panels:
        found.append(panel)
        found.extend(_panels(panel.get("panels", [])))
    return found


def dashboard_panels(path: Path = DASHBOARD) -> list[dict[str, Any]]:
    return _panels(json.loads(path.read_text())["panels"])


def dashboard_expressions(path: Path = DASHBOARD) -> list[str]:
    """Every panel query, and the selectors of the query variables (``label_values``)."""
    dashboard = json.loads(path.read_text())
    exprs = [
        str(target["expr"])
        for panel in _panels(dashboard["panels"])
        for target in panel.get("targets", [])
        if target.get("expr")
    ]
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        text = str(query.get("query", "") if isinstance(query, dict) else query or "")
        found = _LABEL_VALUES.match(text)
        exprs.append(found.group("selector") if found else text)
    return exprs


def kit_metric_names() -> set[str]:
    """Every metric name the alert rules and the dashboard query (``up`` included)."""
    names: set[str] = set()
    for expr in alert_expressions() + dashboard_expressions():
        names |= metric_names_in(expr)
    return names


def series_names(family: str, kind: str) -> set[str]:
    """The names PromQL can select from one metric family of a scrape or a contract.

    A histogram ``x`` is ``x_bucket``, ``x_sum`` and ``x_count``; a counter is
    ``x_total`` whether the family is written ``x`` (as prometheus-client's
    parser names it) or ``x_total``.
    """
    if kind == "histogram":
        return {f"{family}_bucket", f"{family}_sum", f"{family}_count"}
    if kind == "summary":
        return {family, f"{family}_sum", f"{family}_count"}
    if kind == "counter":
        return {f"{family.removesuffix('_total')}_total"}
    return {family}
