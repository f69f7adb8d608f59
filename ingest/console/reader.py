"""Read a console log (dmesg, serial capture) into events, one or more per line.

Stamps are optional: `[    1.234567]`, a caller id column `[    T0]` / `[    C1]`, a `<6>`
level. A line without a stamp takes the time of the line before. Lines are `log` events, but
for two kinds:
- trace events printed by `tp_printk` (`name: (site) args`, the tdxray probes of
  kprobe.recipe) become the model events the ftrace reader makes of them; one that does not
  parse is a bad line. The console line names no CPU: a `[    C1]` caller id gives it, else
  vCPU 0.
- the lines of an ftrace dump (`Dumping ftrace buffer:`) stay `log` lines, with a warning:
  their times cannot be put on the printk clock, and tp_printk printed the same events.
- the two phase-marker lines are followed by a `kexec` event: `kexec_core: Starting new
  kernel` (shutdown) and the `Linux version …` banner (boot).
A serial capture of two kernels restarts the printk clock at the second banner: its times
continue from the last time of the first kernel. Within one kernel the printk stamps of a
real console step back too (an AP's clock before it is synchronised, the early switch of
clocksource): such a line takes the time of the line before, so the console's time never goes
backwards (T001 is about trace events, not about printk).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO

import pyarrow as pa

from tdxray.ingest.bad_lines import TS_TOO_LARGE
from tdxray.ingest.columns import ColumnBuilder
from tdxray.ingest.console.replay import Replay
from tdxray.ingest.console.stamps import (
    CALLER,
    CAPTURE,
    JOURNAL,
    LEVEL,
    MONOTONIC,
    YEARLESS,
    stamp_of,
)
from tdxray.ingest.ftrace.kvm import FieldsError
from tdxray.ingest.ftrace.reader import add_event, unfinished_batches
from tdxray.ingest.kprobe.decode import GuestDecoder
from tdxray.ingest.kprobe.recipe import PROBE_BY_EVENT
from tdxray.ingest.text.chunks import read_chunks, split_lines
from tdxray.ingest.text.source import SourceContext
from tdxray.schema.constants import LOG_BOOT_MARKER, LOG_SHUTDOWN_MARKER
from tdxray.schema.events import TS_NS_MAX

BAD_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f]")  # tab and ESC are fine
TRACE_EVENT = re.compile(r"(?P<name>\w+): (?P<fields>\(.*)")
# ftrace_dump() (sysrq-z, ftrace_dump_on_oops) prints the buffer in the latency format: task,
# CPU glued to the flags, microseconds since the buffer's last reset (kernel/trace/trace.c)
DUMP_EVENT = re.compile(r"\s*\S.*-\d+\s+\d{1,6}\S{5,6}\s+\d+us.: (?P<name>\w+): ")
NO_YEAR = ("journalctl's short time has no year (and no time zone): export with journalctl -k "
           "-o short-monotonic (or short-iso-precise)")
DUMP_KEPT = ("an ftrace dump (sysrq-z, ftrace_dump_on_oops) is kept as log lines: its times "
             "count from the trace buffer's last reset, not the printk clock (boot with "
             "tp_printk: every event is printed at its time)")


def phase_of(text: str) -> str | None:
    if LOG_SHUTDOWN_MARKER in text:
        return "shutdown"
    if text.startswith(LOG_BOOT_MARKER):
        return "boot"
    return None


def read_console(stream: IO[bytes], source: str, ctx: SourceContext) -> Iterator[pa.RecordBatch]:
    ts = base = 0
    guest = GuestDecoder(ctx.td)
    last_phase: str | None = None  # kernel_kexec's probe already said "shutdown"
    journal: bool | None = None  # journalctl's `host kernel: ` after the stamp (first line says)
    aps, last_ap = _Aps(len(ctx.td.apic_ids)), None
    dumped = False  # an ftrace dump's probe events were seen (said once)
    captured = False  # a capture tool's stamp before the kernel's (its first such line says)
    replay = Replay()  # a second console printing the same log (earlyprintk=…,keep)
    for chunk in read_chunks(stream, source):
        lines = split_lines(chunk)
        builder = ColumnBuilder(source)
        for i in range(len(lines)):
            number = lines.number(i)
            raw = chunk.data[lines.starts[i]:lines.ends[i]]
            try:  # through a pty (script) a line ends in \r\r\n; a tool's own line starts with \r
                line = raw.decode("utf-8").strip("\r")
            except UnicodeDecodeError:
                ctx.bad.bad(number, "binary garbage (invalid UTF-8)", chunk.tail)
                continue
            if BAD_CONTROL.search(line):
                ctx.bad.bad(number, "binary garbage (control bytes)", chunk.tail)
                continue
            line, captured = _uncaptured(line, captured)
            if replay.repeated(line):
                continue
            whole = line
            m = stamp_of(line)
            if m is None and YEARLESS.match(line):
                ctx.bad.bad(number, NO_YEAR, chunk.tail)
                continue
            if m is not None and max(ts, base) + m.ns > TS_NS_MAX:
                ctx.bad.bad(number, TS_TOO_LARGE, chunk.tail)
                continue
            cpu: int | None = None  # the CPU a `[    C1]` caller id names
            if m is not None:
                stamp = m.ns
                line = line[m.end:]
                if journal is None:
                    journal = JOURNAL.match(line) is not None
                if journal and (j := JOURNAL.match(line)) is not None:
                    line = line[j.end():]
                if phase_of(line) == "boot" and base + stamp < ts:
                    base = ts  # the next kernel's printk clock starts again
                ts = max(ts, base + stamp)
                cpu = m.cpu
            else:  # printk.time=0: a syslog priority, a caller id, or neither
                if (level := LEVEL.match(line)) is not None:
                    line = line[level.end():]  # console_msg_format=syslog
                if (caller := CALLER.match(line)) is not None:
                    line = line[caller.end():]
                    cpu = int(caller["id"]) if caller["who"] == "C" else None
            vcpu = cpu if cpu is not None else 0
            if phase_of(line) == "boot":
                aps, last_ap = _Aps(len(ctx.td.apic_ids)), None
                replay.boot(whole)
            elif line.startswith(DOWN):
                replay.stopped()
            if not line.strip():
                continue
            if not dumped and "us" in line and _dumped_probe(line):
                dumped = True
                ctx.bad.warn(f"{source}:{number}: {DUMP_KEPT}")
            event = TRACE_EVENT.fullmatch(line.rstrip())
            if event is not None and event["name"] in PROBE_BY_EVENT:
                if event["name"] in AP_EVENTS and cpu is None:
                    vcpu, last_ap = aps.next(event["name"], last_ap)
                try:
                    decoded = guest.decode(event["name"], event["fields"], vcpu, ts, number)
                except FieldsError as exc:
                    ctx.bad.bad(number, str(exc), chunk.tail)
                    continue
                for e in decoded:
                    add_event(builder, e, ts, number)
                    if e.kind == "kexec":
                        last_phase = e.values["phase"]
                        if last_phase != "load":
                            replay.stopped()
                continue
            guest.log(line)
            builder.add("text", line)
            builder.end_row(0, ts, vcpu, "log", number)
            phase = phase_of(line)
            if phase is not None and not (phase == "shutdown" == last_phase):
                last_phase = phase
                if phase != "boot":
                    replay.stopped()
                builder.add("phase", phase)
                builder.end_row(0, ts, vcpu, "kexec", number)
        if len(builder):
            yield builder.take()
    for number, what in guest.unreturned():
        ctx.bad.warn(f"{source}:{number}: {what}")
    yield from unfinished_batches(guest, source)
    ctx.bad.finish()


def _uncaptured(line: str, captured: bool) -> tuple[str, bool]:
    """The line without a capture tool's stamp (ts, tio, grabserial), once a first line has
    shown the tool's stamp before a kernel stamp; before that, the tool's own lines are kept."""
    tool = CAPTURE.match(line)
    if tool is None or (not captured and stamp_of(line[tool.end():]) is None):
        return line, captured
    return line[tool.end():], True


def _dumped_probe(line: str) -> bool:
    dump = DUMP_EVENT.match(line)
    return dump is not None and dump["name"] in PROBE_BY_EVENT


AP_EVENTS = ("stop_cpu", "park_cpu", "play_dead")
# Lines of a kernel going down without kexec (kernel/reboot.c, kernel/panic.c): a banner after
# them is the next kernel's, never a second console's copy
# A kdump from an oops prints no panic line: oops_end() (arch/x86/kernel/dumpstack.c) calls
# crash_kexec() before panic() when kexec_should_crash() (panic_on_oops, an interrupt, init), so
# the die() header `Oops: …` (__die_header()) is the last line before the capture kernel's banner
DOWN = ("reboot: ", "Kernel panic - not syncing", "sysrq: Trigger a crash", "Oops: ")


class _Aps:
    """The console line of an AP's stop names no CPU: the k-th AP to stop in a kernel is taken
    as vCPU k (each AP stops once; the CPU that runs the kexec does not), its park following its
    stop as the same one. A one-vCPU configuration keeps vCPU 0."""

    def __init__(self, vcpus: int) -> None:
        self.vcpus = vcpus
        self.count = 0

    def next(self, name: str, last: tuple[str, int] | None) -> tuple[int, tuple[str, int]]:
        if name == "park_cpu" and last is not None and last[0] == "stop_cpu":
            return last[1], (name, last[1])
        self.count += 1
        vcpu = self.count if self.count < self.vcpus else 0
        return vcpu, (name, vcpu)


def looks_like_console(head: bytes) -> bool:
    """The first line is a kernel line (a stamp, a caller id, journalctl's), or a boot banner
    is near the start, or a terminal tool's lines (a `script` header, picocom's settings) come
    before a line with a printk stamp."""
    text = head[:4096].decode("utf-8", "replace")
    lines = [ln.strip("\r") for ln in text.splitlines() if ln.strip()]
    first = _uncaptured(lines[0], False)[0] if lines else ""
    level = LEVEL.match(first)
    return (stamp_of(first) is not None or YEARLESS.match(first) is not None
            or CALLER.match(first, level.end() if level is not None else 0) is not None
            or LOG_BOOT_MARKER in text[:2048]
            or any(MONOTONIC.match(_uncaptured(ln, False)[0]) for ln in lines[1:64]))
