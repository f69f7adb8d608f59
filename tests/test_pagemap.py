"""The page map against a naive per-page reference: same states, causes, runs and history."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tdxray.model import pagemap
from tdxray.model.pagemap import (
    ACCEPTED,
    NO_SEQ,
    TO_PRIVATE,
    TO_SHARED,
    PageMap,
    PageState,
)

PAGES = 64
PAGE = 0x1000
LIMIT = 2 * PAGES * PAGE  # RAM is the first half; the rest is not RAM
RAM = ((0, PAGES * PAGE),)
CHANGES = {"share": TO_SHARED, "unshare": TO_PRIVATE, "accept": ACCEPTED}

operations = st.lists(
    st.tuples(st.sampled_from(sorted(CHANGES)), st.integers(0, PAGES * 2 - 1),
              st.integers(1, 12)),
    max_size=60,
)


@pytest.fixture(autouse=True, params=[2, 512], ids=["tiny-chunks", "default-chunks"])
def chunk_size(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Tiny chunks make every split, merge and walk cross chunk boundaries."""
    monkeypatch.setattr(pagemap, "CHUNK", request.param)
    return int(request.param)


def reference(ops: list[tuple[str, int, int]], initial: int) -> list[tuple[int, int]]:
    pages = [(initial, NO_SEQ)] * PAGES
    for seq, (name, first, count) in enumerate(ops, start=1):
        for p in range(first, min(first + count, PAGES)):
            state = CHANGES[name][pages[p][0]]
            if state != pages[p][0]:
                pages[p] = (state, seq)
    return pages


def replayed(ops: list[tuple[str, int, int]], initial: PageState) -> PageMap:
    pmap = PageMap(LIMIT, RAM, initial)
    for seq, (name, first, count) in enumerate(ops, start=1):
        start = first * PAGE
        pmap.transition(start, start + count * PAGE, CHANGES[name], seq, seq * 10, 0)
    return pmap


@settings(max_examples=300, deadline=None)
@given(operations, st.sampled_from([PageState.PRIVATE, PageState.UNACCEPTED]))
def test_states_and_causes_match_the_reference(ops: list[tuple[str, int, int]],
                                               initial: PageState) -> None:
    pmap = replayed(ops, initial)
    want = reference(ops, int(initial))
    got = [pmap.state_at(p * PAGE) for p in range(PAGES)]
    assert got == want
    assert pmap.state_at(LIMIT - PAGE)[0] == PageState.NONE
    for state in (PageState.SHARED, PageState.PENDING, PageState.PRIVATE):
        assert pmap.count(state) == sum(1 for s, _ in want if s == state)
        pages = [p for p in range(PAGES) if want[p][0] == state]
        covered = [p for s, e, _ in pmap.runs(state) for p in range(s // PAGE, e // PAGE)]
        assert covered == pages


@settings(max_examples=200, deadline=None)
@given(operations)
def test_history_tiles_each_page_in_time(ops: list[tuple[str, int, int]]) -> None:
    pmap = replayed(ops, PageState.PRIVATE)
    rows = pmap.take_history() + list(pmap.open_intervals())
    for p in range(PAGES):
        gpa = p * PAGE
        spans = sorted((r[3], r[5], r[2]) for r in rows if r[0] <= gpa < r[1])
        # from the start (NO_SEQ) to the end (NO_SEQ), each interval begins where one ended
        assert spans[0][0] == NO_SEQ
        ends = [NO_SEQ] + [to for _, to, _ in spans[:-1]]
        assert [since for since, _, _ in spans] == ends
        assert spans[-1][1] == NO_SEQ
        assert spans[-1][2] == pmap.state_at(gpa)[0]
