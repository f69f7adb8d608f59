"""ftrace text readers: the line shapes, host KVM events, guest probes, bad input, robustness."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tdxray.ingest.bad_lines import BadLines
from tdxray.ingest.ftrace.reader import read_ftrace
from tdxray.ingest.kprobe.recipe import PROBES, RECIPE, UNPROBEABLE, kprobe_events_text, symbols
from tdxray.ingest.text.source import SourceContext
from tdxray.ingest.text.sources import ftrace_role
from tdxray.schema.constants import Subfn
from tdxray.schema.errors import InputError
from tdxray.schema.events import EVENT_SCHEMA
from tdxray.schema.losses import Loss
from tdxray.schema.td import Mailbox, TdConfig

REAL = Path(__file__).parent / "data" / "real"
TD = TdConfig(apic_ids=(0, 1), mailbox=Mailbox(1, 0x7FFD6000, 0x7FFD7000))
EXIT = ("vcpu {v} reason {r} rip 0xffffffff81e3c6d4 info1 0x0000000000000000 info2 "
        "0x0000000000000000 intr_info 0x00000000 error_code 0x00000000")


def read(data: bytes | str, skip: bool = False, warnings: list[str] | None = None,
         losses: list[Loss] | None = None) -> list[dict[str, Any]]:
    """The events read; `losses` gets the buffer markers' losses (no seq: the merge numbers)."""
    raw = data.encode() if isinstance(data, str) else data
    sink = warnings if warnings is not None else []
    ctx = SourceContext(TD, BadLines("t.trace", sink.append, skip),
                        [] if losses is None else losses)
    table = pa.Table.from_batches(list(read_ftrace(io.BytesIO(raw), "t.trace", ctx)),
                                  schema=EVENT_SCHEMA)
    return [{k: v for k, v in row.items() if v is not None} for row in table.to_pylist()]


def line(event: str, fields: str, comm: str = "CPU 0/KVM-2301", cpu: int = 2,
         ts: str = "141.000001", flags: str = "d..1. ") -> str:
    return f"{comm:>20} [{cpu:03d}] {flags}  {ts}: {event}: {fields}\n"


def test_tdvmcall_exits_become_tdvmcall_events_with_the_vcpu_of_the_event() -> None:
    reasons = {"CPUID": Subfn.CPUID, "HLT": Subfn.HLT, "IO_INSTRUCTION": Subfn.IO,
               "MSR_READ": Subfn.RDMSR, "MSR_WRITE": Subfn.WRMSR, "EPT_MISCONFIG": Subfn.MMIO}
    text = "".join(line("kvm_exit", EXIT.format(v=1, r=r)) for r in reasons)
    events = read(text)
    assert [(e["kind"], e["subfn"], e["vcpu"], e["status"]) for e in events] == [
        ("tdvmcall", s, 1, 0) for s in reasons.values()]
    assert [e["line"] for e in events] == list(range(1, 7))


def test_other_events_are_kept_with_their_fields() -> None:
    text = (line("kvm_exit", EXIT.format(v=0, r="EPT_VIOLATION"))
            + line("kvm_entry", "vcpu 1, rip 0xffffffff81e3c6d4 [immediate exit]")
            + line("sched_switch", 'prev_comm="a\\b" prev_pid=1 ==> next_comm=b'))
    events = read(text)
    assert [e["kind"] for e in events] == ["kvm_exit", "kvm_entry", "sched_switch"]
    assert json.loads(events[2]["extra"]) == {"fields": 'prev_comm="a\\b" prev_pid=1 ==> '
                                                        "next_comm=b"}
    assert events[1]["vcpu"] == 1


def test_mem_attributes_become_conversions() -> None:
    text = (line("kvm_vm_set_mem_attributes", "0x0000000007de00 -- 0x0000000007fe00 [0x0]")
            + line("kvm_vm_set_mem_attributes", "0000000000000000 -- 0x00000000000010 [0x8]"))
    a, b = read(text)
    assert (a["kind"], a["gpa"], a["size"], a["to_private"]) == ("convert", 0x7DE00000,
                                                                  0x2000000, False)
    assert (b["gpa"], b["size"], b["to_private"]) == (0, 0x10000, True)


