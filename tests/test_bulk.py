"""The bulk T001/T004 checks: a batch whose time only goes forward takes a shortcut (only the
carries from earlier batches can step back); it must find exactly what the grouped path finds."""

from __future__ import annotations

from unittest import mock

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tdxray.model import bulk
from tdxray.model.bulk import BulkChecks

# batches of (ts step, vcpu); a negative step makes time go back
events = st.lists(st.tuples(st.integers(-3, 5), st.integers(0, 4)), min_size=1, max_size=40)
batches = st.lists(st.tuples(events, st.booleans(), st.integers(-4, 2)), min_size=1, max_size=5)


Plan = list[tuple[list[tuple[int, int]], bool, int]]  # events, time only forward, gap after


def _run(plan: Plan, grouped: bool) -> tuple[list, dict]:
    checks = BulkChecks(vcpus=4)
    seq, ts = 1, 1000
    boots = np.array([30], dtype=np.uint64)  # a second clock segment from seq 30
    for rows, forward, gap in plan:
        steps = [abs(d) if forward else d for d, _ in rows]
        t = ts + np.cumsum(steps)
        s = np.arange(seq, seq + len(rows), dtype=np.uint64)
        v = np.array([c for _, c in rows], dtype=np.uint32)
        seq, ts = seq + len(rows), int(t[-1]) + gap  # the next batch may start back in time
        with mock.patch.object(bulk, "_vcpus_present",
                               (lambda vcpu: None) if grouped else bulk._vcpus_present):
            checks.run(s, t.astype(np.int64), v, boots, np.array([], dtype=np.uint64), None)
    return [d.__dict__ for d in checks.found], checks.last


@settings(max_examples=200, deadline=None)
@given(batches)
def test_the_forward_shortcut_finds_what_the_grouped_path_finds(plan: Plan) -> None:
    assert _run(plan, grouped=False) == _run(plan, grouped=True)


def test_a_carry_that_steps_back_is_found_in_a_forward_batch() -> None:
    found, _ = _run([([(1, 0), (1, 1)], True, -50), ([(1, 1), (1, 0)], True, 0)], grouped=False)
    assert [(d["rule"], d["seq"], d["vcpu"], d["cause_seqs"]) for d in found] == [
        ("T001", 3, 1, [2]), ("T001", 4, 0, [1])]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 60), min_size=1, max_size=50),
       st.lists(st.integers(0, 70), max_size=8))
def test_segments_of_ordered_seqs_match_a_search_per_seq(seqs: list[int],
                                                         boundaries: list[int]) -> None:
    seq = np.array(sorted(seqs), dtype=np.uint64)
    bounds = np.array(sorted(boundaries), dtype=np.uint64)
    want = np.searchsorted(bounds, seq, side="right") if len(bounds) else np.zeros(len(seq))
    assert bulk._segment(bounds, seq).tolist() == want.tolist()
