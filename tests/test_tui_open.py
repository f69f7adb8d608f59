"""`tdxray tui` on a text TRACE: the conversion counted on the opening screen."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from textual.widgets import Static

from tdxray.tui.app import TdxrayApp
from tdxray.tui.trace_screen import TraceScreen

SAMPLES = Path(__file__).resolve().parents[1] / "sample_traces"


def test_a_jsonl_trace_is_counted_as_it_converts(tmp_path: Path) -> None:
    trace = tmp_path / "unfixed-kernel.jsonl"
    shutil.copy(SAMPLES / "unfixed-kernel.jsonl", trace)

    async def run() -> None:
        app = TdxrayApp(str(trace))
        async with app.run_test(size=(120, 40)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert isinstance(app.screen, TraceScreen)
            assert app.converted is not None
            assert (app.converted.source, app.converted.events, app.converted.done) == (
                str(trace), 150, True)
            opening = app.screen_stack[0].query_one("#opening", Static)
            assert str(opening.content) == (
                f"opening {trace} … converted {trace}: 150 events")

    asyncio.run(run())


def test_a_parquet_trace_converts_nothing(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from tdxray.cli.main import cli

    store = tmp_path / "store"
    ran = CliRunner().invoke(cli, ["ingest", str(SAMPLES / "kdump.jsonl"), "-o", str(store),
                                   "-q"])
    assert ran.exit_code == 0, ran.output

    async def run() -> None:
        app = TdxrayApp(str(store))
        async with app.run_test(size=(120, 40)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert isinstance(app.screen, TraceScreen) and app.converted is None

    asyncio.run(run())