@pytest.mark.parametrize("shape", [
    "       CPU 0/KVM-2301    [002] d..1.   141.000001: {e}: {f}",
    "  my-comm with-dashes-77 [002] ....   141.000001: {e}: {f}",
    "       CPU 0/KVM-2301  [002]   141.000001: {e}:    {f}",
    "       CPU 0/KVM-2301  (   2300) [002] d..1. 141.000001: {e}: {f}",
    "       CPU 0/KVM-2301    [002] d..1.   141.000001000: {e}: {f}",
    "very-long-command-name-that-is-long-2301 [002] d..1. 141.000001: {e}: {f}",
])
def test_line_shapes(shape: str) -> None:
    (event,) = read(shape.format(e="kvm_exit", f=EXIT.format(v=0, r="HLT")) + "\n")
    assert (event["kind"], event["ts_ns"], event["subfn"]) == ("tdvmcall", 141_000_001_000,
                                                               Subfn.HLT)


def test_header_and_buffer_marker_lines_are_not_events() -> None:
    text = ("# tracer: nop\n#\nversion = 6\ncpus=4\nCPU 0 is empty\n"
            "##### CPU 2 buffer started ####\n\n"
            + line("kvm_exit", EXIT.format(v=0, r="HLT")))
    (event,) = read(text)
    assert event["line"] == 8


def test_lost_events_lines_are_losses_beside_the_events() -> None:
    """print_trace_line() (kernel/trace/trace.c): `CPU:%d [LOST %lu EVENTS]`, or without a
    count when an iterator was overrun; the header's written minus in-buffer is the overrun.
    FORMATS.md §2: a buffer-marker line becomes no event; the loss is noted beside them."""
    text = ("# entries-in-buffer/entries-written: 2/40   #P:4\nCPU:2 [LOST 3 EVENTS]\n"
            + line("kvm_exit", EXIT.format(v=0, r="HLT"), ts="141.000002")
            + "CPU:1 [LOST EVENTS]\nCPU:3 [7 EVENTS DROPPED]\nCPU:0 [EVENTS DROPPED]\n")
    losses: list[Loss] = []
    events = read(text, losses=losses)
    assert [(e["kind"], e["ts_ns"], e["vcpu"], e["line"]) for e in events] == [
        ("tdvmcall", 141_000_002_000, 0, 3)]
    # the CPU is the marker's, never a vCPU: a host trace's CPU 2 is no vCPU of the TD (T004)
    assert losses == [
        Loss("t.trace", 1, None, 38, None, "# entries-in-buffer/entries-written: 2/40   #P:4"),
        Loss("t.trace", 2, 2, 3, None, "CPU:2 [LOST 3 EVENTS]"),
        Loss("t.trace", 4, 1, None, None, "CPU:1 [LOST EVENTS]"),
        Loss("t.trace", 5, 3, 7, None, "CPU:3 [7 EVENTS DROPPED]"),
        Loss("t.trace", 6, 0, None, None, "CPU:0 [EVENTS DROPPED]")]


def test_timestamps_going_backwards_are_kept_in_line_order() -> None:
    text = (line("kvm_exit", EXIT.format(v=0, r="HLT"), ts="141.000005")
            + line("kvm_exit", EXIT.format(v=0, r="HLT"), ts="141.000001"))
    assert [e["ts_ns"] for e in read(text)] == [141_000_005_000, 141_000_001_000]


@pytest.mark.parametrize("bad", [
    line("kvm_exit", EXIT.format(v=0, r="HLT"))[:150] + "\n",       # cut in a hex number
    line("kvm_exit", EXIT.format(v=0, r="HLT").replace(" info2", "")),  # field missing
    line("kvm_vm_set_mem_attributes", "0x10 -- 0x20"),
    "\x00\x01\x02garbage\xff\xfe\n",
    "just some words\n",
    line("map_gpa", "(tdx_map_gpa+0x0/0x1d0) start=0x1000 enc=1"),
])
def test_a_bad_line_is_an_error_naming_the_line(bad: str) -> None:
    good = line("kvm_exit", EXIT.format(v=0, r="HLT"))
    with pytest.raises(InputError) as info:
        read(good + bad + good)
    assert (info.value.path, info.value.line) == ("t.trace", 2)


def test_skip_bad_lines_counts_and_names_them() -> None:
    good = line("kvm_exit", EXIT.format(v=0, r="HLT"))
    warnings: list[str] = []
    events = read(good + "nonsense\n" + good + "more nonsense\n" + good, skip=True,
                  warnings=warnings)
    assert len(events) == 3
    assert warnings == ["t.trace: skipped 2 bad lines (line 2, 4)"]


