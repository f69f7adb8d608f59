"""The trace screen's start: the side panel (divergences, state, memory map) is mounted once
the first rows are on screen, and the loaders' results and the keys that act on it never come
before it (a fast replay, or a quick key, crashed the app: NoMatches on DivergencePanel)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tdxray.model.replay import load_or_replay
from tdxray.tests.test_tui import SAMPLES, SIZE, settle, sync, text_of
from tdxray.tui.app import TdxrayApp
from tdxray.tui.divergences import DivergencePanel
from tdxray.tui.event_table import EventTable
from tdxray.tui.messages import ReplayLoaded
from tdxray.tui.trace_screen import TraceScreen


def _replayed_at_once(self: TraceScreen, ref: object) -> None:
    """load_replay without its thread: the result is posted while the screen is still in the
    handler that mounted the side panel (the order a fast replay can take)."""
    results = self.ref.results_dir
    self.post_message(ReplayLoaded(load_or_replay(self.ref.path, results), results))


@sync
async def test_a_replay_loaded_at_once_finds_the_divergence_panel(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trace = tmp_path / "unfixed-kernel.jsonl"
    shutil.copy(SAMPLES / "unfixed-kernel.jsonl", trace)
    monkeypatch.setattr(TraceScreen, "load_replay", _replayed_at_once)
    app = TdxrayApp(str(trace))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.screen.query_one(DivergencePanel).divergences
        assert text_of(app, "#status").startswith("replayed: ")


@sync
async def test_keys_for_the_side_panel_wait_for_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before the panel is mounted (here: never), its keys do nothing; the app keeps running
    and the table still moves."""
    trace = tmp_path / "unfixed-kernel.jsonl"
    shutil.copy(SAMPLES / "unfixed-kernel.jsonl", trace)

    async def never(self: TraceScreen) -> None:
        pass

    monkeypatch.setattr(TraceScreen, "_start_background", never)
    app = TdxrayApp(str(trace))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert not app.screen.query(DivergencePanel)
        for key in ("n", "p", "c", "1", "2", "3", "plus", "minus", "0", "z", "down"):
            await pilot.press(key)
        await settle(pilot)
        assert app.is_running
        assert app.screen.query_one(EventTable).cursor == 1
