"""The Grafana dashboard in docs/ only asks for metrics the server really exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.metrics import scrape
from tests.support.server import LiveServer

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "parley.json"
# PromQL words that are not followed by "(" but are not metric names either.
KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values, regexes
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range and subquery windows
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\$\{?\w+\}?", "", expr)  # Grafana variables
    names = set()
    for match in re.finditer(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*", expr):
        if expr[match.end() :].lstrip().startswith("("):
            continue  # a function or an aggregation
        if match.group().lower() not in KEYWORDS:
            names.add(match.group())
    return names


def queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expr) for every target, rows' nested panels included; and the
    template variables' queries."""
    found: list[tuple[str, str]] = []
    stack = list(dashboard["panels"])
    while stack:
        panel = stack.pop()
        stack.extend(panel.get("panels", []))
        found.extend((panel["title"], target["expr"]) for target in panel.get("targets", []))
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        if variable.get("type") == "query" and query:
            selector = re.sub(r"^label_values\((.*),\s*\w+\)$", r"\1", query)
            found.append((f"${variable['name']}", selector))
    return found


def test_metric_names_are_found_in_promql() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, route) (rate(a_bucket{route=~"/x", i=~"$i"}'
        "[$__rate_interval]))) / ignoring(le) sum(b_total offset 5m) > bool 0.5"
    )
    assert metric_names(expr) == {"a_bucket", "b_total"}


@pytest.mark.live
async def test_every_dashboard_query_names_an_exported_metric(server: LiveServer) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["title"] == "Parley"
    found = queries(dashboard)
    assert len(found) >= 20
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as api:
        await api.get("/healthz")  # labelled series exist once something was counted
        exported = (await scrape(api)).names
    for title, expr in found:
        names = metric_names(expr)
        assert names, f"{title}: no metric in {expr!r}"
        missing = names - exported
        assert not missing, f"{title}: {sorted(missing)} not exported by /metrics ({expr!r})"
