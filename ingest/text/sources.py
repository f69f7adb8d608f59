"""Text sources of one TD (ftrace, QEMU log, console): their formats, detection, coverage.

Each format has a sniffer (the first bytes of the decompressed input) and a reader; the
`observes` list is what a source of that format can see (TDX-KEXEC.md §6). It goes into the
trace's provenance so that replay knows which rules a missing kind really skips.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO

import pyarrow as pa

from tdxray.ingest.kprobe.recipe import PROBES
from tdxray.ingest.text.source import SourceContext

Reader = Callable[[IO[bytes], str, SourceContext], Iterator[pa.RecordBatch]]

HOST_KINDS = ("tdvmcall", "convert", "mem_access")
# Not cr4_write: relocate_kernel's CR4 write cannot be probed (docs/real-guests.md), so a
# guest trace without cr4_write events says nothing about C001.
GUEST_KINDS = ("map_gpa", "accept", "mailbox_write", "mailbox_read", "cpu", "kexec")
CONSOLE_KINDS = ("log", "kexec")
QEMU_KINDS = ("convert",)

# An event line; with a counting trace_clock (`%12llu`) or in the latency format too, so that
# such a trace_pipe is read as ftrace and refused with the line that says what to change; never
# a console line (an ftrace dump on the console has the latency shape after its stamp).
FTRACE_LINE = re.compile(rb"^\s*(?!\[\s*\d+\.\d+\])\S.*-\d+\s+"
                         rb"(?:(?:\(\s*[-\d]+\)\s+)?\[\d+\]\s*(?:\S{4,5}\s+)?"
                         rb"(?:\d+\.\d{6,9}|\d{1,20})|\d{1,6}\S{4,6}\s+(?:\d+us\S|\d+\.\d{6,9})"
                         rb"): (?:\(\+\d+\))? *\w+",
                         re.MULTILINE)
# `trace-cmd report` pads the event name to 20 columns (libtraceevent spaces the names out
# evenly) and prints the probe address as bare hex: `kexec_load:           (ffffffff8112d2a4)`
GUEST_EVENT = re.compile(rb"\d: (?:\(\+\d+\))? *(?:"
                         + b"|".join(p.event.encode() for p in PROBES)
                         + rb"): +(?:\(|__probe_)")  # -R prints the raw fields: __probe_ip=…
HOST_EVENT = re.compile(rb"\d: (?:\(\+\d+\))? *kvm_\w+: ")


@dataclass(frozen=True)
class SourceFormat:
    name: str
    sniff: Callable[[bytes], bool]
    read: Reader
    observes: tuple[str, ...]


# The readers (and the sniffers that live beside them) are imported when a text source is
# read: a JSONL or Parquet ingest never loads them (~0.1 s of imports, regexes included).

def read_ftrace(stream: IO[bytes], source: str, ctx: SourceContext) -> Iterator[pa.RecordBatch]:
    from tdxray.ingest.ftrace.reader import read_ftrace as read

    return read(stream, source, ctx)


def read_qemu(stream: IO[bytes], source: str, ctx: SourceContext) -> Iterator[pa.RecordBatch]:
    from tdxray.ingest.qemu.reader import read_qemu as read

    return read(stream, source, ctx)


def read_console(stream: IO[bytes], source: str, ctx: SourceContext) -> Iterator[pa.RecordBatch]:
    from tdxray.ingest.console.reader import read_console as read

    return read(stream, source, ctx)


def looks_like_qemu(head: bytes) -> bool:
    from tdxray.ingest.qemu.reader import looks_like_qemu as looks

    return looks(head)


def looks_like_console(head: bytes) -> bool:
    from tdxray.ingest.console.reader import looks_like_console as looks

    return looks(head)


def _sniff_ftrace(head: bytes) -> bool:
    return head.lstrip().startswith(b"# tracer:") or FTRACE_LINE.search(head[:8192]) is not None


SOURCE_FORMATS: dict[str, SourceFormat] = {
    "ftrace-host": SourceFormat("ftrace-host", lambda h: _sniff_ftrace(h)
                                and ftrace_role(h) == "ftrace-host", read_ftrace, HOST_KINDS),
    "ftrace-guest": SourceFormat("ftrace-guest", lambda h: _sniff_ftrace(h)
                                 and ftrace_role(h) == "ftrace-guest", read_ftrace, GUEST_KINDS),
    "ftrace": SourceFormat("ftrace", _sniff_ftrace, read_ftrace, HOST_KINDS + GUEST_KINDS),
    "qemu": SourceFormat("qemu", looks_like_qemu, read_qemu, QEMU_KINDS),
    "console": SourceFormat("console", looks_like_console, read_console, CONSOLE_KINDS),
}
NAME_HINTS: tuple[tuple[str, str], ...] = (("dmesg", "console"), ("console", "console"),
                                           ("serial", "console"), ("qemu", "qemu"))


def ftrace_role(head: bytes) -> str:
    """ftrace-host (KVM events), ftrace-guest (tdxray probes) or ftrace (both or neither)."""
    guest = GUEST_EVENT.search(head) is not None
    host = HOST_EVENT.search(head) is not None
    if guest != host:
        return "ftrace-guest" if guest else "ftrace-host"
    return "ftrace"


def detect_source_format(head: bytes, source: str) -> str | None:
    for name, fmt in SOURCE_FORMATS.items():
        if fmt.sniff(head):
            return name
    lowered = source.lower()
    return next((fmt for hint, fmt in NAME_HINTS if hint in lowered), None)
