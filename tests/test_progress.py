"""Progress of long writes: drawn on stderr only on a terminal, only past a second, never
under --quiet (a fake clock: no sleeps)."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner
from rich.console import Console

from tdxray.cli.main import cli
from tdxray.cli.progress import DELAY_S, EventProgress


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def batches(n: int) -> list[pa.RecordBatch]:
    return [pa.record_batch({"seq": list(range(i * 10, i * 10 + 10))}) for i in range(n)]


def drawn(interactive: bool, quiet: bool, total: int | None, seconds: list[float]) -> str:
    out = io.StringIO()
    console = Console(file=out, force_terminal=interactive, force_interactive=interactive,
                      width=80)
    clock = Clock()
    with EventProgress("ingesting td", total, quiet, console, clock) as progress:
        for at in seconds:
            clock.now = at
            progress.advance(10)
        assert progress._done == 10 * len(seconds)
    return out.getvalue()


def test_nothing_within_the_first_second() -> None:
    assert drawn(True, False, 40, [0.1, 0.5, DELAY_S - 0.01]) == ""


def test_a_bar_once_past_a_second() -> None:
    out = drawn(True, False, 40, [0.1, DELAY_S + 0.5, DELAY_S + 1])
    assert "ingesting td" in out and "30/40" in out


def test_a_count_when_the_total_is_unknown() -> None:
    assert "30 events" in drawn(True, False, None, [0.1, 2.0, 3.0])


@pytest.mark.parametrize(("interactive", "quiet"), [(False, False), (True, True)])
def test_never_off_a_terminal_or_when_quiet(interactive: bool, quiet: bool) -> None:
    assert drawn(interactive, quiet, 40, [0.1, 5.0, 10.0]) == ""


def test_track_passes_batches_through_and_counts() -> None:
    clock = Clock()
    progress = EventProgress("x", None, True, Console(file=io.StringIO()), clock)
    given = batches(3)
    assert list(progress.track(given)) == given
    assert progress._done == 30


def test_simulate_and_ingest_quiet(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    sim = CliRunner().invoke(cli, ["simulate", "--events", "2000", "-o", str(trace), "-q"])
    assert (sim.exit_code, sim.stderr) == (0, "")
    loud = CliRunner().invoke(cli, ["simulate", "--events", "2000", "-o", str(trace)])
    assert loud.exit_code == 0 and loud.stderr.startswith(f"{trace}: ")  # no bar: not a tty
    ing = CliRunner().invoke(cli, ["ingest", str(trace), "-o", str(tmp_path / "s"), "-q"])
    assert (ing.exit_code, ing.stderr) == (0, "")
    assert len(list((tmp_path / "s").glob("*.parquet"))) == 1


def test_export_to_a_file_counts_every_exported_event(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, int | None, bool, int]] = []

    class Recorder(EventProgress):
        def close(self) -> None:
            seen.append((self.label, self.total, self.enabled, self._done))
            super().close()

    monkeypatch.setattr("tdxray.cli.export.EventProgress", Recorder)
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(cli, ["export", "sample_traces/kdump.jsonl", "-o", str(out)])
    assert result.exit_code == 0, result.output
    events = len(out.read_text().splitlines()) - 1
    assert seen == [("exporting sample-kdump", events, False, events)]  # not a terminal: no bar
