"""Terminal plots beside the memory map (textual-plotext): shared pages over time and the
conversion rate, a vertical line following the event table's cursor."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual_plotext import PlotextPlot

from tdxray.store.read import TraceFile

POINTS = 120


@dataclass
class PlotsLoaded(Message):
    seqs: list[int]
    shared: list[int]
    rate: dict[str, list[int]] = field(default_factory=dict)


def seq_bounds(trace: TraceFile) -> tuple[int, int]:
    meta = trace.parquet.metadata
    seq = trace.parquet.schema_arrow.get_field_index("seq")
    first = meta.row_group(0).column(seq).statistics.min
    last = meta.row_group(meta.num_row_groups - 1).column(seq).statistics.max
    return int(first), int(last)


class PlotLoader:
    """A screen's worker for the plots' data (mixed into the trace screen)."""

    if False:  # for the type checker: what the screen provides
        def post_message(self, message: object) -> bool: ...

    @work(thread=True, exclusive=True, group="plots")
    def load_plots(self, results_dir: Path, trace: TraceFile) -> None:
        import numpy as np

        from tdxray.analyses.conversion_rate import conversion_rate
        from tdxray.analyses.page_history import shared_over_time

        first, last = seq_bounds(trace)
        seqs = np.linspace(first, last, POINTS).astype(np.int64).tolist()
        shared = shared_over_time(results_dir, first, last, POINTS)
        self.post_message(PlotsLoaded(seqs, shared, conversion_rate(results_dir, first, last,
                                                                     POINTS)))


class TracePlots(Vertical):
    DEFAULT_CSS = """
    TracePlots { height: auto; }
    TracePlots PlotextPlot { height: 7; }
    """

    def __init__(self, **kw: str) -> None:
        super().__init__(**kw)
        self.data: PlotsLoaded | None = None
        self.cursor: int | None = None

    def compose(self) -> ComposeResult:
        yield PlotextPlot(id="plot-shared")
        yield PlotextPlot(id="plot-rate")

    def show(self, data: PlotsLoaded) -> None:
        self.data = data
        self._draw()

    def follow(self, seq: int) -> None:
        self.cursor = seq
        self._draw()

    def _draw(self) -> None:
        if self.data is None:
            return
        d = self.data
        shared = self.query_one("#plot-shared", PlotextPlot)
        rate = self.query_one("#plot-rate", PlotextPlot)
        for widget in (shared, rate):
            widget.plt.clear_data()
            widget.plt.clear_figure()
        shared.plt.plot(d.seqs, d.shared, marker="braille", color="magenta")
        shared.plt.title("shared pages over time")
        for name, color in (("to shared", "magenta"), ("to private", "green")):
            if d.rate.get(name):
                rate.plt.plot(d.seqs, d.rate[name], marker="braille", color=color, label=name)
        step = max(1, (d.seqs[-1] - d.seqs[0]) // len(d.seqs))
        rate.plt.title(f"pages converted per {step} events")
        if self.cursor is not None:
            for widget in (shared, rate):
                widget.plt.vline(self.cursor, "yellow")
        shared.refresh()
        rate.refresh()
