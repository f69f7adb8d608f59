"""Write a trace as a console log or a QEMU trace log (`tdxray export --format console|qemu`).

The console gets every `log` line with a dmesg stamp, and a phase-marker line for a `kexec`
shutdown or boot event that has none (the reader turns those lines back into the events). The
QEMU log gets the conversions (`kvm_convert_memory`) and the events a QEMU log was read from.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator

import pyarrow as pa

from tdxray.export.ftrace import GuestRender, rows
from tdxray.export.loss import what
from tdxray.ingest.console.reader import phase_of
from tdxray.schema.constants import LOG_BOOT_MARKER, LOG_SHUTDOWN_MARKER
from tdxray.schema.td import TraceHeader

MARKER_TEXT = {"shutdown": f"kexec_core: {LOG_SHUTDOWN_MARKER.split(': ', 1)[1]}",
               "boot": f"{LOG_BOOT_MARKER}6.12.0-tdxray (tdxray export) #1 SMP PREEMPT_DYNAMIC"}
QEMU_PID = 4242


def stamp(ts: int) -> str:
    return f"[{ts // 1_000_000_000:5d}.{ts % 1_000_000_000 // 1000:06d}]"


def console_lines(header: TraceHeader, batches: Iterable[pa.RecordBatch],
                  dropped: Counter[str], tp_printk: bool = False) -> Iterator[str]:
    """The console's lines; with `tp_printk`, as a kernel booted with `tp_printk` and
    CONFIG_PRINTK_CALLER prints them: every guest probe event too, each line with its CPU."""
    marked: str | None = None  # phase of the marker line just written
    guest = GuestRender(header, Counter())
    for e in rows(batches):
        ts = e["ts_ns"]
        caller = f"[{'C' + str(e['vcpu']):>6}] " if tp_printk else " "
        if e["kind"] == "log":
            marked = phase_of(e["text"])
            yield f"{stamp(ts)}{caller}{e['text']}\n"
        elif e["kind"] == "kexec" and e["phase"] in MARKER_TEXT:
            if marked != e["phase"]:
                yield f"{stamp(ts)}{caller}{MARKER_TEXT[e['phase']]}\n"
            marked = None
        elif tp_printk and (probes := guest.event(e)) is not None:
            for cpu, event, fields in probes:
                yield f"{stamp(ts)}[{'C' + str(cpu):>6}] {event}: {fields}\n"
        else:
            dropped[what(e)] += 1


def qemu_lines(header: TraceHeader, batches: Iterable[pa.RecordBatch],
               dropped: Counter[str]) -> Iterator[str]:
    for e in rows(batches):
        ts = e["ts_ns"]
        head = f"{QEMU_PID}@{ts // 1_000_000_000}.{ts % 1_000_000_000 // 1000:06d}:"
        if e["kind"] == "convert":
            way = "shared_to_private" if e["to_private"] else "private_to_shared"
            yield f"{head}kvm_convert_memory start 0x{e['gpa']:x} size 0x{e['size']:x} {way}\n"
        elif e["kind"].startswith(("kvm_hc_", "kvm_memory_fault")) and e.get("extra"):
            yield f"{head}{e['kind']} {json.loads(e['extra']).get('fields', '')}\n"
        else:
            dropped[what(e)] += 1
