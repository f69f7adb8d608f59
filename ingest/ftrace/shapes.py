"""What a line that is not a readable ftrace event line is: a buffer marker, or the output of
a trace option or clock that tdxray refuses, named so that the user knows what to change.

The kernel's own shapes (kernel/trace/trace_output.c, trace.c):
- `CPU:%d [LOST %lu EVENTS]` (a consuming read after the ring buffer overwrote events) and
  `CPU:%d [LOST EVENTS]` (an iterator that a writer overran: no count), print_trace_line();
  trace-cmd report says `CPU:%d [%lld EVENTS DROPPED]` or `CPU:%d [EVENTS DROPPED]`;
- `# entries-in-buffer/entries-written: %lu/%lu   #P:%d` (print_event_info()): written minus
  in-buffer is the ring buffer's overrun, events lost before the read;
- a clock that is not in nanoseconds (`counter`, `uptime`, `x86-tsc`: trace_clocks[].in_ns is
  0) prints its raw count, `%12llu`, where a time is `%5lu.%06lu` (trace_print_context());
  `trace-cmd report` glues a count of 12 digits or more to the CPU column: `[001]134382592624:`;
- `latency-format` (and the ftrace_dump of sysrq-z or an oops) prints `%8.8s-%-7d %3d` and a
  relative time `%4lldus%c` (lat_print_generic(), lat_print_timestamp());
- the function_graph tracer prints ` %d) <duration> |  func() {` (print_graph_function()
  in trace_functions_graph.c), the events as `/* name: fields */` comments;
- `raw`, `hex` and `bin` print the binary record's numbers, `nocontext-info` no task, CPU or
  time at all.
"""

from __future__ import annotations

import re

LOST_RE = re.compile(r"\s*CPU:(?P<cpu>\d{1,6}) \[(?:LOST (?:(?P<lost>\d{1,20}) )?EVENTS|"
                     r"(?:(?P<dropped>\d{1,20}) )?EVENTS DROPPED)\]\s*")
ENTRIES_RE = re.compile(r"# entries-in-buffer/entries-written: (?P<kept>\d{1,20})/"
                        r"(?P<written>\d{1,20})\s+#P:\d+\s*")

_TICKS = re.compile(r"\s*.*-\d+\s+(?:\(\s*[-\d]+\)\s+)?\[\d{1,6}\]\s*(?:\S{4,5}\s+)?"
                    r"(?P<ticks>\d{1,20}): \w")
_LATENCY = re.compile(r"\s*.*-\d+\s+\d{1,6}\S{4,6}\s+\d+us.: \w"  # and with verbose:
                      r"|\s*\S+\s+\d+\s+\d+ \d+ [0-9a-f]{8} [0-9a-f]{8} \[[0-9a-f]{8,16}\] "
                      r"\d+\.\d{3}ms")
_RAW = re.compile(r"\s*(?:\d+ \d+ \d+ |[0-9a-f]{8} [0-9a-f]{8} [0-9a-f]{16} )(?:type: \d+|#)")
_GRAPH = re.compile(r"\s*(?:\d{1,6}\)|CPU) .*\|")
_NO_CONTEXT = re.compile(r"\w{1,64}(?:\+0x[0-9a-f]+/0x[0-9a-f]+)?: .*")

SHAPE = "not an ftrace event line (<comm>-<pid> [<cpu>] <sec>.<usec>: <event>: <fields>)"


def why_not_event(text: str) -> str:
    """The message for a line that is neither an event line nor a header or marker."""
    if (m := _TICKS.match(text)) is not None:
        return (f"timestamp {m['ticks']} is a count, not seconds: trace_clock counter, uptime "
                "or x86-tsc (echo global > trace_clock, or trace-cmd record -C global)")
    if _LATENCY.match(text):
        return ("latency-format line: its time is microseconds since the buffer's start, not "
                "the trace clock (echo nolatency-format > trace_options)")
    if _GRAPH.match(text):
        return ("function_graph output has no time per event (echo nop > current_tracer: the "
                "probes' events need no tracer)")
    if _RAW.match(text):
        return ("raw, hex or bin output has no event names (echo noraw > trace_options, "
                "nohex, nobin)")
    if _NO_CONTEXT.fullmatch(text):
        return ("no task, CPU or time before the event (echo context-info > trace_options)")
    return SHAPE


def lost_count(text: str) -> tuple[int, int | None] | None:
    """(CPU or -1 for all, events lost or None when the kernel does not say) of a line that
    says events were lost; None for any other line (a wrap of 0 events included)."""
    if (m := LOST_RE.fullmatch(text)) is not None:
        count = m["lost"] or m["dropped"]
        return int(m["cpu"]), int(count) if count is not None else None
    if (m := ENTRIES_RE.fullmatch(text)) is not None and int(m["written"]) > int(m["kept"]):
        return -1, int(m["written"]) - int(m["kept"])
    return None
