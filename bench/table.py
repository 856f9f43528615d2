"""Rows of the benchmark table and their rendering as Markdown."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from typing import Any

# A row as bench/scanner_bench.py returns it too.
Row = dict[str, Any]
COLUMNS = ("figure", "value", "baseline", "ratio", "target", "ok")


def row(figure: str, value: str, baseline: str, ratio: float | None, target: str, ok: bool) -> Row:
    return {
        "figure": figure,
        "value": value,
        "baseline": baseline,
        "ratio": ratio,
        "target": target,
        "ok": ok,
    }


def median_ms(seconds: Iterable[float]) -> float:
    return statistics.median(seconds) * 1000


def _cell(name: str, value: Any) -> str:
    if name == "ok":
        return "yes" if value else "**NO**"
    if value is None:
        return "—"
    if name == "ratio" and isinstance(value, int | float):
        return f"{value:.2f}x"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value).replace("|", "\\|")


def render(rows: Iterable[Mapping[str, Any]]) -> str:
    lines = [
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join("---" for _ in COLUMNS) + "|",
    ]
    for r in rows:
        lines.append("| " + " | ".join(_cell(c, r.get(c)) for c in COLUMNS) + " |")
    return "\n".join(lines)
