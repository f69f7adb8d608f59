"""Write a trace as ftrace text, as the host's KVM tracepoints or the guest's tdxray probes
would have recorded it (`tdxray export --format ftrace-host|ftrace-guest`).

Each event goes to the side that can see it (TDX-KEXEC.md §6). Timestamps are written in
nanoseconds (`trace-cmd report -t`). What the side cannot spell is left out and said so in
docs/real-guests.md: the host has no TDVMCALL registers or statuses; the guest probes see a
function's bool result, not the TDX status; kexec shutdown and boot are console lines.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa

from tdxray.export.loss import NEXT_KERNEL, what
from tdxray.ingest.ftrace.kvm import MEM_ATTR_PRIVATE, SUBFN_EXIT
from tdxray.ingest.kprobe.recipe import CPU_ACTION_OF, PHASE_OF
from tdxray.schema.constants import (
    MAILBOX_COMMAND_TEST,
    MAILBOX_COMMAND_WAKEUP,
    PAGE_SHIFT,
    Leaf,
    Subfn,
)
from tdxray.schema.td import TraceHeader

# KVM cannot read a TD's registers: kvm_exit and kvm_page_fault print rip 0x0 (FORMATS.md §2)
RIP = "0x0"
PROBE_OF_PHASE = {phase: event for event, phase in PHASE_OF.items() if phase != "shutdown"}
PROBE_OF_ACTION = {"parked": "play_dead", "stopped": "stop_cpu", "woken": "start_secondary",
                   "online": "start_secondary"}
assert set(CPU_ACTION_OF.values()) <= set(PROBE_OF_ACTION)  # every action has a probe line


def ftrace_line(comm: str, pid: int, cpu: int, ts: int, event: str, fields: str) -> str:
    return (f"{comm:>16}-{pid:<7} [{cpu:03d}] d.... {ts // 1_000_000_000:5d}."
            f"{ts % 1_000_000_000:09d}: {event}: {fields}\n")


def rows(batches: Iterable[pa.RecordBatch]) -> Iterator[dict[str, Any]]:
    for batch in batches:
        yield from batch.to_pylist()


def c_hash_hex(value: int, width: int) -> str:
    """printf("%#0*llx"): no 0x for zero."""
    return "0" * width if value == 0 else f"{value:#0{width}x}"


def host_lines(header: TraceHeader, batches: Iterable[pa.RecordBatch],
               dropped: Counter[str]) -> Iterator[str]:
    apic = header.td.apic_ids
    for e in rows(batches):
        vcpu = e["vcpu"]
        kvm_id = apic[vcpu] if vcpu < len(apic) else vcpu
        comm, pid, ts = f"CPU {vcpu}/KVM", 2000 + vcpu, e["ts_ns"]
        fields = _host_fields(e, kvm_id)
        if fields is None:
            dropped[what(e)] += 1
        else:
            yield ftrace_line(comm, pid, vcpu, ts, *fields)


def _host_fields(e: dict[str, Any], kvm_id: int) -> tuple[str, str] | None:
    kind = e["kind"]
    if kind == "tdvmcall" and e["subfn"] in SUBFN_EXIT:
        # a TD runs on a 6.16+ host: the 6.14+ shape, with the requests tail
        return "kvm_exit", (f"vcpu {kvm_id} reason {SUBFN_EXIT[e['subfn']]} rip {RIP} "
                            f"info1 0x{0:016x} info2 0x{0:016x} intr_info 0x{0:08x} "
                            f"error_code 0x{0:08x} requests 0x{0:016x}")
    if kind == "convert":
        start, end = e["gpa"] >> PAGE_SHIFT, (e["gpa"] + e["size"]) >> PAGE_SHIFT
        attr = MEM_ATTR_PRIVATE if e["to_private"] else 0
        return "kvm_vm_set_mem_attributes", (f"{c_hash_hex(start, 16)} -- "
                                             f"{c_hash_hex(end, 16)} [0x{attr:x}]")
    if kind == "mem_access":
        return "kvm_page_fault", (f"vcpu {kvm_id} rip {RIP} address 0x{e['gpa']:016x} "
                                  f"error_code 0x{0x2 if e['write'] else 0x0:x}")
    if kind.startswith("kvm_") and e.get("extra"):
        return kind, str(json.loads(e["extra"]).get("fields", ""))
    return None


class GuestRender:
    """Per-CPU state the guest probes imply: last CR4 value, the mailbox command in flight."""

    def __init__(self, header: TraceHeader, dropped: Counter[str]) -> None:
        self.td = header.td
        self.dropped = dropped
        self.cr4: dict[int, int] = {}
        self.mailbox: dict[str, int] = {}
        self.pending: tuple[int, int] | None = None  # (command, writer's vCPU)
        self.jumped = False  # a kexec jump seen: the next boot is another kernel's

    def lines(self, batches: Iterable[pa.RecordBatch]) -> Iterator[str]:
        for e in rows(batches):
            lines, name = self.event(e), what(e)
            if lines is None:
                self.dropped[NEXT_KERNEL if self.jumped and name == "kexec boot" else name] += 1
            self.jumped = self.jumped or name == "kexec jump"
            if lines is None:
                continue
            for cpu, event, fields in lines:
                yield ftrace_line(f"kworker/{cpu}", 100 + cpu, cpu, e["ts_ns"], event, fields)

    def event(self, e: dict[str, Any]) -> list[tuple[int, str, str]] | None:
        """The probe lines of `e` (none for one a later line carries), or None: no probe sees
        it."""
        kind, cpu = e["kind"], e["vcpu"]
        if kind == "map_gpa" or (kind == "tdvmcall" and e["subfn"] == Subfn.MAP_GPA):
            gpa, size, resume = ((e["gpa"], e["size"], e["resume_gpa"]) if kind == "map_gpa"
                                 else (e["r12"], e["r13"], e["r11_out"]))
            sizes = f"gpa=0x{gpa or 0:x} size=0x{size or 0:x}"
            return [(cpu, "mapgpa_call", f"(__tdx_hypercall+0x0/0x80) subfn=0x{Subfn.MAP_GPA:x} "
                     f"{sizes}"),
                    (cpu, "mapgpa_call_ret", f"(tdx_map_gpa+0x8e/0x1d0 <- __tdx_hypercall) "
                     f"status=0x{e['status']:x} resume=0x{resume or 0:x} {sizes}")]
        if kind == "accept" or (kind == "tdcall" and e["leaf"] == Leaf.MEM_PAGE_ACCEPT):
            rcx = e["gpa"] | e["level"] if kind == "accept" else e["rcx"]
            return [(cpu, "accept_call", f"(__tdcall+0x0/0x60) fn=0x{Leaf.MEM_PAGE_ACCEPT:x} "
                     f"rcx=0x{rcx or 0:x}"),
                    (cpu, "accept_call_ret", f"(try_accept_one+0x5c/0x120 <- __tdcall) "
                     f"status=0x{e['status']:x} rcx=0x{rcx or 0:x}")]
        if kind == "cr4_write":
            return self._cr4(cpu, e["old"], e["new"], e["site"])
        if kind in ("mailbox_write", "mailbox_read"):
            return self._mailbox(cpu, kind, e["field"], e["value"])
        if kind == "cpu" and e["action"] in PROBE_OF_ACTION:
            return [(cpu, PROBE_OF_ACTION[e["action"]], f"({PROBE_OF_ACTION[e['action']]}"
                     "+0x0/0x100)")]
        if kind == "kexec" and e["phase"] in PROBE_OF_PHASE:
            event = PROBE_OF_PHASE[e["phase"]]
            symbol = {"kexec_load": "machine_kexec_prepare", "kexec_begin": "tdx_kexec_begin",
                      "kexec_finish": "tdx_kexec_finish", "crash_kexec": "__crash_kexec"}
            return [(cpu, event, f"({symbol.get(event, event)}+0x0/0x100)")]
        return None

    def _cr4(self, cpu: int, old: int, new: int, site: str | None) -> list[tuple[int, str, str]]:
        out = []
        if self.cr4.get(cpu) != old:
            out.append((cpu, "cr4", f"(native_write_cr4+0x0/0x20) val=0x{old:x}"))
        self.cr4[cpu] = new
        out.append((cpu, "cr4", f"({site or 'native_write_cr4'}+0x0/0x20) val=0x{new:x}"))
        return out

    def _mailbox(self, cpu: int, kind: str, field: str,
                 value: int) -> list[tuple[int, str, str]] | None:
        if kind == "mailbox_write" and field != "command":
            self.mailbox[field] = value  # carried by the wakeup_cpu line's apicid, start_ip
            return []
        if kind == "mailbox_write" and value in (MAILBOX_COMMAND_WAKEUP, MAILBOX_COMMAND_TEST):
            self.pending = (value, cpu)
            if value == MAILBOX_COMMAND_WAKEUP:
                return [(cpu, "wakeup_cpu", f"(acpi_wakeup_cpu+0x0/0x100) "
                         f"apicid={self.mailbox.get('apic_id', 0)} "
                         f"start_ip=0x{self.mailbox.get('wakeup_vector', 0):x}")]
            apic = self.mailbox.get("apic_id", 0)
            index = self.td.apic_ids.index(apic) if apic in self.td.apic_ids else apic
            return [(cpu, "cpu_die", f"(acpi_mp_cpu_die+0x0/0x100) cpu={index}")]
        if value != 0 or self.pending is None:
            # a read of 0 after the acknowledgement is the wait the _ret line ended; no probe
            # sees a poll of a pending command or another write
            return [] if kind == "mailbox_read" and value == 0 else None
        command, writer = self.pending
        self.pending = None
        if command == MAILBOX_COMMAND_WAKEUP:
            return [(writer, "wakeup_cpu_ret", "(do_boot_cpu+0x1a0/0x400 <- acpi_wakeup_cpu) "
                     "ret=0")]
        return [(writer, "cpu_die_ret", "(native_cpu_die+0x30/0x90 <- acpi_mp_cpu_die)")]


def guest_lines(header: TraceHeader, batches: Iterable[pa.RecordBatch],
                dropped: Counter[str]) -> Iterator[str]:
    return GuestRender(header, dropped).lines(batches)
