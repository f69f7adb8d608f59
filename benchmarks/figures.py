"""What a benchmark measures: named figures, printed as a table and as one JSON line each."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    name: str  # stage.size.metric, e.g. simulate.10000000.seconds
    value: float
    unit: str
    note: str = ""

    def json_line(self) -> str:
        value = round(self.value, 6) if isinstance(self.value, float) else self.value
        return json.dumps({"name": self.name, "value": value, "unit": self.unit})


def fmt_value(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.1f}"
    return f"{value:.3g}" if value < 1 else f"{value:.2f}"


def table(figures: Iterable[Figure]) -> str:
    rows = [(f.name, fmt_value(f.value), f.unit, f.note) for f in figures]
    if not rows:
        return "(no figures)"
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(f"{n:<{w[0]}}  {v:>{w[1]}}  {u:<{w[2]}}  {note}".rstrip()
                     for n, v, u, note in rows)


def json_lines(figures: Iterable[Figure]) -> str:
    return "\n".join(f.json_line() for f in figures)


def timed(fn: Callable[[], object]) -> float:
    """Wall seconds of one call."""
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def median_seconds(fn: Callable[[], object], repeat: int) -> float:
    """Median wall seconds of `repeat` calls."""
    return statistics.median(timed(fn) for _ in range(max(repeat, 1)))


def warm(path: object) -> None:
    """Read a file once so the timed runs find it in the page cache."""
    with open(str(path), "rb") as f:
        while f.read(1 << 24):
            pass


def size_label(size: int) -> str:
    """1e7 for 10_000_000; the plain number when it is not a power of ten."""
    text = f"{size:.0e}".replace("e+0", "e").replace("e+", "e")
    return text if int(float(text)) == size else str(size)
