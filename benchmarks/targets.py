"""The targets the issues set, judged against the figures: PASS, MISS, or not measured."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tdxray.benchmarks.figures import Figure, fmt_value, size_label


@dataclass(frozen=True)
class Target:
    what: str
    stage: str  # figure name before the size ("simulate"); or the whole name if size is None
    metric: str
    size: int | None
    op: str  # "<" or ">="
    limit: float
    unit: str


SQL_QUESTIONS = (("kinds", "count per kind"), ("shared_at", "shared pages at ts"),
                 ("divergence_summary", "divergence summary"))
OPS: dict[str, Callable[[float, float], bool]] = {"<": operator.lt, "<=": operator.le,
                                                   ">=": operator.ge}
TARGETS = (
    Target("simulate 1e7 events (2 cores)", "simulate", "seconds", 10**7, "<", 20, "s"),
    Target("on-disk size", "simulate", "bytes_per_event", 10**7, "<", 12, "bytes/event"),
    Target("replay / DuckDB full scan", "replay_vs_duckdb", "ratio", 10**7, "<=", 3, "x"),
    Target("conversion-heavy replay (buffers)", "conversions.buffers.events_per_s", "", None,
           ">=", 300_000, "events/s"),
    Target("conversion-heavy replay (random 4 KiB)", "conversions.random_pages.events_per_s",
           "", None, ">=", 300_000, "events/s"),
    Target("replay peak RSS at 1e8", "rss", "peak_mib", 10**8, "<", 1024, "MiB"),
    Target("ftrace host ingest, 5M lines (2 cores)", "ftrace_ingest.plain", "lines_per_s",
           5 * 10**6, ">=", 1_000_000, "lines/s"),
    *(Target(f"sql at 1e8: {what} (2 cores)", "sql", f"{key}.view_seconds", 10**8, "<", 1, "s")
      for key, what in SQL_QUESTIONS),
    *(Target(f"sql view/raw: {what}", "sql", f"{key}.ratio", 10**8, "<=", 1.10, "x")
      for key, what in SQL_QUESTIONS),
)


def _find(target: Target, by_name: dict[str, Figure]) -> tuple[Figure | None, str]:
    """The target's figure; at the largest measured size when its own size was not run."""
    if target.size is None:
        return by_name.get(target.stage), ""
    exact = by_name.get(f"{target.stage}.{target.size}.{target.metric}")
    if exact is not None:
        return exact, ""
    pattern = re.compile(rf"^{re.escape(target.stage)}\.(\d+)\.{re.escape(target.metric)}$")
    sized = [(int(m.group(1)), f) for f in by_name.values() if (m := pattern.match(f.name))]
    if not sized:
        return None, ""
    size, figure = max(sized, key=lambda pair: pair[0])
    return figure, f"(at {size_label(size)}, not {size_label(target.size)})"


def judge(figures: Sequence[Figure]) -> list[str]:
    by_name = {f.name: f for f in figures}
    lines = []
    for t in TARGETS:
        figure, caveat = _find(t, by_name)
        goal = f"{t.op} {t.limit:,g} {t.unit}"
        if figure is None:
            lines.append(f"  {t.what:<40} {goal:<22} {'not measured':>14}  -")
            continue
        verdict = "PASS" if OPS[t.op](figure.value, t.limit) else "MISS"
        got = f"{fmt_value(figure.value)}"
        lines.append(f"  {t.what:<40} {goal:<22} {got:>14}  {verdict} {caveat}".rstrip())
    return lines
