"""The page map against a naive per-page reference: same states, causes, runs and history."""

from __future__ import annotations

from unittest import mock

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tdxray.model import chunks as map_chunks
from tdxray.model import pagemap
from tdxray.model.pagemap import (
    ACCEPTED,
    NO_SEQ,
    TO_PRIVATE,
    TO_SHARED,
    PageMap,
    PageState,
)
from tdxray.tests import chunked_pagemap

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
    rows = pmap.take_history().tolist() + pmap.open_intervals().tolist()
    for p in range(PAGES):
        gpa = p * PAGE
        spans = sorted((r[3], r[5], r[2]) for r in rows if r[0] <= gpa < r[1])
        # from the start (NO_SEQ) to the end (NO_SEQ), each interval begins where one ended
        assert spans[0][0] == NO_SEQ
        ends = [NO_SEQ] + [to for _, to, _ in spans[:-1]]
        assert [since for since, _, _ in spans] == ends
        assert spans[-1][1] == NO_SEQ
        assert spans[-1][2] == pmap.state_at(gpa)[0]


disjoint_changes = st.lists(
    st.tuples(st.sampled_from(sorted(CHANGES)), st.integers(1, 6), st.integers(0, 3)),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(operations, disjoint_changes, st.sampled_from([PageState.PRIVATE, PageState.UNACCEPTED]),
       st.sampled_from([3, 512]), st.sampled_from([0, 4096]))
def test_one_apply_of_disjoint_changes_equals_them_one_by_one(
        ops: list[tuple[str, int, int]], changes: list[tuple[str, int, int]],
        initial: PageState, chunk: int, splice: int) -> None:
    """The batch path (`apply`) against transitions in seq order: same map, same history."""
    with mock.patch.object(map_chunks, "CHUNK", chunk), \
            mock.patch.object(pagemap, "SPLICE_COPY", splice):
        _compare_batch_with_one_by_one(ops, changes, initial)


def _compare_batch_with_one_by_one(ops: list[tuple[str, int, int]],
                                   changes: list[tuple[str, int, int]],
                                   initial: PageState) -> None:
    one_by_one, batched = replayed(ops, initial), replayed(ops, initial)
    lo, hi, change, seqs = [], [], [], []
    first = 0
    for k, (name, count, gap) in enumerate(changes):
        start = (first + gap) * PAGE
        if start >= LIMIT:
            break
        seq = 1000 + k
        one_by_one.transition(start, start + count * PAGE, CHANGES[name], seq, seq * 10, 1)
        lo.append(start)
        hi.append(start + count * PAGE)
        change.append(sorted(CHANGES).index(name))
        seqs.append(seq)
        first += gap + count
    index = {name: pagemap_index for pagemap_index, name in enumerate(("share", "unshare",
                                                                       "accept"))}
    kinds = np.array([index[sorted(CHANGES)[c]] for c in change], dtype=np.int64)
    s = np.array(seqs, dtype=np.int64)
    batched.apply(np.array(lo, dtype=np.int64), np.array(hi, dtype=np.int64), kinds, s, s * 10,
                  np.ones(len(s), dtype=np.int64))
    assert batched.starts.tolist() == one_by_one.starts.tolist()
    assert batched.attrs.tolist() == one_by_one.attrs.tolist()
    assert sorted(batched.take_history().tolist()) == sorted(one_by_one.take_history().tolist())


mixed = st.lists(
    st.tuples(st.sampled_from([*sorted(CHANGES), "accept_pending"]), st.integers(0, PAGES * 2),
              st.integers(1, 12)),
    max_size=60,
)


def _pieces(pmap: PageMap | chunked_pagemap.PageMap) -> list[tuple[int, int, int, int]]:
    return list(pmap.pieces(0, LIMIT))


@settings(max_examples=300, deadline=None)
@given(mixed, st.sampled_from([PageState.PRIVATE, PageState.UNACCEPTED]),
       st.sampled_from([2, 3, 4, 512]), st.sampled_from([0, 3, 4096]))
def test_array_map_matches_the_chunked_map_it_replaced(ops: list[tuple[str, int, int]],
                                                       initial: PageState, chunk: int,
                                                       splice: int) -> None:
    """Same pieces, same answers, same history rows as the chunked-list map of before, with
    the array map's chunks tiny (every change crosses chunk bounds) or as shipped, and a
    batch's untouched neighbours kept in chunks of their own or copied."""
    with mock.patch.object(map_chunks, "CHUNK", chunk), \
            mock.patch.object(pagemap, "SPLICE_COPY", splice):
        _compare_with_the_chunked_map(ops, initial)


def _compare_with_the_chunked_map(ops: list[tuple[str, int, int]], initial: PageState) -> None:
    arrays = PageMap(LIMIT, RAM, initial)
    chunks = chunked_pagemap.PageMap(LIMIT, RAM, initial)
    for seq, (name, first, count) in enumerate(ops, start=1):
        start, end = first * PAGE, (first + count) * PAGE
        if name == "accept_pending":
            got = arrays.accept_pending(start, end, seq, seq * 10, 2)
            assert got == chunks.accept_pending(start, end, seq, seq * 10, 2)
        else:
            got = arrays.transition(start, end, CHANGES[name], seq, seq * 10, 1)
            assert got == chunks.transition(start, end, CHANGES[name], seq, seq * 10, 1)
    assert _pieces(arrays) == _pieces(chunks)
    _assert_chunks_well_formed(arrays)
    _assert_pending_whole_matches_the_flat_map(arrays)
    for p in range(0, 2 * PAGES, 3):  # lookups and clipped walks that start mid-map
        assert arrays.state_at(p * PAGE) == chunks.state_at(p * PAGE)
        span = (p * PAGE + PAGE // 2, (p + 7) * PAGE)
        assert list(arrays.pieces(*span)) == list(chunks.pieces(*span))
    for state in PageState:
        assert list(arrays.runs(state)) == list(chunks.runs(state))
        assert arrays.count(state) == chunks.count(state)
    assert sorted(arrays.take_history().tolist()) == sorted(map(list, chunks.take_history()))
    assert arrays.open_intervals().tolist() == list(map(list, chunks.open_intervals()))


def _assert_pending_whole_matches_the_flat_map(pmap: PageMap) -> None:
    """ACCEPT's batch test, chunk by chunk, against the same test over the flat arrays."""
    lo = np.array([p * PAGE for p in range(2 * PAGES)][::-1], dtype=np.int64)  # unsorted too
    for pages in (1, 3):
        hi = lo + pages * PAGE
        i = np.searchsorted(pmap.starts, lo, side="right") - 1
        ends = np.append(pmap.starts, LIMIT)[i + 1]
        state = pmap.attrs[i, 0]
        want = (hi <= ends) & ((state == PageState.PENDING) | (state == PageState.UNACCEPTED))
        assert pmap.pending_whole(lo, hi).tolist() == want.tolist()


def _assert_chunks_well_formed(pmap: PageMap) -> None:
    """Every chunk non-empty, its first start recorded, starts increasing across chunks and
    no two neighbours (across chunk bounds too) with equal attributes."""
    c = pmap.chunks
    assert all(len(s) for s in c.starts)
    assert c.firsts == [int(s[0]) for s in c.starts]
    assert [len(s) for s in c.starts] == [len(a) for a in c.attrs]
    starts, attrs = pmap.starts, pmap.attrs
    assert starts[0] == 0 and (np.diff(starts) > 0).all()
    assert (attrs[1:] != attrs[:-1]).any(axis=1).all()


@settings(max_examples=100, deadline=None)
@given(operations, operations)
def test_restore_undoes_every_change_since_the_snapshot(before: list[tuple[str, int, int]],
                                                        after: list[tuple[str, int, int]]) -> None:
    """The fast lane's roll-back: a snapshot, more changes, restore: the map and its history
    as they were at the snapshot (tiny chunks, so the changes rewrite many)."""
    with mock.patch.object(map_chunks, "CHUNK", 2), mock.patch.object(pagemap, "SPLICE_COPY", 0):
        pmap = replayed(before, PageState.PRIVATE)
        pieces, history = _pieces(pmap), [h.tolist() for h in pmap.history]
        saved = pmap.snapshot()
        for seq, (name, first, count) in enumerate(after, start=500):
            pmap.transition(first * PAGE, (first + count) * PAGE, CHANGES[name], seq, seq, 3)
        pmap.restore(saved)
        assert _pieces(pmap) == pieces
        assert [h.tolist() for h in pmap.history] == history
        _assert_chunks_well_formed(pmap)


def _whole_pieces_apply(pmap: PageMap, picks: list[bool], change: int, seq: int,
                        same_seq: bool) -> np.ndarray:
    """apply over some of the map's pieces, each change one whole piece."""
    starts = pmap.starts
    ends = np.append(starts[1:], pmap.limit)
    chosen = np.flatnonzero(np.array(picks[:len(starts)] + [False] * (len(starts) - len(picks)),
                                     dtype=bool))
    lo, hi = starts[chosen], ends[chosen]
    seqs = np.full(len(lo), seq) if same_seq else seq + np.arange(len(lo))
    return pmap.apply(lo, hi, np.full(len(lo), change), seqs, seqs * 10,
                      np.ones(len(lo), dtype=np.int64))


@settings(max_examples=200, deadline=None)
@given(operations, st.lists(st.booleans(), max_size=80), st.integers(0, 2), st.booleans(),
       st.sampled_from([0, 4096]))
def test_changes_of_whole_pieces_equal_the_general_apply(
        ops: list[tuple[str, int, int]], picks: list[bool], change: int, same_seq: bool,
        splice: int) -> None:
    """apply's case of changes that are each one whole piece (no cut; its pieces merge with
    none, else it leaves them to the general way: one seq for every change makes neighbours
    equal) against the general way: same pieces, same history rows in the same order."""
    with mock.patch.object(pagemap, "SPLICE_COPY", splice):
        fast, general = replayed(ops, PageState.PRIVATE), replayed(ops, PageState.PRIVATE)
        fast.take_history()
        general.take_history()
        moved = _whole_pieces_apply(fast, picks, change, 5000, same_seq)
        with mock.patch.object(PageMap, "_apply_to_pieces", lambda self, *a: None):
            expected = _whole_pieces_apply(general, picks, change, 5000, same_seq)
    assert moved.tolist() == expected.tolist()
    assert fast.starts.tolist() == general.starts.tolist()
    assert fast.attrs.tolist() == general.attrs.tolist()
    assert fast.take_history().tolist() == general.take_history().tolist()


def test_whole_pieces_that_would_merge_take_the_general_way() -> None:
    pmap = PageMap(LIMIT, RAM, PageState.PRIVATE)
    for page in range(8):  # pieces of one page: each shared by an event of its own
        pmap.transition(page * PAGE, (page + 1) * PAGE, TO_SHARED, 10 + page, 100, 1)
    pmap.take_history()
    lo = np.arange(0, 8, dtype=np.int64) * PAGE
    unshare, one = np.ones(8, np.int64), np.full(8, 20, dtype=np.int64)
    # all made pending by one event: they would merge into one piece
    assert pmap._apply_to_pieces(pmap._window(0, 8 * PAGE), lo, lo + PAGE, unshare, one, one,
                                 one) is None
    assert pmap.history == []
    pmap.apply(lo, lo + PAGE, unshare, one, one, one)
    assert pmap.starts.tolist()[:2] == [0, 8 * PAGE]
