"""A console that prints the kernel's log twice reads as one kernel (ingest/console/replay.py).

The real recording (tests/realkernel/record_console.py, Debian 6.12 under QEMU, -smp 2,
`earlyprintk=ttyS0,keep console=ttyS0`): the early console prints the log up to the
registration of ttyS0, which prints it again from the banner (get_init_console_seq(),
kernel/printk/printk.c: a CON_PRINTBUFFER console starts at the first record), and from then
on every line comes twice; then a kexec into a second kernel that does the same and powers off.
The same with `earlycon=uart8250,io,0x3f8,115200 keep_bootcon`: the boot console is kept, and
ttyS0 starts at the next record (register_console() clears CON_PRINTBUFFER while a boot console
is registered): no second banner, each line twice from "console [ttyS0] enabled" on. Their 6.1
twins (Debian 6.1, same commands) are cut at the second kernel's banner.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tdxray.cli.main import cli
from tdxray.store.read import open_trace

REAL = Path(__file__).parent / "data" / "real"
KEEP = REAL / "shapes" / "6.12" / "console-earlyprintk-keep.log"
BOOTCON = REAL / "shapes" / "6.12" / "console-earlycon-keep-bootcon.log"
TD = REAL / "qemu" / "td.json"  # -smp 2, no mailbox: QEMU has no TDX
BANNER = "[    0.000000] Linux version 6.12.0-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP"
STOP = "[    3.148083] stop_cpu: (stop_this_cpu+0x4/0xc0)"


def events(tmp_path: Path, source: Path) -> list[dict[str, Any]]:
    store = tmp_path / "store"
    res = CliRunner().invoke(cli, ["ingest", str(source), "-o", str(store), "--td", str(TD),
                                   "--trace-id", "t", "-q", "--replace"])
    assert res.exit_code == 0, res.output
    return [{k: v for k, v in row.items() if v is not None and k not in ("source", "seq")}
            for row in open_trace(store / "t.parquet").read().to_pylist()]


def typed(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(r["kind"], r.get("phase", r.get("action")), r["ts_ns"], r["vcpu"], r["line"])
            for r in rows if r["kind"] != "log"]


def test_a_log_printed_twice_reads_as_one_boot_per_kernel(tmp_path: Path) -> None:
    rows = events(tmp_path, KEEP)
    jump = 10_839_961_000
    assert typed(rows) == [
        ("kexec", "boot", 0, 0, 2),
        ("kexec", "load", 9_639_298_000, 0, 772),
        ("kexec", "shutdown", 10_831_379_000, 0, 780),
        ("cpu", "stopped", 10_838_810_000, 1, 784),
        ("kexec", "jump", jump, 0, 786),
        ("kexec", "boot", jump, 0, 788)]
    logs = [(r["ts_ns"], r["text"]) for r in rows if r["kind"] == "log"]
    assert len(logs) == 775  # each distinct line once, the early code's own lines too
    texts = [t for _, t in logs]
    assert texts.count("Memory KASLR using RDRAND RDTSC...") == 2  # once a kernel: no record
    assert sum(t.startswith("Linux version") for t in texts) == 2
    assert texts.count("printk: legacy console [ttyS0] enabled") == 2
    assert texts.count("tdxray-harness: kexec -l exit 0") == 1
    assert logs[-2:] == [(jump + 4_944_272_000, "ACPI: PM: Preparing to enter system sleep "
                          "state S5"), (jump + 4_945_342_000, "reboot: Power down")]

def test_a_kept_boot_console_doubles_each_line_from_ttys0_on(tmp_path: Path) -> None:
    rows = events(tmp_path, BOOTCON)
    jump = 14_789_201_000
    assert typed(rows) == [
        ("kexec", "boot", 0, 0, 1),
        ("kexec", "load", 12_224_113_000, 0, 660),
        ("kexec", "shutdown", 14_780_005_000, 0, 668),
        ("cpu", "stopped", 14_788_259_000, 1, 672),
        ("kexec", "jump", jump, 0, 674),
        ("kexec", "boot", jump, 0, 676)]
    texts = [r["text"] for r in rows if r["kind"] == "log"]
    assert len(texts) == 775  # 779 distinct lines, 4 of them probe events
    assert texts.count("printk: legacy console [ttyS0] enabled") == 2  # once a kernel
    assert texts[-2:] == ["ACPI: PM: Preparing to enter system sleep state S5",
                          "reboot: Power down"]


@pytest.mark.parametrize("name,lines,logs", [
    # 6.1 replays the log as 6.12 does; its ttyS0 line says "console", not "legacy console"
    ("console-earlyprintk-keep.log", (2, 766, 774, 778, 780, 782), 388),
    ("console-earlycon-keep-bootcon.log", (1, 674, 682, 686, 688, 690), 389)])
def test_the_61_twins_cut_at_the_second_banner(tmp_path: Path, name: str,
                                               lines: tuple[int, ...], logs: int) -> None:
    rows = events(tmp_path, REAL / "shapes" / "6.1" / name)
    assert [(kind, what, line) for kind, what, _, _, line in typed(rows)] == [
        ("kexec", "boot", lines[0]), ("kexec", "load", lines[1]),
        ("kexec", "shutdown", lines[2]), ("cpu", "stopped", lines[3]),
        ("kexec", "jump", lines[4]), ("kexec", "boot", lines[5])]
    assert sum(r["kind"] == "log" for r in rows) == logs


def test_the_copies_keep_each_ap_line_even_when_the_aps_print_the_same(tmp_path: Path) -> None:
    # Three APs stop in one microsecond: three identical lines, each printed by both consoles,
    # in either order; the second console's replay of the banner started the copy.
    kexec = ["[    3.147409] kexec_core: Starting new kernel"] * 2
    log = [BANNER, "[    0.000000] Command line: console=ttyS0", BANNER,
           "[    0.000000] Command line: console=ttyS0", *kexec, *[STOP] * 6]
    (tmp_path / "c.log").write_text("\n".join(log) + "\n")
    rows = events(tmp_path, tmp_path / "c.log")
    assert [(r["kind"], r.get("phase", r.get("action")), r["line"]) for r in rows] == [
        ("log", None, 1), ("kexec", "boot", 1), ("log", None, 2), ("log", None, 5),
        ("kexec", "shutdown", 5), ("cpu", "stopped", 7), ("cpu", "stopped", 9),
        ("cpu", "stopped", 11)]
    assert [r["vcpu"] for r in rows if r["kind"] == "cpu"] == [1, 0, 0]  # -smp 2: AP 1, then 0


def test_the_same_banner_after_a_reboot_is_the_next_boot(tmp_path: Path) -> None:
    # an oops that kdumps (panic_on_oops) prints no panic line: oops_end() calls crash_kexec()
    # first (arch/x86/kernel/dumpstack.c), and the capture kernel is often the same kernel
    for down in ("[    5.000000] reboot: Restarting system",
                 "[    5.000000] kexec_core: Starting new kernel",
                 "[    5.000000] Oops: general protection fault, probably for non-canonical "
                 "address 0xdead000000000100: 0000 [#1] PREEMPT SMP NOPTI"):
        log = [BANNER, "[    0.000000] Command line: console=ttyS0", down, BANNER,
               "[    0.000000] Command line: console=ttyS0"]
        (tmp_path / "c.log").write_text("\n".join(log) + "\n")
        rows = events(tmp_path, tmp_path / "c.log")
        assert [r["line"] for r in rows if r["kind"] == "log"] == [1, 2, 3, 4, 5], down
        assert [r["line"] for r in rows if r.get("phase") == "boot"] == [1, 4], down
