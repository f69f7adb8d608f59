"""One compiled pass over the lines of a chunk: the ftrace line head, and the hot host events.

The head is `<comm>-<pid> [<cpu>] <flags> <sec>.<usec>: <event>: <fields>` (FORMATS.md §2),
found from the first ": " backwards, so a comm with spaces or dashes is fine. The fields of the
events that make up nearly all of a host trace are decoded by ftrace_fields. A line whose head or
fields do not fit exactly is left to the per-line Python path (a tgid column, exit-reason flags,
older kernels' spellings, header lines, garbage), which accepts the rarer spellings or reports
the error. So this file decides speed, never meaning.
"""

from __future__ import annotations

import numpy as np

from tdxray.ingest.ftrace.byte_steps import (
    DIGIT,
    SPACE,
    WORD,
    decimal,
    lit,
    run,
    run_back,
    spaces_back,
    spells,
    table,
)
from tdxray.ingest.ftrace.fields import (
    REASONS,
    attributes_fields,
    entry_fields,
    exit_fields,
    fault_fields,
    plain_fields,
)
from tdxray.ingest.ftrace.scanned import (
    ATTRIBUTES,
    ENTRY,
    EXIT,
    FAULT,
    HOT_NAMES,
    NAME_MAX,
    Scan,
)
from tdxray.ingest.jit import kernel
from tdxray.schema.events import TS_SECONDS_MAX

_JSON_HEAD = lit('{"fields": "')
_NAMES, _NAME_LENS = table(HOT_NAMES)


@kernel
def _head(buf: np.ndarray, s: int, e: int) -> tuple[bool, int, int, int]:
    """(ok, ts_ns, cpu, name start) of the line [s, e)."""
    c1 = -1
    for p in range(s, e - 1):
        if buf[p] == 58 and buf[p + 1] == 32:
            c1 = p
            break
    if c1 < 0:
        return False, 0, 0, 0
    frac = run_back(buf, c1, s, 10, DIGIT)
    dot = c1 - frac - 1
    if (frac != 6 and frac != 9) or dot < s or buf[dot] != 46:
        return False, 0, 0, 0
    sec = run_back(buf, dot, s, 13, DIGIT)
    if sec < 1 or sec > 12:
        return False, 0, 0, 0
    start = dot - sec
    gap = spaces_back(buf, start, s, 16)
    x = start - gap
    if gap < 1 or x - 1 < s:
        return False, 0, 0, 0
    q = x - 1
    if buf[q] != 93:  # a flags column of 4 or 5 characters, then spaces, then ']'
        flags = 0
        while flags < 6 and x - flags - 1 >= s and buf[x - flags - 1] != 32:
            flags += 1
        gap2 = spaces_back(buf, x - flags, s, 8)
        if (flags != 4 and flags != 5) or gap2 < 1:
            return False, 0, 0, 0
        q = x - flags - gap2 - 1
        if q < s or buf[q] != 93:
            return False, 0, 0, 0
    cpu_len = run_back(buf, q, s, 7, DIGIT)
    lb = q - cpu_len - 1
    if cpu_len < 1 or cpu_len > 6 or lb < s or buf[lb] != 91:
        return False, 0, 0, 0
    gap3 = spaces_back(buf, lb, s, 24)
    pid = run_back(buf, lb - gap3, s, 11, DIGIT)
    dash = lb - gap3 - pid - 1
    if gap3 < 1 or pid < 1 or pid > 10 or dash <= s or buf[dash] != 45:
        return False, 0, 0, 0
    seconds = decimal(buf, start, sec)
    if seconds > TS_SECONDS_MAX:  # past int64 nanoseconds: the line-by-line path names it
        return False, 0, 0, 0
    scale = 1000 if frac == 6 else 1
    ts = seconds * 1_000_000_000 + decimal(buf, dot + 1, frac) * scale
    return True, ts, decimal(buf, lb + 1, cpu_len), c1 + 2


@kernel
def _name(buf: np.ndarray, at: int, e: int) -> tuple[int, int, int]:
    """(name length or 0, fields start, hot name index or -1) of the event name at `at`."""
    n = run(buf, at, e, NAME_MAX, WORD)
    after = at + n
    if n < 1 or n >= NAME_MAX or after >= e or buf[after] != 58:
        return 0, 0, -1
    pad = run(buf, after + 1, e, e, SPACE)
    if after + 1 != e and pad < 1:
        return 0, 0, -1
    hot = -1
    for k in range(len(_NAME_LENS)):
        if _NAME_LENS[k] == n and spells(buf, at, e, _NAMES[k, :n]):
            hot = k
    return n, after + 1 + pad, hot


def scan(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, skip: np.ndarray) -> Scan:
    """What the scan finds on each line (nothing on the lines in `skip`)."""
    out = Scan.empty(len(starts))
    _scan(buf, starts, ends, skip, *REASONS, *out.columns())
    return out


@kernel
def _scan(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, skip: np.ndarray,
          reasons: np.ndarray, reason_lens: np.ndarray, subfns: np.ndarray,
          ok: np.ndarray, ts: np.ndarray, cpu: np.ndarray, name_at: np.ndarray,
          name_len: np.ndarray, fields: np.ndarray, name_hot: np.ndarray, hot: np.ndarray,
          plain: np.ndarray, vcpu: np.ndarray, subfn: np.ndarray, gpa: np.ndarray,
          size: np.ndarray, write: np.ndarray, to_private: np.ndarray) -> None:
    """Fills the Scan columns (in Scan's field order)."""
    for i in range(len(starts)):
        if skip[i]:
            continue
        s, e = starts[i], ends[i]
        good, ts[i], cpu[i], at = _head(buf, s, e)
        if not good:
            continue
        length, f, which = _name(buf, at, e)
        if length == 0:
            continue
        ok[i], name_at[i], name_len[i], fields[i], name_hot[i] = True, at, length, f, which
        if which == EXIT - 1:
            decoded, vcpu[i], subfn[i] = exit_fields(buf, f, e, reasons, reason_lens, subfns)
            hot[i] = EXIT if decoded else 0
        elif which == ENTRY - 1:
            decoded, vcpu[i] = entry_fields(buf, f, e)
            hot[i] = ENTRY if decoded else 0
        elif which == FAULT - 1:
            decoded, vcpu[i], gpa[i], write[i] = fault_fields(buf, f, e)
            hot[i] = FAULT if decoded else 0
        elif which == ATTRIBUTES - 1:
            decoded, gpa[i], size[i], to_private[i] = attributes_fields(buf, f, e)
            hot[i] = ATTRIBUTES if decoded else 0
        else:
            plain[i] = plain_fields(buf, f, e)


@kernel
def json_fields(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int32 offsets, bytes) of `{"fields": "<text>"}` for each byte range where `keep` (an
    empty string elsewhere), as an Arrow string array's buffers. The ranges hold no quote,
    backslash or control byte (the scan decoded them)."""
    head = _JSON_HEAD
    n = len(starts)
    offsets = np.empty(n + 1, np.int32)
    offsets[0] = 0
    total = 0
    for i in range(n):
        if keep[i]:
            total += max(ends[i] - starts[i], 0) + len(head) + 2
        offsets[i + 1] = total
    out = np.empty(total, np.uint8)
    p = 0
    for i in range(n):  # byte loops, not slice assignments: they compile ten times faster
        if not keep[i]:
            continue
        for k in range(len(head)):
            out[p + k] = head[k]
        p += len(head)
        for q in range(starts[i], ends[i]):
            out[p] = buf[q]
            p += 1
        out[p] = 34  # "
        out[p + 1] = 125  # }
        p += 2
    return offsets, out
