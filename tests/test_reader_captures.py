"""Consoles as users capture them, recorded on Debian's 6.12 cloud kernel under QEMU
(tests/realkernel/record_captures.py; fixtures in tests/data/real/captures/6.12/, cut from the
recordings): util-linux `script` around QEMU's stdio (its header and footer, lines ending in
\\r\\r\\n: the kernel's \\r\\n through the pty's ONLCR), the same stream through moreutils `ts`,
tio's log file and its screen under `script`, grabserial's stamps. Each reads to the kernel's
events, on the kernel's printk clock; a 16-vCPU guest's trace and console name vCPUs past 9.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tdxray.cli.main import cli
from tdxray.ingest.text.sources import detect_source_format
from tdxray.store.read import open_trace

CAPTURES = Path(__file__).parent / "data" / "real" / "captures"
TD16 = CAPTURES / "td16.json"  # -smp 16, QEMU's truth: no mailbox
TD2 = Path(__file__).parent / "data" / "real" / "qemu" / "td.json"  # -smp 2


def ingest(tmp_path: Path, path: Path, td: Path) -> list[dict[str, Any]]:
    store = tmp_path / "store"
    res = CliRunner().invoke(cli, ["ingest", str(path), "-o", str(store), "--td", str(td),
                                   "--trace-id", "t", "-q"])
    assert (res.exit_code, res.stderr) == (0, "")
    rows = open_trace(store / "t.parquet").read().to_pylist()
    return [{k: v for k, v in r.items() if v is not None and k not in ("source", "trace_id")}
            for r in rows]


def typed(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """(ts_ns, vcpu, kind, phase or action, line) of each event that is not a log line."""
    return [(r["ts_ns"], r["vcpu"], r["kind"], r.get("phase", r.get("action")), r["line"])
            for r in rows if r["kind"] != "log"]


def wide(shift: int) -> list[tuple[Any, ...]]:
    """The 16-vCPU kexec: boot, load, shutdown, 15 APs stopped (the k-th is vCPU k), the jump
    and the next boot; `shift`: the line of the first kernel line minus 1."""
    stops = (7_603_943, 7_606_965, 7_610_295, 7_610_715, 7_629_660, 7_630_070, 7_630_502,
             7_630_780, 7_633_887, 7_636_660, 7_638_345, 7_646_099, 7_658_386, 7_659_835,
             7_661_505)
    return [(0, 0, "kexec", "boot", 1 + shift),
            (7_265_654_000, 0, "kexec", "load", 21 + shift),
            (7_593_698_000, 0, "kexec", "shutdown", 25 + shift),
            *[(us * 1000, k, "cpu", "stopped", 26 + k + shift) for k, us in enumerate(stops, 1)],
            (7_666_434_000, 0, "kexec", "jump", 42 + shift),
            (7_666_434_000, 0, "kexec", "boot", 43 + shift)]


def test_a_console_captured_with_script(tmp_path: Path) -> None:
    """`script -c 'qemu … -serial stdio'`: the \\r\\r\\n line ends are no control bytes, the
    header and footer are log lines, the 16-vCPU kexec reads to its events."""
    rows = ingest(tmp_path, CAPTURES / "6.12" / "script.log", TD16)
    assert typed(rows) == wide(1)
    assert [(r["line"], r["text"][:25]) for r in rows if r["kind"] == "log"][:2] == [
        (1, "Script started on 2026-12"), (2, "Linux version 6.12.118+de")]
    assert rows[-1] == {"seq": 53, "ts_ns": 13_134_882_000, "vcpu": 0, "kind": "log",
                        "text": 'Script done on 2026-12-07 08:21:23+00:00 '
                                '[COMMAND_EXIT_CODE="0"]', "line": 53}
    assert rows[-2]["text"] == "reboot: Power down"  # the second kernel, its clock continued


def test_moreutils_ts_stamps_before_the_kernels(tmp_path: Path) -> None:
    """`… | ts '%b %d %H:%M:%.S'`: the same stream as script's, each line after the tool's wall
    clock: the same events (one line earlier: no script header), on the printk clock."""
    rows = ingest(tmp_path, CAPTURES / "6.12" / "ts.log", TD16)
    assert typed(rows) == wide(0)
    script = ingest(tmp_path / "s", CAPTURES / "6.12" / "script.log", TD16)
    assert [(r["ts_ns"], r.get("text")) for r in rows] == [
        (r["ts_ns"], r.get("text")) for r in script if r["line"] not in (1, 52, 53)]


TIO = [(0, 0, "kexec", "boot", 1), (8_422_388_000, 0, "kexec", "load", 4),
       (9_228_247_000, 0, "kexec", "shutdown", 8), (9_247_860_000, 1, "cpu", "stopped", 10),
       (9_248_813_000, 0, "kexec", "jump", 11), (9_248_813_000, 0, "kexec", "boot", 12)]


def test_tio_log_and_screen(tmp_path: Path) -> None:
    """`tio -t -l --log-file F` (`[08:23:07.985] ` before each line) and its screen under
    `script` (the stamp in bold, tio's own lines starting with \\r): a 2-vCPU kexec."""
    assert typed(ingest(tmp_path, CAPTURES / "6.12" / "tio.log", TD2)) == TIO
    rows = ingest(tmp_path / "screen", CAPTURES / "6.12" / "tio-screen.log", TD2)
    assert typed(rows) == [(*e[:4], e[4] + 4) for e in TIO]
    assert [r["text"] for r in rows[1:4]] == [
        "\x1b[1m[08:23:03.676] tio v2.5\x1b[0m", "\x1b[1m[08:23:03.676] Press ctrl-t q to "
        "quit\x1b[0m", "\x1b[1m[08:23:03.676] Connected\x1b[0m"]


# The tools' own output for the same two kernel lines (grabserial 2.1.0 -t, -T; tio 2.5's
# iso8601 and 24hour-delta formats; moreutils ts -s and a %Y-%m-%d format), recorded on a pty.
KERNEL = (b"[    8.422388] kexec_load: (machine_kexec_prepare+0x4/0x740) image=0xff475928c1e18800",
          b"[    9.228247] kernel_kexec: (kernel_kexec+0x4/0x90)")


@pytest.mark.parametrize("stamps", [
    (b"[0.000000 0.000000] ", b"[0.000294 0.000294] "),
    (b"[08:25:37.010227 0.000001] ", b"[08:25:37.010557 0.000335] "),
    (b"[2026-12-07T08:24:30.367] ", b"[2026-12-07T08:24:30.869] "),
    (b"[00:00:01.489] ", b"[00:00:00.000] "),
    (b"00:00:01 ", b"00:00:02 "),
    (b"2026-12-07 08:20:57.599245 ", b"2026-12-07 08:20:58.000001 "),
])
def test_capture_tool_stamps(tmp_path: Path, stamps: tuple[bytes, bytes]) -> None:
    path = tmp_path / "console.log"
    path.write_bytes(b"".join(s + k + b"\n" for s, k in zip(stamps, KERNEL, strict=True)))
    assert detect_source_format(path.read_bytes(), "capture") == "console"
    assert typed(ingest(tmp_path, path, TD2)) == [(8_422_388_000, 0, "kexec", "load", 1),
                                                  (9_228_247_000, 0, "kexec", "shutdown", 2)]


def test_a_ts_capture_cut_after_the_boot_is_a_console() -> None:
    tail = (CAPTURES / "6.12" / "ts.log").read_bytes().split(b"\n", 20)[20]
    assert tail.startswith(b"Dec 07 08:21:09.497944 [    7.265654] kexec_load: ")
    assert detect_source_format(tail, "capture") == "console"


@pytest.mark.parametrize("end", [b"\n", b"\r\n", b"\r\r\n"])
def test_a_16_vcpu_trace_with_trace_marker_lines(tmp_path: Path, end: bytes) -> None:
    """The 16-vCPU guest's buffer (`#P:16`): the load ran on CPU 13 (taskset), the two
    trace_marker writes around it are kept as unmodeled events, each on its CPU column's vCPU
    (13, then 1: a guest's CPU column is the vCPU, whatever the event). `cat trace` on a serial
    console ends its lines in \\r\\n, and through `script` in \\r\\r\\n (as script.log's)."""
    path = tmp_path / "trace"
    recorded = (CAPTURES / "6.12" / "trace-16cpu").read_bytes()  # \r\n: serial 1 of QEMU
    path.write_bytes(recorded.replace(b"\r\n", b"\n").replace(b"\n", end))
    rows = ingest(tmp_path, path, TD16)
    assert [(r["ts_ns"], r["vcpu"], r["kind"], r["line"]) for r in rows] == [
        (6_298_774_000, 13, "tracing_mark_write", 13), (7_264_914_000, 13, "kexec", 14),
        (7_518_291_000, 1, "tracing_mark_write", 16)]
    assert [r.get("extra") for r in rows] == [
        '{"fields": "tdxray marker before load"}', None, '{"fields": "tdxray marker after load"}']


def test_picocom_under_script_is_a_console(tmp_path: Path) -> None:
    """picocom 3.1 under `script`, two kernel lines written to its pty: the `script` header and
    picocom's settings come first (the format is found from the stamped lines after them) and
    stay log lines, as do picocom's goodbye and script's footer."""
    path = CAPTURES / "picocom-screen.log"
    assert detect_source_format(path.read_bytes(), "capture") == "console"
    rows = ingest(tmp_path, path, TD2)
    assert typed(rows) == [(8_422_388_000, 0, "kexec", "load", 28),
                           (9_228_247_000, 0, "kexec", "shutdown", 29)]
    assert [(r["line"], r["text"]) for r in rows if r["kind"] == "log"][-4:] == [
        (27, "Terminal ready"), (31, "Terminating..."), (32, "Thanks for using picocom"),
        (34, 'Script done on 2026-12-07 08:31:56+00:00 [COMMAND_EXIT_CODE="0"]')]
    assert len(rows) == 30
