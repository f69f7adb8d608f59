"""Timestamps at the edge of int64 nanoseconds: the last second that fits is read exactly, one
past it is a bad line (file:line, exit 2) in every text reader, never an OverflowError or a
silently wrapped time (the ftrace scanner's int64 arithmetic wrapped 99999999999 s)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from tdxray.cli.main import cli
from tdxray.schema.events import TS_SECONDS_MAX

FTRACE = "       kworker/1-101     [001] d....     {sec}.081913: start_secondary: " \
         "(start_secondary+0x0/0x100)\n"
QEMU = "1234@{sec}.000001:kvm_convert_memory start 0x1000 size 0x1000 private_to_shared\n"
CONSOLE = "[{sec}.000007] tdx: Guest detected\n"
LINES = {"ftrace": FTRACE, "qemu": QEMU, "console": CONSOLE}
FIRST = {"ftrace": FTRACE.format(sec=1), "qemu": QEMU.format(sec=1),
         "console": "[    1.000000] Linux version 6.12.0\n"}
FRACTION_NS = {"ftrace": 81_913_000, "qemu": 1_000, "console": 7_000}
TOO_LARGE = "timestamp past the int64 nanosecond range (at most 9223372036854775807 ns, " \
            "9223372037 s)"


def _ingest(tmp_path: Path, kind: str, sec: int) -> tuple[int, str]:
    source = tmp_path / f"trace.{kind}"
    source.write_text(FIRST[kind] + LINES[kind].format(sec=sec))
    result = CliRunner().invoke(cli, ["ingest", str(source), "-o", str(tmp_path / "store"),
                                      "--trace-id", "edge", "-q", "--format", kind])
    return result.exit_code, result.stderr


@pytest.mark.parametrize("kind", sorted(LINES))
def test_one_second_past_int64_is_a_bad_line(tmp_path: Path, kind: str) -> None:
    code, err = _ingest(tmp_path, kind, TS_SECONDS_MAX + 2)
    assert (code, err.splitlines()[-1]) == (2, f"tdxray: error: {tmp_path / f'trace.{kind}'}:2: "
                                               f"{TOO_LARGE}")
    assert "Traceback" not in err
    assert not (tmp_path / "store" / "edge.parquet").exists()


@pytest.mark.parametrize("kind", sorted(LINES))
def test_the_last_second_that_fits_is_read_exactly(tmp_path: Path, kind: str) -> None:
    code, err = _ingest(tmp_path, kind, TS_SECONDS_MAX)
    assert code == 0, err
    ts = pq.read_table(tmp_path / "store" / "edge.parquet", columns=["ts_ns"])["ts_ns"]
    assert ts.to_pylist()[-1] == TS_SECONDS_MAX * 1_000_000_000 + FRACTION_NS[kind]