def test_a_truncated_last_line_is_a_warning() -> None:
    good = line("kvm_exit", EXIT.format(v=0, r="HLT"))
    warnings: list[str] = []
    assert len(read(good + good[:90], warnings=warnings)) == 1
    assert warnings and "t.trace:2: incomplete last line skipped" in warnings[0]
    assert len(read(good + good.rstrip("\n"))) == 2  # complete, only the newline is missing


def test_guest_probe_lines() -> None:
    events = read((REAL / "guest.trace").read_bytes())
    kinds = [e["kind"] for e in events]
    assert kinds[:5] == ["mailbox_write"] * 3 + ["mailbox_read", "cpu"]
    map_gpa = next(e for e in events if e["kind"] == "map_gpa")
    assert (map_gpa["gpa"], map_gpa["size"], map_gpa["status"]) == (
        0x7DE00000 | TD.shared_bit, 0x2000000, 0)
    cr4 = [(e["old"], e["new"]) for e in events if e["kind"] == "cr4_write"]
    assert cr4 == [(0x3706F0, 0x3706F0), (0x3706F0, 0x3706E0)]
    phases = [e["phase"] for e in events if e["kind"] == "kexec"]
    assert phases == ["load", "begin", "finish", "jump"]
    assert [e["value"] for e in events if e["kind"] == "mailbox_write"][-2:] == [1, 2]


def test_every_probe_line_is_well_formed() -> None:
    text = kprobe_events_text()
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert lines == [probe.line() for probe in RECIPE]
    assert all(line.startswith(("p:tdxray/", "r:tdxray/")) for line in lines)
    printed = {line.split()[1] for line in lines}
    assert printed.isdisjoint(UNPROBEABLE)  # never printed: a distro kernel refuses them
    assert {p.event for p in PROBES} >= {p.event for p in RECIPE}


def test_recipe_covers_the_kexec_path() -> None:
    assert set(symbols()) >= {"tdx_map_gpa", "tdx_accept_memory", "acpi_wakeup_cpu",
                              "acpi_mp_cpu_die", "acpi_mp_stop_this_cpu", "tdx_kexec_begin",
                              "tdx_kexec_finish", "kernel_kexec", "machine_kexec",
                              "__crash_kexec"}


@pytest.mark.parametrize("name,role", [("host.trace", "ftrace-host"),
                                       ("guest.trace", "ftrace-guest")])
def test_role_from_content(name: str, role: str) -> None:
    assert ftrace_role((REAL / name).read_bytes()) == role


def test_real_host_files() -> None:
    losses: list[Loss] = []
    events = read((REAL / "host.trace").read_bytes(), losses=losses)
    assert len(events) == 14
    assert sum(e["kind"] == "tdvmcall" for e in events) == 5
    assert [(x.line, x.cpu, x.lost) for x in losses] == [(24, 2, 3)]
    report = read((REAL / "host-report.txt").read_bytes(), losses=losses)
    assert [e["kind"] for e in report] == ["tdvmcall", "kvm_entry", "tdvmcall"]
    assert [(x.line, x.cpu, x.lost) for x in losses] == [(24, 2, 3), (6, 3, 12)]


def test_many_lines_across_chunks_keep_their_numbers() -> None:
    good = line("kvm_exit", EXIT.format(v=1, r="CPUID"))
    events = read(good * 200_000)
    assert len(events) == 200_000 and events[-1]["line"] == 200_000


VALID = (REAL / "host.trace").read_text() + (REAL / "guest.trace").read_text()


def _clean(data: bytes) -> None:
    try:
        read(data)
    except InputError as exc:
        assert exc.path == "t.trace"


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_give_events_or_a_clean_error(data: bytes) -> None:
    _clean(data)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.data())
def test_mutated_lines_give_events_or_a_clean_error(data: st.DataObject) -> None:
    raw = bytearray(VALID.encode())
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(raw) - 1))
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            raw[at] = data.draw(st.integers(0, 255))
        elif action == "cut":
            del raw[at:at + data.draw(st.integers(1, 30))]
        else:
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=10))
    _clean(bytes(raw))


