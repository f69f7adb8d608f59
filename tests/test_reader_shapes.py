"""The shapes of tracefs output a user may hand us, recorded on Debian's 6.12 and 6.1 cloud
kernels under QEMU (tests/realkernel/record_shapes.py; fixtures in tests/data/real/shapes/):
each is read to exactly its events, or refused with one line that says what to change.

Every fixture holds the same recording: `kexec -l` twice (the probes `kexec_load` and
`kexec_load_ret` make one `kexec` load each) and a `trace_marker` write, dumped with one trace
option or trace_clock changed (kernel/trace/trace_output.c prints them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tdxray.cli.main import cli
from tdxray.store.read import open_trace

SHAPES = Path(__file__).parent / "data" / "real" / "shapes"
TD = Path(__file__).parent / "data" / "real" / "qemu" / "td.json"  # -smp 2


def ingest(tmp_path: Path, *files: Path) -> tuple[int, str, list[dict[str, Any]]]:
    """(exit status, stderr, the stored events as (kind, phase, ts_ns, vcpu, line, extra))."""
    store = tmp_path / "store"
    res = CliRunner().invoke(cli, ["ingest", *map(str, files), "-o", str(store), "--td",
                                   str(TD), "--trace-id", "t", "-q"])
    if res.exit_code:
        assert not (store / "t.parquet").exists()
        return res.exit_code, res.stderr, []
    rows = open_trace(store / "t.parquet").read().to_pylist()
    return 0, res.stderr, [{k: v for k, v in r.items() if v is not None and k != "source"}
                           for r in rows]


def loads(*at: tuple[int, int, int]) -> list[dict[str, Any]]:
    return [{"seq": i + 1, "ts_ns": ts, "vcpu": vcpu, "kind": "kexec", "phase": "load",
             "line": line} for i, (ts, vcpu, line) in enumerate(at)]


def marker(seq: int, ts: int, line: int) -> dict[str, Any]:
    # a trace_marker write is kept as an unmodeled event; it carries no vCPU (the reader
    # cannot tell a guest's CPU column from a host's for events it does not model)
    return {"seq": seq, "ts_ns": ts, "vcpu": 0, "kind": "tracing_mark_write",
            "extra": json.dumps({"fields": "tdxray shape marker"}), "line": line}


# 11.761702 and 16.196556 on CPU 1 (taskset), the marker at 18.045615
KEXEC_612 = [(11_761_702_000, 1), (16_196_556_000, 1)]


def recorded(first: int) -> list[dict[str, Any]]:
    """The 6.12 recording's events when its first event is on line `first`."""
    kexec = loads(*((ts, cpu, first + 2 * i) for i, (ts, cpu) in enumerate(KEXEC_612)))
    return [*kexec, marker(3, 18_045_615_000, first + 4)]


@pytest.mark.parametrize("name,first", [
    ("trace", 13),                # default options
    ("trace-noirq-info", 7),      # no flags column, a shorter header
    ("trace-record-tgid", 13),    # `(-------)` TGID column (the tgid map is empty)
    ("trace-sym-addr", 13),       # `(sym+off/size <ffffffff…>)`, `tracing_mark_write <…>:`
    ("trace-sym-offset", 13),     # `tracing_mark_write+0xdf/0x280:` (kprobes always show it)
    ("per_cpu-cpu1-trace", 13),   # per_cpu/cpu1/trace: the same header, one CPU's events
    ("trace_pipe", 1),            # no header at all
])
def test_trace_options_that_keep_the_line_shape_read_to_the_recorded_events(
        tmp_path: Path, name: str, first: int) -> None:
    assert ingest(tmp_path, SHAPES / "6.12" / name) == (0, "", recorded(first))


@pytest.mark.parametrize("clock,ts,cpu", [
    ("mono", 25_580_829_000, 1), ("boot", 52_115_243_000, 1), ("perf", 63_532_169_000, 0)])
def test_clocks_in_nanoseconds_are_read(tmp_path: Path, clock: str, ts: int, cpu: int) -> None:
    assert ingest(tmp_path, SHAPES / "6.12" / f"trace-clock-{clock}") == (
        0, "", loads((ts, cpu, 13)))


COUNT = ("timestamp {} is a count, not seconds: trace_clock counter, uptime or x86-tsc "
         "(echo global > trace_clock, or trace-cmd record -C global)")


@pytest.mark.parametrize("name,line,why", [
    # trace_print_context(): `%12llu` when trace_clocks[].in_ns is 0
    ("trace-clock-x86-tsc", 13, COUNT.format(96815380353)),
    ("trace-clock-counter", 13, COUNT.format(3)),
    ("trace-clock-uptime", 13, COUNT.format(4392)),   # jiffies
    ("trace-latency-format", 19, "latency-format line: its time is microseconds since the "
     "buffer's start, not the trace clock (echo nolatency-format > trace_options)"),
    ("trace-raw", 13, "raw, hex or bin output has no event names (echo noraw > "
     "trace_options, nohex, nobin)"),
    ("trace-hex", 13, "raw, hex or bin output has no event names (echo noraw > "
     "trace_options, nohex, nobin)"),
    ("trace-nocontext-info", 3, "no task, CPU or time before the event (echo context-info > "
     "trace_options)"),
])
def test_shapes_that_lose_the_time_are_refused_with_what_to_change(
        tmp_path: Path, name: str, line: int, why: str) -> None:
    path = SHAPES / "6.12" / name
    assert ingest(tmp_path, path) == (2, f"tdxray: error: {path}:{line}: {why}\n", [])
