"""Progress of long writes: drawn on stderr only on a terminal, only past a second, never
under --quiet (a fake clock: no sleeps)."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner
from rich.console import Console

from tdxray.cli.main import cli
from tdxray.cli.progress import DELAY_S, EventProgress
from tdxray.tests.support import drain_terminal

SAMPLES = Path(__file__).resolve().parent.parent / "sample_traces"


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


def test_replay_callback_bar_and_relabel() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, force_interactive=True, width=80)
    clock = Clock()
    with EventProgress("replaying", console=console, clock=clock) as progress:
        progress.relabel("replaying a (1/2)")
        progress(50, 100)  # within the first second: nothing
        assert out.getvalue() == ""
        clock.now = DELAY_S + 0.1
        progress.relabel("replaying b (2/2)")
        progress(70, 200)
    assert "replaying b (2/2)" in out.getvalue() and "70/200" in out.getvalue()
    assert "replaying a" not in out.getvalue()


# -- on a real pseudo-terminal: check, replay and sql -o (the delay set to 0 in the child) ------

CHILD = ("import sys, tdxray.cli.progress as p; p.DELAY_S = 0.0; "
         "from tdxray.cli.main import cli; cli(sys.argv[1:], prog_name='tdxray')")
RICH_ENV = ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS")


def stderr_on(terminal: bool, *args: str, cwd: Path) -> tuple[int, str, str]:
    """Run tdxray (no progress delay) with stderr on a pseudo-terminal or a pipe:
    (exit status, stdout, stderr)."""
    env = {k: v for k, v in os.environ.items() if k not in RICH_ENV}
    env |= {"TERM": "xterm", "COLUMNS": "200"}
    if not terminal:
        res = subprocess.run([sys.executable, "-c", CHILD, *args], cwd=cwd, env=env,
                             stdin=subprocess.DEVNULL, capture_output=True, text=True,
                             timeout=120)
        return res.returncode, res.stdout, res.stderr
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-c", CHILD, *args], cwd=cwd, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    seen = drain_terminal(leader)
    out, _ = proc.communicate(timeout=120)
    return proc.returncode, out.decode(), seen.decode()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("progress")
    for name in ("kdump", "unfixed-kernel"):
        res = CliRunner().invoke(cli, ["ingest", f"{SAMPLES}/{name}.jsonl", "-o",
                                       str(root / "store"), "-q"])
        assert res.exit_code == 0, res.output
    replayed = CliRunner().invoke(cli, ["replay", str(root / "store"), "-q"])  # sql: no note
    assert (replayed.exit_code, replayed.output) == (0, "")
    return root / "store"


def test_check_draws_on_a_terminal_only(store: Path, tmp_path: Path) -> None:
    trace = f"{SAMPLES}/unfixed-kernel.jsonl"
    code, out, err = stderr_on(True, "check", trace, cwd=tmp_path)
    assert code == 1 and out.startswith("sample-unfixed-kernel  ")
    assert 0 <= err.index(f"reading {trace}") < err.index("replaying sample-unfixed-kernel")
    code, out_piped, err = stderr_on(False, "check", trace, cwd=tmp_path)
    assert (code, out_piped, err) == (1, out, "")
    code, out_quiet, err = stderr_on(True, "check", trace, "-q", cwd=tmp_path)
    assert (code, out_quiet, err) == (1, out, "")


def test_replay_draws_per_trace_and_quiet_is_silent(store: Path, tmp_path: Path) -> None:
    code, out, err = stderr_on(True, "replay", str(store), cwd=tmp_path)
    assert code == 0 and out.count("  results: ") == 2
    assert "replaying " in err and "(2/2)" in err
    assert stderr_on(True, "replay", str(store), "-q", cwd=tmp_path) == (0, "", "")


def test_sql_export_counts_rows_on_a_terminal(store: Path, tmp_path: Path) -> None:
    export = ("sql", "SELECT seq, kind FROM events", "--store", str(store), "--format", "csv",
              "-o", "ev.csv")
    code, _, err = stderr_on(True, *export, cwd=tmp_path)
    assert code == 0 and "writing ev.csv" in err and "300 rows" in err
    rows = (tmp_path / "ev.csv").read_text().splitlines()
    assert rows[0] == "seq,kind" and len(rows) == 1 + 2 * 150
    assert stderr_on(True, *export, "-q", cwd=tmp_path) == (0, "", "")
    assert stderr_on(False, *export, cwd=tmp_path) == (0, "", "")


def test_a_label_naming_a_hostile_file_is_drawn_as_text() -> None:
    """Rich markup in a file name ("[/]" stopped the command with a MarkupError)."""
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, force_interactive=True, width=120)
    clock = Clock()
    with EventProgress("replaying", console=console, clock=clock) as progress:
        clock.now = DELAY_S + 0.1
        progress.relabel("reading x[/]y[bold]z.jsonl")
        progress(70, 200)
    assert "reading x[/]y[bold]z.jsonl" in out.getvalue()
