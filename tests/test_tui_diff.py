"""`tdxray tui --diff A B`: the unfixed and the fixed kernel side by side (Pilot)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from textual.widgets import DataTable, Static

from tdxray.cli.main import cli
from tdxray.tests.test_tui import SIZE, settle, sync
from tdxray.tui.diff_app import DiffApp


def _cells(table: DataTable, row: int) -> list[str]:
    return [str(c) for c in table.get_row_at(row)]


@sync
async def test_side_by_side_phases_and_what_differs(kernel_pair: tuple[Path, Path]) -> None:
    a, b = kernel_pair
    app = DiffApp(str(a), str(b))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        left = app.query_one("#table-a", DataTable)
        right = app.query_one("#table-b", DataTable)
        assert left.row_count == right.row_count == 6
        assert [_cells(left, i)[0] for i in range(6)] == [
            "generation 0 boot", "generation 0 I/O", "generation 0 kexec shutdown",
            "generation 0 jump", "generation 1 boot", "generation 1 I/O"]
        assert _cells(left, 3)[2] == "4" and _cells(right, 3)[2] == "0"  # divergences
        assert _cells(left, 4)[1:] == ["-"] * 5
        assert app.detail_text() == "generation 0 boot\nsame in A and B"
        for _ in range(3):
            await pilot.press("down")
        await pilot.pause()
        assert right.cursor_row == 3  # both tables follow
        detail = app.detail_text().splitlines()
        assert detail[0] == "generation 0 jump"
        assert sum(line.startswith("only in A: ERROR K001") for line in detail) == 2
        assert any(line.startswith("only in A: FATAL C001") for line in detail)
        await settle(pilot)
        events_a = app.query_one("#events-a", DataTable)
        events_b = app.query_one("#events-b", DataTable)
        assert events_a.row_count == events_b.row_count == 2
        assert _cells(events_a, 0) == ["299", "kexec vCPU 0 phase=jump"]
        assert _cells(events_b, 1) == [
            "190", "cr4_write vCPU 0 old=0x370ee0 new=0x60 site=relocate_kernel"]
        assert events_a.get_row_at(1)[1].style == "bold yellow"  # changed
        assert events_a.get_row_at(0)[1].style == ""  # the same in both
        heading = app.query_one("#events-heading", Static).content
        assert str(heading).startswith("events: A 2, B 2 the model acts on; 2 rows, 1 differ")
        events_a.focus()
        await pilot.press("down")
        await pilot.pause()
        assert events_b.cursor_row == 1  # the event tables move together too


def test_diff_needs_two_traces() -> None:
    res = CliRunner().invoke(cli, ["tui", "--diff", "one.jsonl"])
    assert res.exit_code == 2 and "--diff takes two traces" in res.output


@sync
async def test_two_traces_of_one_store_picked_with_trace_a_and_trace_b(tmp_path: Path) -> None:
    samples = Path(__file__).resolve().parent.parent / "sample_traces"
    store = tmp_path / "store"
    res = CliRunner().invoke(cli, ["ingest", str(samples / "unfixed-kernel.jsonl"),
                                   str(samples / "single-vcpu-kexec.jsonl"), "-o", str(store),
                                   "-q"])
    assert res.exit_code == 0, res.output
    app = DiffApp(str(store), str(store), "sample-unfixed-kernel", "sample-single-vcpu-kexec")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        left = app.query_one("#table-a", DataTable)
        right = app.query_one("#table-b", DataTable)
        assert left.row_count == right.row_count == 6
        assert (_cells(left, 3)[:3], _cells(right, 3)[:3]) == (
            ["generation 0 jump", "0.001", "4"], ["generation 0 jump", "150.002", "0"])
    app = DiffApp(str(store), str(store), None, "sample-single-vcpu-kexec")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert str(app.query_one("#detail", Static).content) == (
            f"cannot compare: {store}: holds 2 traces; pick one with --trace-a "
            "(sample-single-vcpu-kexec, sample-unfixed-kernel)")


def test_trace_a_without_diff_is_a_usage_error() -> None:
    res = CliRunner().invoke(cli, ["tui", "one.jsonl", "--trace-a", "x"])
    assert res.exit_code == 2 and "--trace-a and --trace-b go with --diff" in res.output
