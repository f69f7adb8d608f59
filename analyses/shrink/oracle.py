"""Does a candidate subsequence still show the divergence? Replay it and look (cached)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np

from tdxray.analyses.shrink.ddmin import Budget
from tdxray.analyses.shrink.rows import Candidates
from tdxray.analyses.shrink.trace import Trace
from tdxray.ingest.materialize import trace_file_for
from tdxray.model.divergence import Divergence
from tdxray.model.replay import replay_trace
from tdxray.schema.errors import InputError

Found = frozenset[tuple[str, str]]  # (rule, fingerprint) of each divergence a candidate shows


def replay_lines(trace: Trace, keep: list[int], workdir: Path) -> list[Divergence] | None:
    """The divergences of the candidate written as JSONL and ingested, as `check` would see
    it; None when it is not a valid trace."""
    path = workdir / "candidate.jsonl"
    trace.write(keep, path)
    try:
        ref = trace_file_for(str(path), workdir=workdir, warn=lambda _message: None)[0]
    except InputError:
        return None
    try:
        return replay_trace(ref.path, None).divergences
    finally:
        ref.path.unlink(missing_ok=True)


class Replays:
    """Candidates replayed once each: a digest of the kept indices -> what the replay found,
    shared by every divergence shrunk from one trace."""

    def __init__(self, trace: Trace, candidates: Candidates, workdir: Path) -> None:
        self.trace, self.candidates, self.workdir = trace, candidates, workdir
        self._found: dict[bytes, Found | None] = {}

    def cached(self, keep: np.ndarray) -> tuple[bytes, bool]:
        key = hashlib.blake2b(keep.tobytes(), digest_size=16).digest()
        return key, key in self._found

    def found(self, key: bytes, keep: np.ndarray) -> Found | None:
        if key not in self._found:
            if self.candidates.table is not None:
                divergences = self.candidates.replay(keep)
            else:
                divergences = replay_lines(self.trace, keep.tolist(), self.workdir)
            self._found[key] = None if divergences is None else frozenset(
                (d.rule, d.fingerprint) for d in divergences)
        return self._found[key]


class Oracle:
    """test(keep) is True when replaying those events reveals `rule` with `fingerprint`."""

    def __init__(self, replays: Replays, rule: str, fingerprint: str, max_replays: int,
                 seconds: float) -> None:
        self.replays_of, self.want = replays, (rule, fingerprint)
        self.max_replays, self.deadline = max_replays, time.monotonic() + seconds
        self.replays = 0
        self.best: list[int] | None = None

    def __call__(self, keep: list[int]) -> bool:
        indices = np.asarray(keep, dtype=np.int64)
        key, cached = self.replays_of.cached(indices)
        if not cached:
            if self.replays >= self.max_replays or time.monotonic() > self.deadline:
                raise Budget
            self.replays += 1
        found = self.replays_of.found(key, indices)
        ok = found is not None and self.want in found
        if ok and (self.best is None or len(keep) < len(self.best)):
            self.best = keep
        return ok
