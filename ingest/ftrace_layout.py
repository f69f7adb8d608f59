"""The fast path of the ftrace line head: most lines of a chunk share one column layout.

tracefs pads `%16s-%-7d [%03d] %s %5lu.%06lu:`, so the lines of one task set put `[`, `]`, the
dot and the colon in the same columns. A layout is read off one sample line with the regex;
every line is then checked against it column by column (numpy slices, no per-line offsets).
Lines of no layout go to the general path (ftrace_prefix).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tdxray.ingest.bytegrid import DIGIT
from tdxray.ingest.text_chunks import Lines

MAX_LAYOUTS = 6
MAX_COLON = 110


@dataclass(frozen=True)
class Layout:
    dash: int    # column of the '-' before the pid
    lb: int      # '['
    q: int       # ']'
    flags: tuple[int, int]  # [start, end) of the flags column (empty if none)
    dot: int
    colon: int   # the ':' after the timestamp

    @classmethod
    def of(cls, text: bytes) -> Layout | None:
        from tdxray.ingest.ftrace_prefix import SLOW_RE  # the one regex of the line head

        try:
            m = SLOW_RE.match(text.decode("ascii"))
        except UnicodeDecodeError:
            return None
        if m is None or m.end("frac") + 1 >= MAX_COLON or "(" in text[:m.start("cpu")].decode():
            return None
        lb, q = m.start("cpu") - 1, m.end("cpu")
        between = text[q + 1:m.start("sec")]
        stripped = between.strip()
        f0 = q + 1 + between.index(stripped) if stripped else q + 1
        return cls(m.end("comm"), lb, q, (f0, f0 + len(stripped)), m.start("frac") - 1,
                   m.end("frac"))


def _digits_value(cols: np.ndarray) -> np.ndarray:
    """Value of right-aligned decimal digits (leading spaces count as zeros)."""
    values = np.where(DIGIT[cols], cols - np.uint8(48), 0).astype(np.int64)
    powers = 10 ** np.arange(cols.shape[1] - 1, -1, -1, dtype=np.int64)
    return values @ powers


def _suffix_digits(cols: np.ndarray) -> np.ndarray:
    """Spaces then at least one digit, nothing else."""
    digit = DIGIT[cols]
    ok = (digit | (cols == 32)).all(axis=1) & digit[:, -1]
    return ok & (digit[:, :-1] <= digit[:, 1:]).all(axis=1)


def match_layout(m: np.ndarray, length: np.ndarray, lay: Layout) -> tuple[np.ndarray, ...]:
    """(ok, ts_ns, cpu) of each row of the head matrix `m` under layout `lay`."""
    c = lay.colon
    ok = (length > c + 1) & (m[:, c] == 58) & (m[:, c + 1] == 32) & (m[:, lay.dot] == 46)
    frac = m[:, lay.dot + 1:c]
    ok &= DIGIT[frac].all(axis=1) & (m[:, lay.q] == 93) & (m[:, lay.lb] == 91)
    ok &= (m[:, lay.dash] == 45) & (lay.dash > 0)
    f0, f1 = lay.flags
    if f1 > f0:
        ok &= (m[:, f0 - 1] == 32) & (m[:, f0:f1] != 32).all(axis=1)
    sec = m[:, f1:lay.dot]
    ok &= _suffix_digits(sec) & (m[:, f1] == 32)
    cpu = m[:, lay.lb + 1:lay.q]
    ok &= DIGIT[cpu].all(axis=1)
    pid = m[:, lay.dash + 1:lay.lb]
    pid_digit = DIGIT[pid]
    ok &= pid_digit[:, 0] & (pid[:, -1] == 32) & ((pid_digit | (pid == 32)).all(axis=1))
    ok &= (pid_digit[:, :-1] >= pid_digit[:, 1:]).all(axis=1)
    scale = 10 ** (9 - frac.shape[1])
    ts = _digits_value(sec) * 1_000_000_000 + _digits_value(frac) * scale
    return ok, ts, _digits_value(cpu)


def layout_rows(lines: Lines, todo: np.ndarray) -> tuple[np.ndarray, ...]:
    """For the lines `todo` (indices): (ok, ts_ns, cpu, name start) by the chunk's layouts."""
    n = len(todo)
    ok = np.zeros(n, bool)
    ts = np.zeros(n, np.int64)
    cpu = np.zeros(n, np.int64)
    name = np.zeros(n, np.int64)
    starts, length = lines.starts[todo], lines.ends[todo] - lines.starts[todo]
    m = lines.grid.window(starts, MAX_COLON + 2)
    tried: set[Layout] = set()
    for _ in range(MAX_LAYOUTS):
        left = np.flatnonzero(~ok & (length > 8))
        if not len(left):
            break
        sample = _sample(lines, todo[left[: 16]])
        lay = next((x for x in sample if x not in tried), None)
        if lay is None:
            break
        tried.add(lay)
        hit, t, c = match_layout(m[left], length[left], lay)
        rows = left[hit]
        ok[rows], ts[rows], cpu[rows] = True, t[hit], c[hit]
        name[rows] = starts[rows] + lay.colon + 2
    return ok, ts, cpu, name


def _sample(lines: Lines, rows: np.ndarray) -> list[Layout]:
    out = []
    for i in rows.tolist():
        text = lines.chunk.data[lines.starts[i]:min(lines.ends[i], lines.starts[i] + 200)]
        lay = Layout.of(text)
        if lay is not None:
            out.append(lay)
    return out

