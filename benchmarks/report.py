"""The human report: every figure, how replay grows with size, and the targets."""

from __future__ import annotations

import re
from collections.abc import Sequence

from tdxray.benchmarks.figures import Figure, fmt_value, size_label, table
from tdxray.benchmarks.sql import side_by_side
from tdxray.benchmarks.targets import judge

# (column title, stage, metric) of the scaling table: one row per ladder size
SCALING = (
    ("simulate s", "simulate", "seconds"),
    ("replay s", "replay", "seconds"),
    ("DuckDB s", "duckdb_scan", "seconds"),
    ("replay/DuckDB", "replay_vs_duckdb", "ratio"),
    ("check CLI s", "check_cli", "seconds"),
    ("peak RSS MiB", "rss", "peak_mib"),
)
_SIZED = re.compile(r"^[a-z_]+\.(\d+)\.")


def scaling(figures: Sequence[Figure]) -> list[str]:
    by_name = {f.name: f.value for f in figures}
    sizes = sorted({int(m.group(1)) for f in figures if (m := _SIZED.match(f.name))
                    and f.name.startswith("replay.")})
    titles = ["events", *(title for title, _, _ in SCALING), "replay ns/event"]
    rows = [titles]
    for size in sizes:
        cells = [by_name.get(f"{stage}.{size}.{metric}") for _, stage, metric in SCALING]
        replay = by_name.get(f"replay.{size}.seconds")
        per_event = replay / size * 1e9 if replay is not None else None
        rows.append([size_label(size), *(fmt_value(c) if c is not None else "-"
                                         for c in [*cells, per_event])])
    widths = [max(len(r[i]) for r in rows) for i in range(len(titles))]
    return ["  " + "  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]


def human_report(figures: Sequence[Figure]) -> str:
    parts = ["figures", table(figures), "", "scaling (time should grow linearly, memory stay flat)",
             *scaling(figures), "", "SQL: views against the same query on the raw Parquet",
             *side_by_side(figures), "", "targets", *judge(figures)]
    return "\n".join(parts)
