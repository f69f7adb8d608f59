"""The common head of every ftrace line, parsed for a whole chunk at once.

`<comm>-<pid> [<cpu>] <flags> <sec>.<usec>: <event>: <fields>` (FORMATS.md §2). The canonical
shape is checked and taken apart with numpy (ftrace_prefix.canonical); the rare other lines (a
tgid column, a very long comm, header and buffer-marker lines) go through a Python regex.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from tdxray.ingest.bytegrid import DIGIT, SPACE, WORD, Rows, run_length, unique_words
from tdxray.ingest.ftrace_layout import layout_rows
from tdxray.ingest.text_chunks import Lines

NONSPACE = ~SPACE
NAME_MAX = 40
WIDTH = 112  # bytes of each line examined by the bulk path
SLOW_MAX = 4096  # longer lines that fail the canonical check are bad (no regex on them)

SLOW_RE = re.compile(
    r"\s*(?P<comm>.*)-(?P<pid>\d+)\s+(?:\(\s*[-\d]+\)\s+)?\[(?P<cpu>\d{1,6})\]\s+"
    r"(?:\S{4,5}\s+)?(?P<sec>\d{1,12})\.(?P<frac>\d{6}|\d{9}): (?P<name>\w{1,64}):(?: +|$)")
NOT_EVENT_RE = re.compile(
    r"\s*(?:#.*|CPU:?\s*\d+\s*\[(?:LOST \d+ EVENTS|\d+ EVENTS DROPPED)\]|CPU \d+ is empty"
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
    bad: list[tuple[int, str]]  # (line index, why) of lines that are neither events nor headers


def _canonical(lines: Lines, todo: np.ndarray) -> tuple[np.ndarray, ...]:
    """The general bulk path for the lines `todo`: (ok, ts_ns, cpu, name start)."""
    s, e = lines.starts[todo], lines.ends[todo]
    g = Rows(lines.grid, s, WIDTH)
    win = g.m[:, :WIDTH]
    cols = np.arange(WIDTH - 1)
    colsp = (win[:, :-1] == 58) & (win[:, 1:] == 32) & (cols < (e - s - 1)[:, None])
    c1 = s + np.argmax(colsp, axis=1)
    ok = colsp.any(axis=1)
    frac = g.run_back(c1, 10, DIGIT)
    dot = c1 - frac - 1
    ok &= ((frac == 6) | (frac == 9)) & (g.byte(dot) == 46)
    sec = g.run_back(dot, 13, DIGIT)
    start = dot - sec
    ok &= (sec >= 1) & (sec <= 12)
    gap = g.run_back(start, 16, SPACE)
    x = start - gap
    flags = np.where(g.byte(x - 1) == 93, 0, g.run_back(x, 6, NONSPACE))
    ok &= (gap >= 1) & ((flags == 0) | (flags == 4) | (flags == 5))
    gap2 = np.where(flags == 0, 0, g.run_back(x - flags, 8, SPACE))
    ok &= (flags == 0) | (gap2 >= 1)
    q = x - flags - gap2 - 1
    cpu_len = g.run_back(q, 7, DIGIT)
    lb = q - cpu_len - 1
    ok &= (g.byte(q) == 93) & (cpu_len >= 1) & (cpu_len <= 6) & (g.byte(lb) == 91)
    gap3 = g.run_back(lb, 24, SPACE)
    pid = g.run_back(lb - gap3, 11, DIGIT)
    dash = lb - gap3 - pid - 1
    ok &= (gap3 >= 1) & (pid >= 1) & (pid <= 10) & (g.byte(dash) == 45) & (dash > s)
    scale = np.where(frac == 6, 1000, 1).astype(np.int64)
    ts = (g.number(start, sec, 12).astype(np.int64) * 1_000_000_000
          + g.number(dot + 1, frac, 9).astype(np.int64) * scale)
    cpu = g.number(lb + 1, cpu_len, 6).astype(np.int64)
    return ok, ts, cpu, c1 + 2


def _names(lines: Lines, rows: np.ndarray, e0: np.ndarray) -> tuple[np.ndarray, ...]:
    """(ok, name length, fields start) of the event name at e0 of each row."""
    e = lines.ends[rows]
    win = lines.grid.window(e0, NAME_MAX + 1)
    name = run_length(WORD[win])
    colon = win[np.arange(len(rows)), np.minimum(name, NAME_MAX)]
    after = e0 + name
    pad = run_length(lines.grid.window(after + 1, 40) == 32)
    ok = (name >= 1) & (name < NAME_MAX) & (colon == 58) & (after < e)
    ok &= (after + 1 == e) | (pad >= 1)
    return ok, name, np.minimum(after + 1 + pad, e)


def parse_prefix(lines: Lines) -> Prefix:
    todo = np.flatnonzero(~lines.garbage)
    ok, ts, cpu, e0 = layout_rows(lines, todo)
    miss = ~ok
    if miss.any():
        ok2, ts2, cpu2, e02 = _canonical(lines, todo[miss])
        ok[miss], ts[miss], cpu[miss], e0[miss] = ok2, ts2, cpu2, e02
    good, name_len, fields = _names(lines, todo[ok], e0[ok])
    rows = todo[ok][good]
    ts, cpu, e0, name_len, fields = ts[ok][good], cpu[ok][good], e0[ok][good], name_len[good], \
        fields[good]
    names_b, name_id = unique_words(lines.grid.window(e0, NAME_MAX), name_len)
    names = [n.decode("ascii") for n in names_b]
    slow: list[tuple[int, int, int, int, int]] = []
    bad: list[tuple[int, str]] = []
    accepted = np.zeros(len(lines), bool)
    accepted[rows] = True
    for i in np.flatnonzero(~accepted).tolist():
        _slow_line(lines, i, names, slow, bad)
    if not slow:
        return Prefix(rows, ts, cpu, name_id, names, fields, bad)
    extra = np.array(slow, np.int64).reshape(-1, 5)
    all_rows = np.concatenate([rows, extra[:, 0]])
    order = np.argsort(all_rows, kind="stable")
    return Prefix(all_rows[order], np.concatenate([ts, extra[:, 1]])[order],
                  np.concatenate([cpu, extra[:, 2]])[order],
                  np.concatenate([name_id, extra[:, 3]])[order], names,
                  np.concatenate([fields, extra[:, 4]])[order], bad)


def _slow_line(lines: Lines, i: int, names: list[str], slow: list[tuple[int, int, int, int, int]],
               bad: list[tuple[int, str]]) -> None:
    if lines.garbage[i]:
        bad.append((i, "binary garbage (control bytes or invalid UTF-8)"))
        return
    if lines.ends[i] - lines.starts[i] > SLOW_MAX:
        bad.append((i, "not an ftrace event line (too long)"))
        return
    text = lines.text(i)
    if NOT_EVENT_RE.fullmatch(text):
        return
    m = SLOW_RE.match(text)
    if m is None:
        bad.append((i, "not an ftrace event line (<comm>-<pid> [<cpu>] <sec>.<usec>: "
                       "<event>: <fields>)"))
        return
    name = m["name"]
    if name not in names:
        names.append(name)
    frac = m["frac"]
    ts = int(m["sec"]) * 1_000_000_000 + int(frac) * (1000 if len(frac) == 6 else 1)
    offset = len(text[:m.end()].encode("utf-8"))
    slow.append((i, ts, int(m["cpu"]), names.index(name),
                 min(int(lines.starts[i]) + offset, int(lines.ends[i]))))