HOST = "".join([
    line("kvm_exit", EXIT.format(v=1, r="HLT")),
    line("kvm_exit", EXIT.format(v=0, r="EXTERNAL_INTERRUPT") + " requests 0x0000000000000010"),
    line("kvm_entry", "vcpu 1, rip 0xffffffff81e3c6d4"),
    line("kvm_entry", "vcpu 0, rip 0xffffffff81e3c6d4 [immediate exit]"),
    line("kvm_page_fault", "vcpu 1 rip 0xffffffff81e3c6d4 address 0x000000007fe01000 "
                           "error_code 0x183"),
    line("kvm_vm_set_mem_attributes", "0x0000000007de00 -- 0x0000000007fe00 [0x8]"),
    line("sched_switch", "prev_comm=CPU 0/KVM prev_pid=2301 ==> next_comm=swapper/2"),
    line("kvm_msr", "msr_write 1b = 0xfee00900", comm="qemu-system-x86-2290", flags=""),
])


def test_the_canonical_host_lines_are_decoded_in_bulk() -> None:
    from tdxray.ingest.ftrace.bulk import bulk_rows
    from tdxray.ingest.ftrace.prefix import parse_prefix
    from tdxray.ingest.text.chunks import read_chunks, split_lines

    chunk = next(read_chunks(io.BytesIO(HOST.encode()), "t.trace"))
    lines = split_lines(chunk)
    _, done = bulk_rows(lines, parse_prefix(lines), "t.trace", {0: 0, 1: 1})
    assert done.tolist() == [True] * 8


def _per_line(data: bytes, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]] | str:
    """What the reader gives when the compiled scan finds nothing (every line the slow way)."""
    from tdxray.ingest.ftrace import scan as ftrace_scan
    from tdxray.ingest.ftrace.scanned import Scan

    with monkeypatch.context() as m:
        m.setattr(ftrace_scan, "scan", lambda buf, starts, *_: Scan.empty(len(starts)))
        return _events_or_error(data)


def _events_or_error(data: bytes) -> list[dict[str, Any]] | str:
    try:
        return read(data, skip=True)
    except InputError as exc:
        return str(exc)


NEAR = st.sampled_from([*"0123456789abcdefx ABCDEF:,-[]_.\"\\", "vcpu ", " rip 0x"])


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow,
                                                   HealthCheck.function_scoped_fixture],
          deadline=None)
@given(data=st.data())
def test_the_bulk_path_agrees_with_the_per_line_path(monkeypatch: pytest.MonkeyPatch,
                                                     data: st.DataObject) -> None:
    raw = bytearray(HOST.encode())
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(raw) - 1))
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            raw[at] = ord(data.draw(NEAR)[0])
        elif action == "cut":
            del raw[at:at + data.draw(st.integers(1, 12))]
        else:
            raw[at:at] = data.draw(NEAR).encode()
    assert _events_or_error(bytes(raw)) == _per_line(bytes(raw), monkeypatch)


def test_lines_are_split_with_their_odd_bytes_flagged() -> None:
    from tdxray.ingest.text.chunks import read_chunks, split_lines

    text = "plain\r\n\ttab\n\nbell\x07here\ncr\rinside\nü ok\n".encode() + b"\xff bad\nlast\r"
    lines = [split_lines(c) for c in read_chunks(io.BytesIO(text), "t")]
    body, tail = lines
    assert [bytes(body.chunk.data[s:e]) for s, e in zip(body.starts, body.ends, strict=True)] == [
        b"plain", b"\ttab", b"", b"bell\x07here", b"cr\rinside", "ü ok".encode(), b"\xff bad"]
    assert body.garbage.tolist() == [False, False, False, True, True, False, True]
    assert (bytes(tail.chunk.data[tail.starts[0]:tail.ends[0]]), tail.garbage.tolist()) == (
        b"last", [False])


def test_the_first_bad_line_named_is_the_files_first_whichever_pass_finds_it() -> None:
    good = line("kvm_exit", EXIT.format(v=0, r="CPUID"))
    truncated = line("kvm_exit", "vcpu 0 reason CPUID rip 0xffffffff81e3c6d4 info1 0x00")
    garbage = b"\x00\x01\x02\xfe binary \x7f\n"
    data = (good * 2 + truncated + good).encode() + garbage + good.encode()
    with pytest.raises(InputError) as err:
        read(data)
    assert err.value.line == 3  # the truncated event line, not the garbage of line 5
    warnings: list[str] = []
    events = read(data, skip=True, warnings=warnings)
    assert [e["line"] for e in events] == [1, 2, 4, 6]
    assert warnings == ["t.trace: skipped 2 bad lines (line 3, 5)"]
