"""Pilot tests of `tdxray tui`: navigation, filters, divergences, state, memory map, SQL."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import shutil
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Input, Static
from textual.worker import WorkerCancelled

from tdxray.ingest.materialize import trace_file_for
from tdxray.store import filter_index
from tdxray.store.filter_index import index_path, open_index
from tdxray.store.read import open_trace
from tdxray.tests.support import write_trace
from tdxray.tui.app import TdxrayApp
from tdxray.tui.divergences import DivergencePanel
from tdxray.tui.event_table import EventTable
from tdxray.tui.help import HelpScreen
from tdxray.tui.memory_map import MemoryMap
from tdxray.tui.picker import MessageScreen, PickerScreen
from tdxray.tui.trace_screen import TraceScreen

SAMPLES = Path(__file__).resolve().parents[1] / "sample_traces"
SIZE = (120, 40)


@pytest.fixture
def unfixed(tmp_path: Path) -> str:
    """The bundled faulty trace, copied so that replay results land in tmp_path."""
    target = tmp_path / "unfixed-kernel.jsonl"
    shutil.copy(SAMPLES / "unfixed-kernel.jsonl", target)
    return str(target)


def sync(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async Pilot test (no async plugin needed)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


async def settle(pilot: Pilot, rounds: int = 6) -> None:
    """Wait until no worker is running (workers start workers: loop a few times)."""
    for _ in range(rounds):
        with contextlib.suppress(WorkerCancelled):  # exclusive workers replace older ones
            await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def text_of(app: TdxrayApp, selector: str) -> str:
    """The plain text a Static shows (strings, Rich Text or any Rich renderable)."""
    content = app.screen.query_one(selector, Static).content
    if isinstance(content, str):
        return content
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(content)
    return console.export_text()


@sync
async def test_opens_trace_and_shows_first_events(unfixed: str) -> None:
    app = TdxrayApp(unfixed)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, TraceScreen)
        table = app.screen.query_one(EventTable)
        assert table.view.total == 150
        assert table.row_at(0)["seq"] == 1
        assert "sample-unfixed-kernel" in text_of(app, "#titlebar")
        assert "1 fatal" in text_of(app, "#status")


@sync
async def test_keys_move_the_cursor(unfixed: str) -> None:
    app = TdxrayApp(unfixed)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one(EventTable)
        await pilot.press("down", "down", "down")
        assert table.cursor == 3
        await pilot.press("end")
        await settle(pilot)
        assert table.current_row()["seq"] == 150
        await pilot.press("home", "pagedown")
        assert table.cursor == table.size.height - 1
        await pilot.click(EventTable, offset=(5, 2))
        assert table.cursor == int(table.scroll_offset.y) + 2


@sync
async def test_divergence_jump_marks_causes(unfixed: str) -> None:
    app = TdxrayApp(unfixed)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        panel = app.screen.query_one(DivergencePanel)
        table = app.screen.query_one(EventTable)
        await pilot.press("n")  # the first divergence: the fatal C001
        await settle(pilot)
        assert panel.selected is not None and panel.selected.rule == "C001"
        assert table.current_row()["seq"] == 150
        await pilot.press("n")  # the first K001: leaked shared memory
        await settle(pilot)
        leak = panel.selected
        assert leak is not None and leak.rule == "K001"
        assert table.current_row()["seq"] == leak.seq == 149
        assert table.marks[149] == "reveal"
        assert {s for s, m in table.marks.items() if m == "cause"} == set(leak.cause_seqs)
        await pilot.press("c")
        await settle(pilot)
        assert table.current_row()["seq"] == leak.cause_seqs[0]
        assert table.current_row()["kind"] == "map_gpa"
        assert "caused by seq" in text_of(app, "#div-text")
        await pilot.press("p")
        await settle(pilot)
        assert panel.selected.rule == "C001"


@sync
async def test_filters_narrow_the_table(unfixed: str) -> None:
    app = TdxrayApp(unfixed)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one(EventTable)
        await pilot.press("f")
        await pilot.press(*"map_gpa")
        await settle(pilot)
        assert table.view.total == 5
        assert [table.row_at(i)["kind"] for i in range(5)] == ["map_gpa"] * 5
        assert "kind IN ('map_gpa')" in text_of(app, "#filter-summary")
        app.screen.query_one("#filter-kind", Input).value = "nonsense"
        await settle(pilot)
        assert "unknown kind" in text_of(app, "#filter-summary")
        assert app.screen.query_one("#filter-kind", Input).has_class("-invalid")
        app.screen.query_one("#filter-kind", Input).value = ""
        app.screen.query_one("#filter-gpa", Input).value = "0x1f600000"
        await settle(pilot)
        assert [table.row_at(i)["seq"] for i in range(table.view.total)] == [4]
        assert table.view.indexed  # counted and read in the filter index
        app.screen.query_one("#filter-gpa", Input).value = ""
        app.screen.query_one(EventTable).focus()
        await pilot.press("slash", *"io tlb")
        await settle(pilot)
        assert [table.row_at(i)["seq"] for i in range(table.view.total)] == [5]
        await pilot.press("escape")
        await settle(pilot)
        assert table.view.total == 150


@sync
async def test_state_panel_and_memory_map_show_the_leak(unfixed: str) -> None:
    app = TdxrayApp(unfixed)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n", "n")  # K001 [0x4000000, 0x4007000)
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        state = text_of(app, "#state-text")
        assert "shared pages: 2055" in state
        assert "phase jumped" in state
        assert "page 0x4000000: shared (caused by seq 6)" in state
        await pilot.press("3")
        await settle(pilot)
        legend = text_of(app, "#map-legend")
        assert "[0x1f600000, 0x1fe00000) 2048 pages ← seq 4" in legend
        assert "[0x4000000, 0x4003000) 3 pages ← seq 6" in legend
        await pilot.press("z")
        assert app.screen.query_one(MemoryMap).hi - app.screen.query_one(MemoryMap).lo < 0x100000


@sync
async def test_sql_panel_runs_queries_and_shows_errors(unfixed: str) -> None:
    app = TdxrayApp(unfixed)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        field = app.screen.query_one("#sql-input", Input)
        field.value = "SELECT count(*) AS n FROM events"
        await pilot.press("enter")
        await settle(pilot)
        assert "1 rows" in text_of(app, "#sql-status")
        table = app.screen.query_one("#sql-table")
        assert table.backend.source_data.column("n")[0].as_py() == 150
        field.value = "SELECT nope FROM events"
        await pilot.press("enter")
        await settle(pilot)
        assert "nope" in text_of(app, "#sql-status")
        field.value = "COPY events TO 'x.csv'"
        await pilot.press("enter")
        await settle(pilot)
        assert "refused" in text_of(app, "#sql-status")
        assert len(app.screen.history) == 3
        await pilot.press("escape")
        assert isinstance(app.screen, TraceScreen)


@sync
async def test_trace_text_is_escaped(tmp_path: Path) -> None:
    path = write_trace(tmp_path / "t.parquet", [
        {"kind": "log", "text": "evil \x1b[2J\x1b]0;pwned\x07 line"}])
    app = TdxrayApp(str(path))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one(EventTable)
        line = "".join(seg.text for seg in table.render_line(0))
        assert "\x1b" not in line and "\\x1b[2J\\x1b]0;pwned\\x07 line" in line


@pytest.mark.parametrize("content", [b"", b"not parquet at all"])
@sync
async def test_unreadable_trace_shows_a_message(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(content)
    app = TdxrayApp(str(path))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, MessageScreen)
        assert "cannot show" in text_of(app, "#message-title")


@sync
async def test_empty_trace_shows_a_message(tmp_path: Path) -> None:
    path = write_trace(tmp_path / "empty.parquet", [])
    app = TdxrayApp(str(path))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, MessageScreen)
        assert "no events" in text_of(app, "#message-text")


@sync
async def test_store_with_several_traces_asks_which(tmp_path: Path) -> None:
    write_trace(tmp_path / "a.parquet", [{"kind": "kexec", "phase": "boot"}], trace_id="a")
    write_trace(tmp_path / "b.parquet", [{"kind": "log", "text": "hi"}] * 3, trace_id="b")
    app = TdxrayApp(str(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, PickerScreen)
        await pilot.press("down", "enter")
        await settle(pilot)
        assert isinstance(app.screen, TraceScreen)
        assert app.screen.source.trace.trace_id == "b"


@sync
async def test_help_lists_every_key(unfixed: str) -> None:
    app = TdxrayApp(unfixed)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        keys = text_of(app, "#help-keys")
        for words in ("Next divergence", "Go to seq", "Zoom map in", "Page down", "Cancel the"):
            assert words in keys
        await pilot.press("escape")
        assert isinstance(app.screen, TraceScreen)


@sync
async def test_goto_seq(unfixed: str) -> None:
    app = TdxrayApp(unfixed)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("g", *"120", "enter")
        await settle(pilot)
        assert app.screen.query_one(EventTable).current_row()["seq"] == 120


def test_a_damaged_filter_index_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trace = trace_file_for(str(SAMPLES / "unfixed-kernel.jsonl"), workdir=tmp_path)[0]
    index = index_path(trace.results_dir)
    index.parent.mkdir(parents=True)
    index.write_bytes(b"garbage")
    notes: list[str] = []
    monkeypatch.setattr(TraceScreen, "notify", lambda self, message, **kw: notes.append(message))

    async def explore() -> None:
        app = TdxrayApp(str(trace.path))
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert any("filter index rebuilt: unreadable" in n for n in notes)
            app.screen.query_one("#filter-gpa", Input).value = "0x1f600000"
            await settle(pilot)
            table = app.screen.query_one(EventTable)
            assert table.view.indexed
            assert [table.row_at(i)["seq"] for i in range(table.view.total)] == [4]

    asyncio.run(explore())
    assert open_index(open_trace(trace.path), trace.results_dir).events > 0


def test_a_read_only_store_keeps_its_filter_index_elsewhere(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trace = trace_file_for(str(SAMPLES / "unfixed-kernel.jsonl"), workdir=tmp_path)[0]
    real = filter_index.ensure_index
    places: list[Path] = []

    def read_only_store(trace_file: Any, results_dir: Path) -> Any:
        places.append(results_dir)
        if results_dir == trace.results_dir:
            raise PermissionError(13, "Permission denied", str(results_dir))
        return real(trace_file, results_dir)

    monkeypatch.setattr(filter_index, "ensure_index", read_only_store)

    async def explore() -> None:
        app = TdxrayApp(str(trace.path))
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            app.screen.query_one("#filter-gpa", Input).value = "0x1f600000"
            await settle(pilot)
            table = app.screen.query_one(EventTable)
            assert table.view.indexed
            assert [table.row_at(i)["seq"] for i in range(table.view.total)] == [4]

    asyncio.run(explore())
    assert places[0] == trace.results_dir and places[1] != trace.results_dir
    assert not index_path(trace.results_dir).exists()
