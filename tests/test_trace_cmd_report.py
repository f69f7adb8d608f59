"""`trace-cmd report` output of the tdxray probes is a guest trace (FORMATS.md §2).

trace-cmd prints each record through libtraceevent: `%16s-%-5d [%03d]`, the timestamp, the event
name padded to 20 columns ("space out the event names evenly", event-parse.c) and the probe's
print fmt, whose `(%lx)` is the bare hex probe address, not the kernel's `(sym+off/size)`;
a kretprobe's is `(%lx <- %lx)`. The file starts with a `cpus=N` line.
"""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from tdxray.cli.main import cli
from tdxray.ingest.text.sources import detect_source_format
from tdxray.store.read import open_trace


def report_line(comm: str, pid: int, cpu: int, ts: str, event: str, info: str) -> str:
    return f"{comm:>16}-{pid:<5} [{cpu:03d}] {ts:>12}: {event + ':':<21}{info}\n"


KEXEC = "".join([
    "cpus=2\n",
    report_line("kexec", 145, 0, "2.817820", "kexec_load",
                "(ffffffff8112d2a4) image=0xffff8d87c1b81800"),
    report_line("kexec", 145, 0, "2.819141", "kexec_load_ret",
                "(ffffffff8112d2a4 <- ffffffff8112e0c3) ret=0"),
    report_line("kexec", 146, 0, "3.144956", "kernel_kexec", "(ffffffff8112c9e4)"),
    report_line("kexec", 146, 0, "3.145500", "kexec_begin", "(ffffffff810a1f24)"),
])


def test_trace_cmd_report_of_the_probes_is_sniffed_as_a_guest_trace() -> None:
    assert detect_source_format(KEXEC.encode(), "guest.txt") == "ftrace-guest"


def test_trace_cmd_report_of_the_probes_reads_as_the_kexec_events(tmp_path: Path) -> None:
    trace = tmp_path / "guest.txt"
    trace.write_text(KEXEC)
    store = tmp_path / "store"
    res = CliRunner().invoke(cli, ["ingest", str(trace), "-o", str(store), "-q"])
    assert res.exit_code == 0, res.output
    opened = open_trace(store / "guest.parquet")
    rows = opened.read().to_pylist()
    assert [(r["seq"], r["kind"], r["phase"], r["ts_ns"], r["line"]) for r in rows] == [
        (1, "kexec", "load", 2_817_820_000, 2),
        (2, "kexec", "shutdown", 3_144_956_000, 4),
        (3, "kexec", "begin", 3_145_500_000, 5)]
    [source] = opened.header.provenance["sources"]
    assert source["format"] == "ftrace-guest"
