"""A trace as the shrinker handles it: the header and the events, in seq order. A TextTrace
holds every event as a JSON object; a FileTrace leaves them in the file and reads again only
the lines of the events kept (a long trace's events live as Arrow rows: shrink/rows.py); a
StoredTrace is TRACE as `check` opens it, held as its rows (shrink/stored.py: the CLI's)."""

from __future__ import annotations

import json
import re
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tdxray.analyses.shrink.stored import StoredTrace
from tdxray.schema.errors import InputError

COUNT_LINES = 10_000
SEQ = re.compile(rb'"seq"\s*:\s*(\d+)')
Count = Callable[[int], None]


def _lines(header: dict[str, object], events: Iterator[dict[str, object]]) -> list[str]:
    """The JSONL lines: the header, then the events with seq renumbered 1..n, ts kept."""
    out = [json.dumps(header)]
    for seq, event in enumerate(events, start=1):
        out.append(json.dumps({**event, "seq": seq}))
    return out


@dataclass(frozen=True)
class TextTrace:
    header: dict[str, object]
    events: list[dict[str, object]]

    def __len__(self) -> int:
        return len(self.events)

    def seqs(self) -> list[object]:
        return [e.get("seq") for e in self.events]

    def lines(self, keep: list[int]) -> list[str]:
        """The JSONL lines of the events at indices `keep`: seq renumbered 1..n, ts kept."""
        return _lines(self.header, (self.events[i] for i in keep))

    def write(self, keep: list[int], path: Path) -> None:
        path.write_text("\n".join(self.lines(keep)) + "\n")


@dataclass(frozen=True)
class FileTrace:
    """A JSONL trace left in its file: event i is the i-th non-blank line after the header,
    starting at byte offsets[i]."""

    path: Path
    header: dict[str, object]
    offsets: array[int]

    def __len__(self) -> int:
        return len(self.offsets)

    def _event_lines(self) -> Iterator[bytes]:
        with self.path.open("rb") as handle:
            lines = (line for line in handle if line.strip())
            next(lines, None)  # the header
            yield from lines

    def seqs(self) -> list[object]:
        """Each event line's seq as written (None where it is not a plain number)."""
        return [int(m.group(1)) if (m := SEQ.search(line)) else None
                for line in self._event_lines()]

    def lines(self, keep: list[int]) -> list[str]:
        with self.path.open("rb") as handle:
            def event(i: int) -> dict[str, object]:
                handle.seek(self.offsets[i])
                value: dict[str, object] = json.loads(handle.readline())
                return value

            return _lines(self.header, (event(i) for i in keep))

    def write(self, keep: list[int], path: Path) -> None:
        path.write_text("\n".join(self.lines(keep)) + "\n")

    def load(self) -> TextTrace:
        return read_text_trace(self.path)


Trace = TextTrace | FileTrace | StoredTrace


def open_text_trace(path: Path, count: Count | None = None) -> FileTrace:
    """The header of a JSONL trace and how many event lines follow it (not parsed: ingest
    reads them, read_text_trace when they do not map 1:1 to its rows)."""
    try:
        handle = path.open("rb")
    except OSError as err:
        raise InputError(err.strerror or "cannot read", str(path)) from None
    header, offsets, at = None, array("q"), 0
    with handle:
        for number, line in enumerate(handle, start=1):
            start, at = at, at + len(line)
            if not line.strip():
                continue
            if header is None:
                header = _header(path, number, line)
                continue
            offsets.append(start)
            if count is not None and len(offsets) % COUNT_LINES == 0:
                count(COUNT_LINES)
    if header is None:
        raise InputError("empty trace", str(path))
    if count is not None:
        count(len(offsets) % COUNT_LINES)
    return FileTrace(path, header, offsets)


def _header(path: Path, number: int, line: bytes) -> dict[str, object]:
    try:
        value = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"line {number}: not JSON ({getattr(err, 'msg', err)})",
                         str(path)) from None
    if not isinstance(value, dict) or "tdxray" not in value:
        raise InputError(f"line {number}: no trace header (a 'tdxray' key)", str(path))
    return value


def read_text_trace(path: Path, count: Callable[[int], None] | None = None) -> TextTrace:
    """Read a JSONL trace (FORMATS.md §1); any line that is not a JSON object is an InputError.
    `count` hears of the events read, COUNT_LINES at a time."""
    header: dict[str, object] | None = None
    events: list[dict[str, object]] = []
    try:
        handle = path.open()
    except OSError as err:
        raise InputError(err.strerror or "cannot read", str(path)) from None
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as err:
                raise InputError(f"line {number}: not JSON ({err.msg})", str(path)) from None
            if not isinstance(value, dict):
                raise InputError(f"line {number}: not a JSON object", str(path))
            if header is None:
                if "tdxray" not in value:
                    raise InputError("line 1: no trace header (a 'tdxray' key)", str(path))
                header = value
            else:
                events.append(value)
                if count is not None and len(events) % COUNT_LINES == 0:
                    count(COUNT_LINES)
    if header is None:
        raise InputError("empty trace", str(path))
    if count is not None:
        count(len(events) % COUNT_LINES)
    events.sort(key=lambda e: e.get("seq", 0) if isinstance(e.get("seq"), int) else 0)
    return TextTrace(header, events)
