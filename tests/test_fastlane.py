"""The fast lane against the sequential core: same divergences, same page history, on traces of
conversions where plain events mix with ones whose outcome depends on what came before."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tdxray.model import chunks, fastlane, pagemap
from tdxray.model.outputs import PAGE_HISTORY_FILE
from tdxray.model.replay import replay_trace
from tdxray.tests.support import Events, td_config, write_trace

SHARED = 1 << 47
PAGE = 0x1000
ALREADY_ACCEPTED = 0xC0000B0A00000000


def conversions(seed: int, cycles: int, pages: int) -> Events:
    """Cycles of MapGPA to shared, MapGPA to private and a 4 KiB ACCEPT of each page, over
    random ranges of `pages` pages on two vCPUs; now and then a fault: the MapGPA to private
    left out (the ACCEPTs meet shared pages: G005), a page accepted twice (G004), a RETRY,
    a failed ACCEPT, a 2 MiB ACCEPT."""
    rng = random.Random(seed)
    events: Events = []
    for _ in range(cycles):
        first, count = rng.randrange(pages), rng.choice((1, 1, 2, 4))
        vcpu = rng.randrange(2)
        gpa, size = first * PAGE, count * PAGE
        events.append({"kind": "map_gpa", "gpa": gpa | SHARED, "size": size, "status": 0,
                       "vcpu": vcpu})
        fault = rng.random()
        if fault > 0.02:
            retry = fault < 0.03
            events.append({"kind": "map_gpa", "gpa": gpa, "size": size, "status": int(retry),
                           "vcpu": vcpu, **({"resume_gpa": gpa} if retry else {})})
        for p in range(first, first + count):
            status = ALREADY_ACCEPTED if rng.random() < 0.01 else 0
            events.append({"kind": "accept", "gpa": p * PAGE, "level": 0, "status": status,
                           "vcpu": vcpu})
        if 0.05 < fault < 0.06:
            events.append({"kind": "accept", "gpa": gpa, "level": 0, "status": 0, "vcpu": vcpu})
        if 0.06 < fault < 0.065:
            events.append({"kind": "accept", "gpa": gpa & ~0x1FFFFF, "level": 1, "status": 0,
                           "vcpu": vcpu})
    return events


def _replay(path: Path, out: Path) -> tuple[list, list]:
    result = replay_trace(path, out)
    history = sorted(pq.read_table(out / PAGE_HISTORY_FILE).to_pylist(),
                     key=lambda r: tuple(str(v) for v in r.values()))
    return [d.__dict__ for d in result.divergences], history


# 8 pages: ranges overlap in long chains, which the lane cuts (MAX_ROUNDS) and the core takes
@pytest.mark.parametrize(("seed", "pages", "share"), [(1, 40, 4), (2, 600, 4), (3, 8, 10)])
def test_fast_lane_equals_the_core_event_by_event(tmp_path: Path, seed: int, pages: int,
                                                  share: int,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tdxray.store.write.ROW_GROUP_ROWS", 700)
    monkeypatch.setattr(fastlane, "FIRST_TRY", 128)  # many attempts, cuts and restarts
    events = conversions(seed, 800, pages)
    path = write_trace(tmp_path / "t.parquet", events, td_config(vcpus=2))
    applied: list[int] = []
    run = fastlane.FastLane.run

    def counted(lane: fastlane.FastLane, j: int) -> int:
        applied.append(run(lane, j))
        return applied[-1]

    monkeypatch.setattr(fastlane.FastLane, "run", counted)
    fast = _replay(path, tmp_path / "fast")
    assert sum(applied) > len(events) // share  # the lane took its part of the events
    monkeypatch.setattr(fastlane, "MIN_RUN", 10**9)  # the core takes every event
    slow = _replay(path, tmp_path / "slow")
    assert fast == slow
    monkeypatch.setattr(chunks, "CHUNK", 4)  # the map in many chunks: every change crosses them
    monkeypatch.setattr(pagemap, "SPLICE_COPY", 8)  # and batches leave their neighbours apart
    assert _replay(path, tmp_path / "slow-chunks") == slow
    monkeypatch.setattr(fastlane, "MIN_RUN", 64)
    assert _replay(path, tmp_path / "fast-chunks") == fast
    assert len(fast[0]) > 10 and len(fast[1]) > 1000  # the trace says something
