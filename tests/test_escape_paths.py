"""No trace or store string reaches a terminal raw: one test per path that prints one.

A hostile trace carries an OSC 52 sequence (writes the reader's clipboard) in its header's
expected rules and provenance and in a log line; commands run on a real pseudo-terminal.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tdxray.analyses.escape import EscapingWriter, escape_lines
from tdxray.cli.main import cli
from tdxray.tests.support import drain_terminal

OSC52 = "\x1b]52;c;aGk=\x07"
SHOWN = "\\x1b]52;c;aGk=\\x07"
PATIENCE = 120.0


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    header = {"tdxray": 1, "trace_id": "evil",
              "td": {"gpaw": 48, "apic_ids": [0], "ram": [["0x0", "0x20000000"]],
                     "memory": "accepted"},
              "provenance": {"tool": "x" + OSC52}, "expected_rules": ["K001" + OSC52]}
    events = [{"seq": 1, "ts_ns": 1000, "vcpu": 0, "kind": "log", "text": "hi" + OSC52},
              {"seq": 2, "ts_ns": 2000, "vcpu": 0, "kind": "kexec", "phase": "boot"}]
    trace = root / "evil.jsonl"
    trace.write_text("".join(json.dumps(x) + "\n" for x in (header, *events)))
    result = CliRunner().invoke(cli, ["ingest", str(trace), "-o", str(root / "store")],
                                catch_exceptions=False)
    assert result.exit_code == 0
    return root / "store"


def on_terminal(*args: str) -> tuple[int, str, str]:
    """Run tdxray with stdout on a pseudo-terminal: (exit status, terminal text, stderr)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "tdxray", *args], stdout=follower,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    os.close(follower)
    seen = drain_terminal(leader)
    _, err = proc.communicate(timeout=PATIENCE)
    return proc.returncode, seen.decode().replace("\r\n", "\n"), err.decode()


def assert_escaped(text: str) -> None:
    assert "\x1b]" not in text and "\x07" not in text
    assert SHOWN in text


def test_info_escapes_header_strings(store: Path) -> None:
    code, shown, _ = on_terminal("info", str(store))
    assert code == 0
    assert_escaped(shown)
    assert f"expected rules: K001{SHOWN}" in shown


def test_info_json_escapes_on_its_own(store: Path) -> None:
    result = CliRunner().invoke(cli, ["info", str(store), "--json"], catch_exceptions=False)
    assert "\x1b" not in result.stdout
    assert json.loads(result.stdout)[0]["expected_rules"] == ["K001" + OSC52]


def test_errors_escape_file_names(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["info", str(tmp_path / f"nope{OSC52}")])
    assert result.exit_code == 2
    assert_escaped(result.stderr)
    assert result.stderr.endswith(f"nope{SHOWN}: no such file or directory\n")


def test_warnings_escape_file_names(tmp_path: Path) -> None:
    """A text TRACE's warning (here: its unfinished last line) names the file, escaped."""
    trace = tmp_path / f"t{OSC52}.jsonl"
    sample = Path(__file__).resolve().parents[1] / "sample_traces" / "kdump.jsonl"
    trace.write_text(sample.read_text() + '{"seq": 9')
    done = subprocess.run([sys.executable, "-m", "tdxray", "info", str(trace)], text=True,
                          capture_output=True, timeout=PATIENCE, check=False)
    assert done.returncode == 0, done.stderr
    assert_escaped(done.stderr)
    lines = len(sample.read_text().splitlines()) + 1
    assert done.stderr == (f"tdxray: warning: {tmp_path}/t{SHOWN}.jsonl:{lines}: incomplete "
                           "last line skipped (no newline, does not parse)\n")


def test_export_console_escapes_on_a_terminal(store: Path) -> None:
    code, shown, _ = on_terminal("export", str(store), "--format", "console")
    assert code == 0
    assert shown.splitlines()[0] == f"[    0.000001] hi{SHOWN}"


def test_export_to_a_pipe_is_the_trace_as_it_is(store: Path) -> None:
    result = CliRunner().invoke(cli, ["export", str(store), "--format", "console"],
                                catch_exceptions=False)
    assert result.stdout.splitlines()[0] == f"[    0.000001] hi{OSC52}"


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json", "table", "markdown"])
def test_sql_escapes_every_format_on_a_terminal(store: Path, fmt: str) -> None:
    code, shown, _ = on_terminal("sql", "--store", str(store), "--format", fmt,
                                 "SELECT text FROM events WHERE kind = 'log'")
    assert code == 0
    assert "\x07" not in shown and "\x1b]" not in shown
    assert "hi" in shown


def test_sql_csv_to_a_pipe_is_the_value_as_it_is(store: Path) -> None:
    result = CliRunner().invoke(cli, ["sql", "--store", str(store), "--format", "csv",
                                      "SELECT text FROM events WHERE kind = 'log'"],
                                catch_exceptions=False)
    assert result.stdout == f"text\nhi{OSC52}\n"


def test_escaping_writer_keeps_line_breaks() -> None:
    class Sink:
        text = ""

        def write(self, s: str) -> None:
            self.text += s

        def flush(self) -> None:
            pass

    sink = Sink()
    writer = EscapingWriter(sink)  # type: ignore[arg-type]
    writer.writelines(["a\x1b[2J\n", "b\u202e\r\n"])
    assert sink.text == "a\\x1b[2J\nb\\u202e\\x0d\n"
    assert escape_lines("x\n\x9b\ny") == "x\n\\x9b\ny"
