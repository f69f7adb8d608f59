"""The GPA memory map at the cursor's time: one cell per slice of the range shown, coloured by
the worst state inside it (shared > pending > unaccepted > private), so that a leak of one page
is never hidden by a cell's size. Zoomable; the shared-page count over time sits under it."""

from __future__ import annotations

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Sparkline, Static

from tdxray.analyses.state_at import ModelSnapshot
from tdxray.schema.constants import PAGE_SIZE

# drawing order: later states win a cell
PRIORITY = ("none", "private", "unaccepted", "pending", "shared")
CELL_STYLE = {"none": ("·", "grey30"), "private": ("█", "green"), "unaccepted": ("▒", "cyan"),
              "pending": ("█", "yellow"), "shared": ("█", "magenta")}


def cell_states(snap: ModelSnapshot, lo: int, hi: int, cells: int) -> list[str]:
    """The state each of `cells` equal slices of [lo, hi) shows."""
    out = np.zeros(cells, dtype=np.int8)
    size = max(1, (hi - lo) / cells)
    states = np.array([PRIORITY.index(s) if s in PRIORITY else 0 for s in snap.states])
    starts = snap.starts.astype(np.float64)
    ends = snap.ends.astype(np.float64)
    keep = (ends > lo) & (starts < hi)
    first = np.clip(((starts[keep] - lo) // size).astype(np.int64), 0, cells - 1)
    last = np.clip(np.ceil((ends[keep] - lo) / size).astype(np.int64) - 1, 0, cells - 1)
    for rank in range(1, len(PRIORITY)):
        mark = np.zeros(cells + 1, dtype=np.int64)
        sel = states[keep] == rank
        np.add.at(mark, first[sel], 1)
        np.add.at(mark, last[sel] + 1, -1)
        out[np.cumsum(mark[:-1]) > 0] = rank
    return [PRIORITY[i] for i in out]


def _size(n: int) -> str:
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div:
            return f"{n / div:.4g} {unit}"
    return f"{n} B"


class MapGrid(Widget):
    DEFAULT_CSS = "MapGrid { height: 10; }"

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.snap: ModelSnapshot | None = None
        self.lo, self.hi = 0, 1
        self.focus_range: tuple[int, int] | None = None

    def render(self) -> Text:
        width, height = max(self.size.width, 1), max(self.size.height, 1)
        if self.snap is None:
            return Text("waiting for the model state…", "dim")
        states = cell_states(self.snap, self.lo, self.hi, width * height)
        span = (self.hi - self.lo) / (width * height)
        text = Text()
        for i, state in enumerate(states):
            char, style = CELL_STYLE[state]
            c0 = self.lo + i * span
            if self.focus_range and c0 < self.focus_range[1] and c0 + span > self.focus_range[0]:
                style += " underline on grey23"
            text.append(char, style)
            if i % width == width - 1 and i + 1 < len(states):
                text.append("\n")
        return text


class MemoryMap(Vertical):
    DEFAULT_CSS = """
    MemoryMap > Static { height: auto; }
    MemoryMap Sparkline { height: 3; margin-top: 1; }
    """

    def __init__(self, ram_lo: int, ram_hi: int, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.ram = (ram_lo, ram_hi)
        self.lo, self.hi = ram_lo, ram_hi
        self.focus_gpa: int | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="map-title")
        yield MapGrid(id="map-grid")
        yield Static(id="map-legend")
        yield Static(Text("shared pages over time (whole trace):", "bold"), id="spark-title")
        yield Sparkline([], id="map-spark")

    def show(self, snap: ModelSnapshot) -> None:
        grid = self.query_one(MapGrid)
        grid.snap = snap
        self._redraw()

    def on_resize(self) -> None:
        self.call_after_refresh(self._redraw)

    def set_focus(self, gpa: int | None, span: tuple[int, int] | None = None) -> None:
        self.focus_gpa = gpa
        self.query_one(MapGrid).focus_range = span
        self._redraw()

    def zoom(self, factor: float) -> None:
        centre = self.focus_gpa if self.focus_gpa is not None else (self.lo + self.hi) // 2
        half = max(PAGE_SIZE * 8, int((self.hi - self.lo) * factor) // 2)
        lo = max(self.ram[0], centre - half)
        self.lo, self.hi = lo, min(self.ram[1], lo + 2 * half)
        self._redraw()

    def zoom_to(self, span: tuple[int, int] | None) -> None:
        if span is None:
            self.lo, self.hi = self.ram
        else:
            pad = max((span[1] - span[0]) // 4, PAGE_SIZE * 4)
            self.lo, self.hi = max(self.ram[0], span[0] - pad), min(self.ram[1], span[1] + pad)
        self._redraw()

    def timeline(self, counts: list[int]) -> None:
        self.query_one(Sparkline).data = [float(c) for c in counts]
        peak = max(counts) if counts else 0
        self.query_one("#spark-title", Static).update(
            Text(f"shared pages over time (whole trace, peak {peak}):", "bold"))

    def _redraw(self) -> None:
        grid = self.query_one(MapGrid)
        grid.lo, grid.hi = self.lo, self.hi
        cells = max(grid.size.width * grid.size.height, 1) if grid.size.width else 440
        self.query_one("#map-title", Static).update(Text(
            f"GPA [{self.lo:#x}, {self.hi:#x}) · {_size(self.hi - self.lo)} · cell ≈ "
            f"{_size((self.hi - self.lo) // cells)}   (+/- zoom, 0 all, z range)", "bold"))
        self.query_one("#map-legend", Static).update(self._legend(grid.snap))
        grid.refresh()

    def _legend(self, snap: ModelSnapshot | None) -> Text:
        text = Text()
        for state in PRIORITY[1:]:
            char, style = CELL_STYLE[state]
            text.append(char, style).append(f" {state}  ")
        if snap is None:
            return text
        shared = [(int(s), int(e), c) for s, e, st, c in
                  zip(snap.starts, snap.ends, snap.states, snap.causes, strict=True)
                  if st == "shared"]
        text.append(f"\nshared at the cursor: {len(shared)} range(s)", "bold")
        for s, e, cause in shared[:6]:
            text.append(f"\n  [{s:#x}, {e:#x}) {(e - s) // PAGE_SIZE} pages"
                        + (f" ← seq {cause}" if cause is not None else ""), "magenta")
        if len(shared) > 6:
            text.append(f"\n  … {len(shared) - 6} more", "dim")
        return text
