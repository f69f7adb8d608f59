"""Trace and store strings are text in the TUI, never Textual markup: a `[/]` in a file name or
a trace id used to stop the app with a MarkupError, and `[@click=app.quit]` made a trace's text
an action of the app. Each place a string from a trace or a store reaches a widget."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.content import Content
from textual.widgets import OptionList

from tdxray.tests.support import write_trace
from tdxray.tests.test_tui import SAMPLES, SIZE, settle, sync, text_of
from tdxray.tui.app import TdxrayApp
from tdxray.tui.picker import PickerScreen
from tdxray.tui.trace_screen import TraceScreen

HOSTILE = "[@click=app.quit]q[b]x"  # a file name: no "/", so no "[/]" (the text test has it)


@pytest.fixture
def hostile_jsonl(tmp_path: Path) -> str:
    """A JSONL trace named with markup, its last line unfinished: the warning names the file."""
    folder = tmp_path / HOSTILE
    folder.mkdir()
    target = folder / "t.jsonl"
    text = (SAMPLES / "accept-misuse.jsonl").read_text()
    target.write_text(text + '{"seq": 99999, "ts_')
    return str(target)


def _shown(message: str, markup: bool = True) -> str:
    """What a toast shows of `message` (textual's Toast: markup unless told otherwise)."""
    return Content.from_markup(message).plain if markup else message


@sync
async def test_a_warning_naming_a_hostile_file_is_shown_as_text(
        hostile_jsonl: str, monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[str] = []
    notify = TdxrayApp.notify

    def seen(self: TdxrayApp, message: str, **kw: Any) -> None:
        shown.append(_shown(message, kw.get("markup", True)))
        notify(self, message, **kw)

    monkeypatch.setattr(TdxrayApp, "notify", seen)
    app = TdxrayApp(hostile_jsonl)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, TraceScreen)
        assert shown == [f"{hostile_jsonl}:152: incomplete last line skipped (no newline, "
                         "does not parse)"]
        assert HOSTILE in text_of(app, "#titlebar")


@sync
async def test_trace_ids_with_markup_are_listed_as_text(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    for tid in (HOSTILE, "[b]bold"):
        write_trace(store / f"{tid}.parquet", [{"kind": "log", "text": "a"}], trace_id=tid)
    app = TdxrayApp(str(store))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, PickerScreen)
        options = app.screen.query_one(OptionList)
        assert options.option_count == 2
        screen = app.export_screenshot().replace("&#160;", " ")
        assert HOSTILE.replace("[", "&#91;") in screen or HOSTILE in screen, screen[-3000:]
