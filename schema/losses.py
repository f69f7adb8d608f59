"""Events a trace's recorder lost: kept beside the events, in the header, never as events.

ftrace prints buffer-marker lines where its ring buffer lost events (`CPU:N [LOST n EVENTS]`,
`CPU:N [LOST EVENTS]`, trace-cmd's `[n EVENTS DROPPED]`, a `trace` header whose entries-written
exceed entries-in-buffer). FORMATS.md §2: a marker line becomes no event, so the seqs of a trace
with markers are those of the same trace without them. The loss goes into the header's
provenance (`losses`: one record per marker) so that replay's coverage says it.

A text trace's losses are known only once its events are read: the Parquet writer adds them at
close under their own file metadata key (META_LOSSES), and the reader puts them back into the
header's provenance.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from tdxray.schema.td import HeaderError, TraceHeader

LOSSES_KEY = "losses"  # header.provenance["losses"]: [Loss.to_json(), ...]
META_LOSSES = b"tdxray.losses"  # Parquet file metadata: JSON list, written at close


@dataclass(frozen=True)
class Loss:
    """One marker: `lost` events (None: the kernel does not say how many) on `cpu` (None: the
    whole buffer), after the event numbered `after_seq` (None: before the first event)."""

    source: str
    line: int
    cpu: int | None
    lost: int | None
    after_seq: int | None
    marker: str

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, obj: Any) -> Loss:
        if not isinstance(obj, dict):
            raise HeaderError("header.provenance.losses: expected a list of objects")
        try:
            return cls(str(obj["source"]), int(obj["line"]), _opt_int(obj.get("cpu")),
                       _opt_int(obj.get("lost")), _opt_int(obj.get("after_seq")),
                       str(obj.get("marker", "")))
        except (KeyError, TypeError, ValueError) as exc:
            raise HeaderError(f"header.provenance.losses: malformed record {obj!r}") from exc

    def describe(self) -> str:
        count = f"{self.lost}" if self.lost is not None else "an unknown number"
        where = f"on CPU {self.cpu}" if self.cpu is not None else "across the buffer"
        after = f"after seq {self.after_seq}" if self.after_seq is not None else "before any event"
        return f"{count} {where} {after} ({self.source}:{self.line})"


def _opt_int(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(value)
    return value


def losses_of(header: TraceHeader) -> tuple[Loss, ...]:
    raw = header.provenance.get(LOSSES_KEY)
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise HeaderError("header.provenance.losses: expected a list of objects")
    return tuple(Loss.from_json(r) for r in raw)


def with_losses(header: TraceHeader, losses: list[Loss] | tuple[Loss, ...]) -> TraceHeader:
    """The header with `losses` as its provenance's losses (the header itself when none)."""
    if not losses:
        return header
    provenance = {**header.provenance, LOSSES_KEY: [loss.to_json() for loss in losses]}
    return dataclasses.replace(header, provenance=provenance)


def losses_json(losses: list[Loss] | tuple[Loss, ...]) -> bytes:
    return json.dumps([loss.to_json() for loss in losses]).encode()


def parse_losses(raw: bytes) -> tuple[Loss, ...]:
    obj = json.loads(raw)
    if not isinstance(obj, list):
        raise HeaderError("tdxray.losses: expected a list of objects")
    return tuple(Loss.from_json(r) for r in obj)
