"""The TUI's plots beside the memory map: shared pages over time and the conversion rate
(textual-plotext), following the cursor; their data from the page history, exactly."""

from __future__ import annotations

import shutil
from pathlib import Path

from tdxray.analyses.conversion_rate import conversion_rate
from tdxray.model.replay import replay_trace
from tdxray.tests.support import SHARED, write_trace
from tdxray.tests.test_tui import SIZE, settle, sync
from tdxray.tui.app import TdxrayApp
from tdxray.tui.event_table import EventTable
from tdxray.tui.plots import TracePlots

SAMPLES = Path(__file__).resolve().parents[1] / "sample_traces"


def test_conversion_rate_counts_pages_per_stretch(tmp_path: Path) -> None:
    path = write_trace(tmp_path / "t.parquet", [
        {"kind": "map_gpa", "gpa": SHARED | 0x100000, "size": 0x4000, "status": 0},   # seq 1
        {"kind": "log", "text": "x"},
        {"kind": "log", "text": "x"},
        {"kind": "map_gpa", "gpa": 0x100000, "size": 0x1000, "status": 0},            # seq 4
        {"kind": "map_gpa", "gpa": SHARED | 0x200000, "size": 0x2000, "status": 0},   # seq 5
        {"kind": "log", "text": "x"},
    ])
    replay_trace(path, tmp_path / "results")
    rate = conversion_rate(tmp_path / "results", 1, 6, 3)  # seqs [1,3), [3,5), [5,7)
    assert rate == {"to shared": [4, 0, 2], "to private": [0, 1, 0]}
    assert conversion_rate(tmp_path / "nothing", 1, 6, 3) == {"to shared": [], "to private": []}


@sync
async def test_plots_show_the_trace_and_follow_the_cursor(tmp_path: Path) -> None:
    trace = tmp_path / "unfixed-kernel.jsonl"
    shutil.copy(SAMPLES / "unfixed-kernel.jsonl", trace)
    app = TdxrayApp(str(trace))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        plots = app.screen.query_one(TracePlots)
        assert plots.data is not None
        assert plots.data.seqs[0] == 1 and plots.data.seqs[-1] == 150
        # MapGPAs to shared of 2048 (swiotlb) + 3 + 4 + 7 pages; the 7 converted back at seq 50
        assert max(plots.data.shared) == 2062 and plots.data.shared[-1] == 2055
        assert sum(plots.data.rate["to shared"]) == 2062
        assert sum(plots.data.rate["to private"]) == 7
        app.screen.query_one(EventTable).go_to_seq(40)
        await settle(pilot)
        assert plots.cursor == 40
