"""`tdxray report`: one self-contained HTML page, its tables exact, its size bounded."""

from __future__ import annotations

import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

from click.testing import CliRunner

from tdxray.cli.main import cli
from tdxray.ingest.materialize import trace_file_for
from tdxray.model.replay import replay_trace
from tdxray.report.page import report_html
from tdxray.tests.support import SHARED, write_trace

SAMPLES = Path(__file__).resolve().parent.parent / "sample_traces"


class _Tables(HTMLParser):
    """The rows of every table.divergences: each a list of cell texts; and every tag seen."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.tags: set[str] = set()
        self.urls: list[str] = []
        self._in = 0
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.urls += [v or "" for k, v in attrs if k in ("src", "href") and not
                      (v or "").startswith("#")]
        if tag == "table" and ("class", "divergences") in attrs:
            self._in = 1
        elif self._in and tag == "tr":
            self.rows.append([])
        elif self._in and tag == "td":
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in = 0
        elif tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def divergence_rows(page: str) -> list[tuple[str, str, str, str]]:
    """(severity, rule, seq, GPA range) of every row of the divergence tables."""
    parser = _Tables()
    parser.feed(page)
    return [(r[0], r[1], r[3], r[5]) for r in parser.rows if r]


def expected_rows(path: Path) -> list[tuple[str, str, str, str]]:
    found = [d for d in replay_trace(path).divergences if d.severity != "info"]
    return [(d.severity, d.rule, str(d.seq),
             f"[{d.gpa_start:#x}, {d.gpa_end:#x})" if d.gpa_start is not None else "")
            for d in found]


def test_the_page_lists_exactly_the_divergences_and_fetches_nothing(
        kernel_pair: tuple[Path, Path]) -> None:
    unfixed, _ = kernel_pair
    page = report_html(trace_file_for(str(unfixed)))
    rows = divergence_rows(page)
    assert rows == expected_rows(unfixed)
    assert sorted(r[1] for r in rows) == ["C001", "K001", "K001", "K004"]
    parser = _Tables()
    parser.feed(page)
    assert "script" not in parser.tags and parser.urls == []
    assert "default-src 'none'" in page  # the CSP: a browser may fetch nothing
    assert page.count("<svg") == 4  # memory map, shared pages, latency, vCPU timelines
    assert '<p class="verdict fail" id="verdict">FAIL</p>' in page


def test_trace_text_reaches_the_page_escaped(tmp_path: Path) -> None:
    path = write_trace(tmp_path / "t.parquet", [
        {"kind": "map_gpa", "gpa": SHARED | 0x100000, "size": 0x1000, "status": 0},
        {"kind": "log", "text": "<script>alert(1)</script><img src=x>"},
        {"kind": "kexec", "phase": "jump"},
    ])
    page = report_html(trace_file_for(str(path)))
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x&gt;" in page
    assert divergence_rows(page) == [("error", "K001", "3", "[0x100000, 0x101000)"),
                                     ("error", "K004", "3", "")]


def test_size_stays_small_on_a_large_trace(simulated: Path) -> None:
    """30,000 events in 15 row groups: aggregates and the events around each divergence."""
    page = report_html(trace_file_for(str(simulated)))
    assert divergence_rows(page) == expected_rows(simulated)
    assert len(page.encode()) < 400_000


def test_cli_report_and_check_format_html_write_the_same_page(tmp_path: Path) -> None:
    trace = str(SAMPLES / "kdump-shared-read.jsonl")
    runner = CliRunner()
    out = tmp_path / "r.html"
    res = runner.invoke(cli, ["report", trace, "-o", str(out)])
    assert res.exit_code == 0, res.output
    gate = tmp_path / "c.html"
    res = runner.invoke(cli, ["check", trace, "--format", "html", "-o", str(gate)])
    assert res.exit_code == 1, res.output
    assert gate.read_text() == out.read_text()
    assert divergence_rows(out.read_text()) == expected_rows(
        trace_file_for(trace)[0].path)


def test_an_unreadable_trace_is_one_line_and_no_page(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"tdxray": 1}\n')
    out = tmp_path / "r.html"
    res = CliRunner().invoke(cli, ["report", str(bad), "-o", str(out)])
    assert res.exit_code == 2
    assert res.output.count("\n") == 1 and str(bad) in res.output
    assert not out.exists()


def test_the_report_is_headless() -> None:
    code = ("import sys, tdxray.report.page, tdxray.cli.report; "
            "print(any(m == 'textual' or m.startswith('textual.') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_the_size_benchmark_measures_a_small_trace(tmp_path: Path) -> None:
    from tdxray.benchmarks.html_report import measure

    events, size, seconds = measure(2_000, "unfixed-kernel", tmp_path)
    assert events == 2_000 and 20_000 < size < 400_000 and seconds > 0
