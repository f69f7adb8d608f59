"""Read a QEMU trace log (`-trace` with the log backend, FORMATS.md §3).

`<pid>@<sec>.<usec>:<event> <fields>` or `<event> <fields>` (a line without a stamp takes the
time of the line before). `kvm_convert_memory` is a `convert` event; every other event,
`kvm_hc_map_gpa_range` included (the host's view of MapGPA), is kept with its fields in `extra`.
QEMU stamps with the wall clock: give the host's offset with --clock-offset. Each thread takes
its stamp (gettimeofday()) before qemu_log() takes the log's lock (the log backend's generated
trace functions, scripts/tracetool/backend/log.py), so two threads' lines can land a few
microseconds out of time order: a line stamped before the line above takes that line's time,
as on the console. The log's time never goes backwards: T001 is about a vCPU's clock, and a
QEMU log names no vCPU (its events are on vCPU 0).

Without `-trace file=` (or `-D`) the trace goes to QEMU's stderr, between QEMU's own messages
(error_report(): `qemu-system-x86_64: warning: …`, after an ISO 8601 UTC stamp with `-msg
timestamp=on`, `2026-12-07T08:45:06.842874Z `, util/error-report.c): each is a `log` event.
So is each line of `-d cpu_reset` output in the same log (`-D F`): cpu_reset()'s `CPU Reset (CPU
N)` (hw/core/cpu-common.c) and the register dump after it (x86_cpu_dump_state(),
target/i386/cpu-dump.c: `EAX=… EBX=…`, `CS =f000 …`, `GDT=     …`), and each line of `-d
guest_errors`: an access the memory core refused (memory_region_access_valid(),
softmmu/memory.c: `Invalid read at addr 0xFEB00000, size 4, region '(null)', reason: rejected`, a
guest touching unassigned MMIO). Recorded with QEMU 7.2.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO

import pyarrow as pa

from tdxray.ingest.bad_lines import TS_TOO_LARGE
from tdxray.ingest.columns import ColumnBuilder
from tdxray.ingest.text.chunks import read_chunks, split_lines
from tdxray.ingest.text.source import SourceContext
from tdxray.schema.events import TS_NS_MAX

LINE_RE = re.compile(r"(?:(?P<pid>\d{1,10})@(?P<sec>\d{1,12})\.(?P<usec>\d{6}):)?"
                     r"(?P<event>[a-z][a-z0-9_]{0,79})(?: (?P<fields>[^\x00-\x08\x0a-\x1f]*))?")
CONVERT_RE = re.compile(r"start 0x(?P<start>[0-9a-f]{1,16}) size 0x(?P<size>[0-9a-f]{1,16}) "
                        r"(?P<dir>shared_to_private|private_to_shared)")
HEX = r"0x[0-9a-f]{1,16}"
MESSAGE_RE = re.compile(r"(?:(?P<iso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(?P<usec>\d{6})Z )?"
                        r"(?P<text>qemu-(?:system-)?[\w.-]{1,40}: .*)")
DUMP_RE = re.compile(r"CPU Reset \(CPU \d{1,4}\)|[A-Z][A-Z0-9]{1,5} ?=[\w \[\]=:.-]*")
GUEST_ERROR_RE = re.compile(r"Invalid (?:read|write) at addr 0x[0-9A-F]{1,16}, size \d{1,5}, "
                            r"region '[^'\x00-\x1f]{0,200}', reason: (?:rejected|unaligned|"
                            r"invalid size \(min:\d{1,5} max:\d{1,5}\))")
KNOWN: dict[str, re.Pattern[str]] = {
    "kvm_convert_memory": CONVERT_RE,
    "kvm_hc_map_gpa_range": re.compile(rf"gpa {HEX} size {HEX} attributes {HEX} flags {HEX}"),
    "kvm_memory_fault": re.compile(rf"start {HEX} size {HEX} flags {HEX}"),
}


def read_qemu(stream: IO[bytes], source: str, ctx: SourceContext) -> Iterator[pa.RecordBatch]:
    ts = 0
    for chunk in read_chunks(stream, source):
        lines = split_lines(chunk)
        builder = ColumnBuilder(source)
        for i in range(len(lines)):
            number = lines.number(i)
            if lines.garbage[i]:
                ctx.bad.bad(number, "binary garbage (control bytes or invalid UTF-8)", chunk.tail)
                continue
            line = lines.text(i)
            if not line.strip() or line.startswith("#"):
                continue
            if (message := MESSAGE_RE.fullmatch(line)) is not None:
                if message["iso"] is not None:
                    ts = max(ts, _utc_ns(message["iso"], message["usec"]))
                builder.add("text", message["text"])
                builder.end_row(0, ts, 0, "log", number)
                continue
            if _unstamped(line):
                builder.add("text", line)  # no stamp: at the time of the line before
                builder.end_row(0, ts, 0, "log", number)
                continue
            m = LINE_RE.fullmatch(line)
            fields = (m["fields"] or "") if m is not None else ""
            known = KNOWN.get(m["event"]) if m is not None else None
            if m is None or (known is not None and not known.fullmatch(fields)):
                what = "a QEMU trace line" if m is None else f"{m['event']} fields"
                ctx.bad.bad(number, f"not {what} (<pid>@<sec>.<usec>:<event> <fields>)",
                            chunk.tail and i == len(lines) - 1)
                continue
            if m["sec"] is not None:
                stamp = int(m["sec"]) * 1_000_000_000 + int(m["usec"]) * 1000
                if stamp > TS_NS_MAX:
                    ctx.bad.bad(number, TS_TOO_LARGE, chunk.tail and i == len(lines) - 1)
                    continue
                ts = max(ts, stamp)
            if m["event"] == "kvm_convert_memory":
                c = CONVERT_RE.fullmatch(fields)
                assert c is not None
                builder.add("gpa", int(c["start"], 16))
                builder.add("size", int(c["size"], 16))
                builder.add("to_private", c["dir"] == "shared_to_private")
                builder.end_row(0, ts, 0, "convert", number)
            else:
                builder.add("extra", json.dumps({"fields": fields}))
                builder.end_row(0, ts, 0, m["event"], number)
        if len(builder):
            yield builder.take()
    ctx.bad.finish()


def _unstamped(line: str) -> bool:
    """A line of `-d` output (a register dump or a guest error): QEMU writes no stamp."""
    return DUMP_RE.fullmatch(line) is not None or GUEST_ERROR_RE.fullmatch(line) is not None


def _utc_ns(iso: str, usec: str) -> int:
    when = datetime.fromisoformat(iso).replace(tzinfo=UTC)
    return int(when.timestamp()) * 1_000_000_000 + int(usec) * 1000


def looks_like_qemu(head: bytes) -> bool:
    """The first line is a stamped trace line or a known event, or QEMU's own messages or `-d`
    output (a register dump, a guest error) come first (then any trace line after them,
    stamped or not)."""
    text = head[:4096].decode("utf-8", "replace")
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    messages = next((i for i, ln in enumerate(lines) if MESSAGE_RE.fullmatch(ln) is None
                     and not _unstamped(ln)), len(lines))
    if messages == len(lines):
        return bool(lines)
    m = LINE_RE.fullmatch(lines[messages])
    return m is not None and (m["pid"] is not None or m["event"] in KNOWN or messages > 0)
