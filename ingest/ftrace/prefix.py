"""The common head of every ftrace line, parsed for a whole chunk at once.

`<comm>-<pid> [<cpu>] <flags> <sec>.<usec>: <event>: <fields>` (FORMATS.md §2). The compiled scan
(ftrace/scan.py) takes apart the canonical shape, and the fields of the hot host events with it;
the rare other lines (a tgid column, a comm holding ": ", a print event's `sym+off/size` or
`sym <addr>`, the function tracer's `func <-parent`, a `<stack trace>`, header and
buffer-marker lines) go through a Python regex. A stack's ` => frame` lines are not events
(the `kernel_stack` event keeps no frames). A line that says events
were lost (ftrace/shapes.py) is a buffer marker, not an event (FORMATS.md §2): it is kept beside
the events, as a loss of the trace (ingest/losses.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from tdxray.ingest.bad_lines import TS_TOO_LARGE
from tdxray.ingest.ftrace.scanned import HOT_NAMES, NAME_MAX, Scan
from tdxray.ingest.ftrace.shapes import lost_count, why_not_event
from tdxray.ingest.text.bytegrid import unique_words
from tdxray.ingest.text.chunks import Lines
from tdxray.schema.events import TS_NS_MAX

SLOW_MAX = 4096  # longer lines that fail the canonical check are bad (no regex on them)

SLOW_RE = re.compile(
    r"\s*(?P<comm>.*?)-(?P<pid>\d+)\s+(?:(?:\(\s*[-\d]+\)\s+)?\[(?P<cpu>\d{1,6})\]\s+"
    r"(?:\S{4,5}\s+)?|(?P<lcpu>\d{1,6})[^\s\d]\S{3,5}\s+)"  # trace-cmd report -l: `0d..1.`
    r"(?P<sec>\d{1,12})\.(?P<frac>\d{6}|\d{9}): "
    r"(?:\(\+\d+\))? *"  # trace-cmd report --ts-diff: `(+871)`, or spaces on the first line
    r"(?:(?P<name>\w{1,64})"
    r"(?:\+0x[0-9a-f]{1,16}/0x[0-9a-f]{1,16})?(?: <[0-9a-f]{8,16}>)?:(?: +|$)|"
    # the function tracer: `func <-parent`, `func` (noprint-parent), with +off/size (sym-offset)
    r"(?=[\w.]+(?:\+0x[0-9a-f]+/0x[0-9a-f]+)?(?: <[0-9a-f]{8,16}>)?(?: <-\S+)?$)|"
    # the stacktrace option's event (trace_stack_print()), its frames on the lines after it
    r"(?P<stack><(?:user )?stack trace>$))")
FUNCTION = "function"  # the function tracer's event (events/ftrace/function)
STACKS = {"<stack trace>": "kernel_stack", "<user stack trace>": "user_stack"}
NOT_EVENT_RE = re.compile(
    r"\s*(?:#.*|CPU \d+ is empty| => \S.*"
    r"|cpus=\d+|version = \d+|CPU \d+ buffer started)?\s*")


@dataclass
class Prefix:
    """The event lines of a chunk, in line order."""

    rows: np.ndarray     # line index within the chunk
    ts_ns: np.ndarray    # int64
    cpu: np.ndarray      # int64
    name_id: np.ndarray  # index into names
    names: list[str]
    fields: np.ndarray   # byte offset where the fields start (== line end if none)
    scanned: Scan        # per row (nothing found on the rows of the per-line path)
    bad: list[tuple[int, str]]  # (line index, why) of lines that are neither events nor headers
    lost: list[tuple[int, int, int | None, str]]  # (line index, CPU or -1, count, marker line)


def parse_prefix(lines: Lines) -> Prefix:
    from tdxray.ingest.ftrace.scan import scan  # numba: only when needed

    line = scan(lines.grid.buf, lines.starts, lines.ends, lines.garbage)
    rows = np.flatnonzero(line.ok)
    found = line.subset(rows)
    names = list(HOT_NAMES)
    name_id = found.name_hot.copy()
    other = np.flatnonzero(name_id < 0)
    if len(other):
        words, index = unique_words(lines.grid.window(found.name_at[other], NAME_MAX),
                                    found.name_len[other])
        ids = [_name_index(names, word.decode("ascii")) for word in words]
        name_id[other] = np.array(ids, np.int64)[index]
    prefix = Prefix(rows, found.ts, found.cpu, name_id, names, found.fields, found, [], [])
    slow: list[tuple[int, int, int, int, int]] = []
    for i in np.flatnonzero(~line.ok).tolist():
        _slow_line(lines, i, names, slow, prefix)
    return _with_slow(prefix, slow) if slow else prefix


def _name_index(names: list[str], name: str) -> int:
    if name not in names:
        names.append(name)
    return names.index(name)


def _with_slow(p: Prefix, slow: list[tuple[int, int, int, int, int]]) -> Prefix:
    """The prefix with the rows the regex accepted put in line order (not decoded in bulk)."""
    extra = np.array(slow, np.int64).reshape(-1, 5)
    rows = np.concatenate([p.rows, extra[:, 0]])
    order = np.argsort(rows, kind="stable")

    def merged(bulk: np.ndarray, more: np.ndarray) -> np.ndarray:
        return np.concatenate([bulk, more.astype(bulk.dtype)])[order]

    return Prefix(rows[order], merged(p.ts_ns, extra[:, 1]), merged(p.cpu, extra[:, 2]),
                  merged(p.name_id, extra[:, 3]), p.names, merged(p.fields, extra[:, 4]),
                  p.scanned.concat(Scan.empty(len(extra))).take(order), p.bad, p.lost)


def _slow_line(lines: Lines, i: int, names: list[str], slow: list[tuple[int, int, int, int, int]],
               prefix: Prefix) -> None:
    bad = prefix.bad
    if lines.garbage[i]:
        bad.append((i, "binary garbage (control bytes or invalid UTF-8)"))
        return
    if lines.ends[i] - lines.starts[i] > SLOW_MAX:
        bad.append((i, "not an ftrace event line (too long)"))
        return
    text = lines.text(i)
    lost = lost_count(text)
    if lost is not None:
        prefix.lost.append((i, lost[0], lost[1], text.strip()))
        return
    if NOT_EVENT_RE.fullmatch(text):
        return
    m = SLOW_RE.match(text)
    if m is None:
        bad.append((i, why_not_event(text)))
        return
    frac = m["frac"]
    ts = int(m["sec"]) * 1_000_000_000 + int(frac) * (1000 if len(frac) == 6 else 1)
    if ts > TS_NS_MAX:
        bad.append((i, TS_TOO_LARGE))
        return
    offset = len(text[:m.end()].encode("utf-8"))
    name = m["name"] or (STACKS[m["stack"]] if m["stack"] else FUNCTION)
    slow.append((i, ts, int(m["cpu"] or m["lcpu"]), _name_index(names, name),
                 min(int(lines.starts[i]) + offset, int(lines.ends[i]))))
