"""Read a console log (dmesg, serial capture) into `log` events, one per line (FORMATS.md §2).

Stamps are optional: `[    1.234567]`, a caller id column `[    T0]` / `[    C1]`, a `<6>`
level. A line without a stamp takes the time of the line before. The two phase-marker lines
are followed by a `kexec` event: `kexec_core: Starting new kernel` (shutdown) and the
`Linux version …` banner (boot).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO

import pyarrow as pa

from tdxray.ingest.columns import ColumnBuilder
from tdxray.ingest.text.chunks import read_chunks, split_lines
from tdxray.ingest.text.source import SourceContext
from tdxray.schema.constants import LOG_BOOT_MARKER, LOG_SHUTDOWN_MARKER

STAMP_RE = re.compile(r"(?:<\d{1,3}>)?\[\s*(?P<sec>\d{1,12})\.(?P<usec>\d{6})\]"
                      r"(?:\[\s*(?P<who>[TC])(?P<id>\d{1,10})\])? ?")
BAD_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f]")  # tab and ESC are fine


def phase_of(text: str) -> str | None:
    if LOG_SHUTDOWN_MARKER in text:
        return "shutdown"
    if text.startswith(LOG_BOOT_MARKER):
        return "boot"
    return None


def read_console(stream: IO[bytes], source: str, ctx: SourceContext) -> Iterator[pa.RecordBatch]:
    ts = 0
    for chunk in read_chunks(stream, source):
        lines = split_lines(chunk)
        builder = ColumnBuilder(source)
        for i in range(len(lines)):
            number = lines.number(i)
            raw = chunk.data[lines.starts[i]:lines.ends[i]]
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                ctx.bad.bad(number, "binary garbage (invalid UTF-8)", chunk.tail)
                continue
            if BAD_CONTROL.search(line):
                ctx.bad.bad(number, "binary garbage (control bytes)", chunk.tail)
                continue
            m = STAMP_RE.match(line)
            vcpu = 0
            if m is not None:
                ts = int(m["sec"]) * 1_000_000_000 + int(m["usec"]) * 1000
                vcpu = int(m["id"]) if m["who"] == "C" else 0
                line = line[m.end():]
            if not line.strip():
                continue
            builder.add("text", line)
            builder.end_row(0, ts, vcpu, "log", number)
            phase = phase_of(line)
            if phase is not None:
                builder.add("phase", phase)
                builder.end_row(0, ts, vcpu, "kexec", number)
        if len(builder):
            yield builder.take()
    ctx.bad.finish()


def looks_like_console(head: bytes) -> bool:
    text = head[:4096].decode("utf-8", "replace")
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    return bool(STAMP_RE.match(first)) or LOG_BOOT_MARKER in text[:2048]

