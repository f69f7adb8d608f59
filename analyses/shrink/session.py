"""One trace read, ingested and replayed once; then any number of its divergences shrunk."""

from __future__ import annotations

import tempfile
from bisect import bisect_left, bisect_right
from itertools import pairwise
from pathlib import Path
from types import TracebackType

import numpy as np

from tdxray.analyses.diff.timeline import timeline
from tdxray.analyses.shrink.groups import Ranks, ranks_of_events, ranks_of_rows
from tdxray.analyses.shrink.oracle import Replays, replay_lines
from tdxray.analyses.shrink.rows import Candidates
from tdxray.analyses.shrink.trace import TextTrace, Trace
from tdxray.ingest.materialize import Track
from tdxray.model.divergence import Divergence
from tdxray.model.replay import Progress, replay_trace
from tdxray.schema.errors import InputError
from tdxray.schema.td import TraceHeader


class Session:
    """The trace's rows in memory, its divergences (replayed from its Parquet file, as `check`
    sees them) and the replays of candidates tried so far (shared by every divergence)."""

    def __init__(self, trace: Trace, source: Path | None = None, track: Track | None = None,
                 progress: Progress | None = None) -> None:
        """`source`: the JSONL file a TextTrace was read from (ingested as it is); `track`
        sees its batches go by as it is converted, `progress` the replay of the whole trace.
        A StoredTrace (the CLI's: TRACE opened as `check` opens it) is its rows already."""
        self._dir = tempfile.TemporaryDirectory(prefix="tdxray-shrink-")
        work = Path(self._dir.name)
        self.candidates = Candidates(trace, work, source, track)
        table = self.candidates.table
        self.trace: Trace = trace
        self.ranks: Ranks = ranks_of_rows(table) if table is not None else ranks_of_events(
            self._events())
        self.replays = Replays(trace, self.candidates, work)
        seqs = trace.seqs() if table is None else None
        self._seqs = self.candidates.seqs if table is not None else (
            np.array(seqs, dtype=np.int64) if seqs and all(isinstance(s, int) for s in seqs)
            else None)
        if self.candidates.path is not None:
            self.divergences = replay_trace(self.candidates.path, None, progress).divergences
        else:
            self.divergences = replay_lines(trace, list(range(len(trace))), work) or []
        self._phases: list[list[int]] | None = None

    def _events(self) -> list[dict[str, object]]:
        assert isinstance(self.trace, TextTrace)
        return self.trace.events

    def __enter__(self) -> Session:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._dir.cleanup()

    def target(self, rule: str, fingerprint: str | None) -> Divergence:
        """The divergence to reproduce: the rule's first, or the one with `fingerprint`."""
        for d in self.divergences:
            if d.rule == rule and fingerprint in (None, d.fingerprint):
                return d
        what = f"{rule} with fingerprint {fingerprint}" if fingerprint else rule
        raise InputError(f"the trace does not reveal {what}", self.trace_id)

    @property
    def trace_id(self) -> str:
        header = self.trace.header
        return header.trace_id if isinstance(header, TraceHeader) else str(
            header.get("trace_id"))

    def index_of(self, seq: int) -> int | None:
        """The event index of an original seq, or of the last event before it (None: the
        events' seqs are not all numbers)."""
        if self._seqs is None:
            return None
        return max(0, int(np.searchsorted(self._seqs, seq, side="right")) - 1)

    def model_phases(self) -> list[list[int]]:
        """The event indices of each phase of each generation, as the model's state gives them
        (boot, I/O, kexec shutdown, jump: analyses/diff/timeline.py)."""
        if self._phases is None:
            self._phases = []
            if self.candidates.path is not None:
                starts = [p.start_seq for p in timeline(self.candidates.path).phases]
                cuts = np.searchsorted(self.candidates.seqs, starts).tolist()
                bounds = [*cuts, len(self.trace)]
                self._phases = [list(range(a, b)) for a, b in pairwise(bounds)
                                if b > a]
        return self._phases

    def phases_of(self, keep: list[int]) -> list[list[int]]:
        """The kept events of each model phase."""
        out = []
        for unit in self.model_phases():
            lo, hi = bisect_left(keep, unit[0]), bisect_right(keep, unit[-1])
            out.append(keep[lo:hi])
        return out

    def phase_end(self, index: int) -> int:
        """The index after the last event of the model phase holding event `index`."""
        for unit in self.model_phases():
            if unit[0] <= index <= unit[-1]:
                return unit[-1] + 1
        return len(self.trace)
