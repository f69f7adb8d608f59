"""The console channel: trace events printed by `tp_printk` are model events, and the copies
of the trace buffer's events are kept once. Captures: tests/data/real/qemu (Debian 6.12 under
QEMU, recorded by tests/test_real_kernel.py's harness)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
from click.testing import CliRunner, Result

from tdxray.cli.main import cli
from tdxray.ingest.bad_lines import BadLines
from tdxray.ingest.console.reader import read_console
from tdxray.ingest.kprobe.decode import GuestDecoder
from tdxray.ingest.text.source import SourceContext
from tdxray.schema.events import EVENT_SCHEMA
from tdxray.schema.td import TdConfig
from tdxray.store.read import open_trace

QEMU = Path(__file__).parent / "data" / "real" / "qemu"
TYPED = ("seq", "kind", "phase", "action", "vcpu", "source", "line")


def read(text: str, skip: bool = False, warnings: list[str] | None = None) -> list[dict[str, Any]]:
    ctx = SourceContext(TdConfig(), BadLines("f.log", (warnings or []).append, skip))
    table = pa.Table.from_batches(list(read_console(io.BytesIO(text.encode()), "f.log", ctx)),
                                  schema=EVENT_SCHEMA)
    return [{k: v for k, v in row.items() if v is not None} for row in table.to_pylist()]


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def typed(store: Path, trace_id: str) -> list[tuple[Any, ...]]:
    table = open_trace(store / f"{trace_id}.parquet").read()
    rows = [r for r in table.to_pylist() if r["kind"] != "log"]
    return [tuple(Path(r[k]).name if k == "source" else r[k] for k in TYPED) for r in rows]


def ingest(tmp_path: Path, *files: Path, td: str = "td.json") -> Path:
    store = tmp_path / "store"
    result = run("ingest", *map(str, files), "-o", str(store), "--trace-id", "real",
                 "--td", str(QEMU / td))
    assert result.exit_code == 0, result.output
    return store


def test_a_real_kexec_through_the_console_alone(tmp_path: Path) -> None:
    store = ingest(tmp_path, QEMU / "6.12-kexec" / "console.log")
    assert typed(store, "real") == [
        (2, "kexec", "boot", None, 0, "console.log", 1),
        (381, "kexec", "load", None, 0, "console.log", 380),       # machine_kexec_prepare
        (383, "kexec", "shutdown", None, 0, "console.log", 383),   # kernel_kexec
        (385, "cpu", None, "stopped", 1, "console.log", 385),      # stop_this_cpu: the AP
        (386, "kexec", "jump", None, 0, "console.log", 386),       # machine_kexec
        (388, "kexec", "boot", None, 0, "console.log", 387),       # the next kernel's banner
    ]


def test_console_and_trace_buffer_keep_each_event_once(tmp_path: Path) -> None:
    run_dir = QEMU / "6.12-kexec"
    store = ingest(tmp_path, run_dir / "console.log", run_dir / "trace.log")
    events = typed(store, "real")
    assert [(e[1], e[2] or e[3], e[5]) for e in events] == [
        ("kexec", "boot", "console.log"), ("kexec", "load", "trace.log"),
        ("kexec", "shutdown", "console.log"), ("cpu", "stopped", "console.log"),
        ("kexec", "jump", "console.log"), ("kexec", "boot", "console.log")]
    table = open_trace(store / "real.parquet").read()
    seqs = table.column("seq").to_pylist()
    assert seqs == list(range(1, len(seqs) + 1))
    stamps = table.column("ts_ns").to_pylist()
    assert stamps == sorted(stamps)  # the second kernel's clock continues the first's


def above_info(store: Path) -> tuple[list[tuple[str, int | None]], set[str]]:
    result = run("check", str(store), "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    (trace,) = report["traces"]
    found = [(d["rule"], d["apic_id"]) for d in trace["divergences"] if d["severity"] != "info"]
    return found, {s["rule"] for s in trace["rules_skipped"]}


def test_the_real_kexec_replays_clean_on_a_v1_mailbox_td(tmp_path: Path) -> None:
    run_dir = QEMU / "6.12-kexec"
    store = ingest(tmp_path, run_dir / "console.log", run_dir / "trace.log", td="td-v1.json")
    found, skipped = above_info(store)
    assert found == []  # stop_this_cpu ends in acpi_mp_stop_this_cpu: the AP is parked
    assert {"C001", "C002"} <= skipped  # a guest kprobe never sees a CR4 write
    assert {"K006", "G001", "G002"} <= skipped  # nor a RETRY inside tdx_map_gpa


def test_without_a_mailbox_the_stopped_ap_is_lost_m008(tmp_path: Path) -> None:
    # QEMU has no MADT mailbox: on a TD so configured the AP stays in the old kernel (M008).
    run_dir = QEMU / "6.12-kexec"
    store = ingest(tmp_path, run_dir / "console.log", run_dir / "trace.log")
    assert above_info(store)[0] == [("M008", 1)]


def test_a_real_kdump(tmp_path: Path) -> None:
    run_dir = QEMU / "6.12-kdump"
    store = ingest(tmp_path, run_dir / "console.log", run_dir / "trace.log")
    assert [(e[1], e[2], e[5]) for e in typed(store, "real")] == [
        ("kexec", "boot", "console.log"), ("kexec", "load", "trace.log"),
        ("kexec", "crash", "console.log"), ("kexec", "jump", "console.log"),
        ("kexec", "boot", "console.log")]


def test_kretprobe_and_caller_id_shapes() -> None:
    events = read("[    2.100000] map_gpa: (tdx_map_gpa+0x4/0x1d0) start=0x1000 end=0x3000 enc=0\n"
                  "[    2.100100] map_gpa_ret: (set_memory_decrypted+0x8e/0x1d0 <- tdx_map_gpa)"
                  " ret=0x1\n"
                  "[    3.000000][    C1] stop_cpu: (stop_this_cpu+0x4/0xc0)\n"
                  "[    3.000001][    T1] park_cpu: (acpi_mp_stop_this_cpu+0x4/0x60)\n")
    assert [(e["kind"], e["vcpu"], e["line"]) for e in events] == [
        ("map_gpa", 0, 2), ("cpu", 1, 3), ("cpu", 0, 4)]  # one vCPU configured: T1 is vCPU 0
    map_gpa = events[0]
    assert (map_gpa["gpa"], map_gpa["size"], map_gpa["status"]) == (
        0x1000 | TdConfig().shared_bit, 0x2000, 0)
    assert [e["action"] for e in events[1:]] == ["stopped", "parked"]


def test_kernel_kexec_and_the_marker_line_are_one_shutdown() -> None:
    events = read("[    6.9] kernel_kexec: (kernel_kexec+0x4/0x90)\n"
                  "[    6.9] kexec_core: Starting new kernel\n".replace("6.9]", "6.900000]"))
    assert [(e["kind"], e.get("phase", e.get("text"))) for e in events] == [
        ("kexec", "shutdown"), ("log", "kexec_core: Starting new kernel")]


def test_a_trace_event_line_that_does_not_parse_is_a_bad_line(tmp_path: Path) -> None:
    bad = tmp_path / "console.log"
    bad.write_text("[    0.000000] Linux version 6.12.0\n"
                   "[    2.840714] kexec_load: (machine_kexec_prepare+0x4/0x740) image=zz\n"
                   "[    2.900000] after\n")
    out = tmp_path / "store"
    result = run("ingest", str(bad), "-o", str(out))
    assert result.exit_code == 2
    assert f"{bad}:2: kexec_load: expected arguments image, got image=zz" in result.output
    assert not out.exists() or not list(out.glob("*.parquet"))
    result = run("ingest", str(bad), "-o", str(out), "--skip-bad-lines")
    assert result.exit_code == 0, result.output
    assert "line 2" in result.output or ":2:" in result.output


def test_plain_lines_that_only_look_like_events_stay_log_lines() -> None:
    events = read("[    1.000000] ACPI: PM: (supports S0 S3 S4 S5)\n"
                  "[    1.000001] random: crng init done\n")
    assert [e["kind"] for e in events] == ["log", "log"]


def test_printk_stamps_that_step_back_keep_the_time_of_the_line_before() -> None:
    # Debian 6.12 under QEMU, one boot: the AP's first line, then the early clocksource switch.
    events = read("[    0.896665] .... node  #0, CPUs:      #1\n"
                  "[    0.045491] calibrate_delay_direct() dropping min bogoMips estimate 1\n"
                  "[    0.998006] smp: Brought up 1 node, 2 CPUs\n"
                  "[    6.984436] machine_kexec: (machine_kexec+0x4/0x210) image=0xff1\n"
                  "[    0.000000] Linux version 6.12.118+deb12-cloud-amd64\n"
                  "[    0.052000] tsc: Detected 2445.437 MHz processor\n"
                  "[    0.000698] clocksource: tsc-early: mask: 0xffffffffffffffff\n")
    assert [e["ts_ns"] for e in events] == [
        896665000, 896665000, 998006000, 6984436000, 6984436000, 6984436000,
        6984436000 + 52000000, 6984436000 + 52000000]
    assert [e["kind"] for e in events] == ["log", "log", "log", "kexec", "log", "kexec", "log",
                                           "log"]


def v1_td() -> TdConfig:
    return TdConfig.from_json(json.loads((QEMU / "td-v1.json").read_text()))


def decode(lines: list[tuple[str, str, int]], td: TdConfig) -> list[tuple[str, int, Any]]:
    decoder = GuestDecoder(td)
    out = []
    for ts, (name, fields, cpu) in enumerate(lines):
        out += [(e.kind, e.vcpu, e.values.get("action", e.values.get("field")))
                for e in decoder.decode(name, fields, cpu, ts)]
    return out + [(e.kind, e.vcpu, e.values.get("field")) for e, _, _ in decoder.unfinished()]


def test_a_v1_mailbox_parks_the_stopping_ap_once() -> None:
    # stop_this_cpu() calls smp_ops.stop_this_cpu = acpi_mp_stop_this_cpu (madt_wakeup.c).
    lines = [("stop_cpu", "(stop_this_cpu+0x4/0xc0)", 1),
             ("park_cpu", "(acpi_mp_stop_this_cpu+0x4/0x60)", 1)]
    assert decode(lines, v1_td()) == [("cpu", 1, "parked")]
    assert decode(lines, TdConfig.from_json(json.loads((QEMU / "td.json").read_text()))) == [
        ("cpu", 1, "stopped"), ("cpu", 1, "parked")]


def test_acpi_wakeup_cpu_without_a_mailbox_writes_nothing() -> None:
    # acpi_wakeup_cpu(): `if (!acpi_mp_wake_mailbox_paddr) return -EOPNOTSUPP;` first.
    entry = ("wakeup_cpu", "(acpi_wakeup_cpu+0x4/0x100) apicid=1 start_ip=0x9a000", 0)
    refused = ("wakeup_cpu_ret", "(do_boot_cpu+0x1a0/0x400 <- acpi_wakeup_cpu) ret=-95", 0)
    acked = ("wakeup_cpu_ret", "(do_boot_cpu+0x1a0/0x400 <- acpi_wakeup_cpu) ret=0", 0)
    assert decode([entry, refused], v1_td()) == []
    assert decode([entry, acked], v1_td()) == [
        ("mailbox_write", 0, "apic_id"), ("mailbox_write", 0, "wakeup_vector"),
        ("mailbox_write", 0, "command"), ("mailbox_read", 0, "command")]
    # Never acknowledged: it spins for ever, having written the mailbox.
    assert decode([entry], v1_td()) == [
        ("mailbox_write", 0, "apic_id"), ("mailbox_write", 0, "wakeup_vector"),
        ("mailbox_write", 0, "command")]


def test_dmesg_shapes_caller_ids_wall_clock_and_journal() -> None:
    # printk.c print_caller(): "[%6s]" of "T%u" / "C%u", right after the time (console) or
    # after a space (util-linux dmesg).
    assert [(e["ts_ns"], e["vcpu"], e["text"]) for e in read(
        "[    0.000000][    T0] Linux version 6.12.0\n"
        "[    1.500000] [    C1] rcu: INFO: stall\n") if e["kind"] == "log"] == [
        (0, 0, "Linux version 6.12.0"), (1_500_000_000, 1, "rcu: INFO: stall")]
    # util-linux dmesg -T: strftime "%a %b %e %H:%M:%S %Y".
    wall = read("[Sun Dec  6 17:12:33 2026] Linux version 6.12.0\n"
                "[Sun Dec  6 17:12:34 2026] kexec_core: Starting new kernel\n")
    assert [(e["kind"], e["ts_ns"]) for e in wall] == [
        ("log", 1796577153_000_000_000), ("kexec", 1796577153_000_000_000),
        ("log", 1796577154_000_000_000), ("kexec", 1796577154_000_000_000)]
    # journalctl -k -o short-monotonic: "[    3.148950] host kernel: text".
    journal = read("[    0.000000] td-7 kernel: Linux version 6.12.0\n"
                   "[    3.148950] td-7 kernel: machine_kexec: (machine_kexec+0x4/0x210)"
                   " image=0xffff8d87c1b81800\n")
    assert [(e["kind"], e.get("phase", e.get("text"))) for e in journal] == [
        ("log", "Linux version 6.12.0"), ("kexec", "boot"), ("kexec", "jump")]


def test_firmware_noise_before_the_kernel_is_kept_escaped_never_an_error(tmp_path: Path) -> None:
    # SeaBIOS/OVMF on a serial line: escape sequences and CR/LF before the first kernel line.
    noisy = tmp_path / "serial.log"
    noisy.write_bytes(b"\x1b[2J\x1b[01;01H\x1b[=3h\x1b[2J\x1b[01;01HSeaBIOS (version 1.16.2)\r\n"
                      b"Booting from ROM..\r\n"
                      b"[    0.000000] Linux version 6.12.118+deb12-cloud-amd64\r\n")
    store = tmp_path / "store"
    result = run("ingest", str(noisy), "--format", "console", "-o", str(store))
    assert result.exit_code == 0, result.output
    texts = [r["text"] for r in open_trace(store / "serial.parquet").read().to_pylist()
             if r["kind"] == "log"]
    assert texts[-1] == "Linux version 6.12.118+deb12-cloud-amd64"
    assert texts[0].endswith("SeaBIOS (version 1.16.2)") and texts[1] == "Booting from ROM.."
