"""A trace as the shrinker handles it: the header and the events, in seq order. A TextTrace
holds every event of a JSONL file as a JSON object (the API's, for small traces); a
StoredTrace is TRACE as `check` opens it, held as its Arrow rows (shrink/stored.py: the CLI's
and the benchmark's)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tdxray.analyses.shrink.stored import StoredTrace
from tdxray.schema.errors import InputError

COUNT_LINES = 10_000


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


Trace = TextTrace | StoredTrace


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
