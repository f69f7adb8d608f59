"""The page-state map: GPA ranges with their state and the event that last changed them.

An interval map over the whole private GPA space (never one object per page). Every change
closes the intervals it overwrites into the page history (for `page_history.parquet`).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from enum import IntEnum

from tdxray.schema.constants import PAGE_SHIFT


class PageState(IntEnum):
    NONE = 0        # not RAM (MMIO, holes): the model keeps no state there
    PRIVATE = 1     # accepted, usable
    SHARED = 2
    PENDING = 3     # converted back to private and not yet accepted
    UNACCEPTED = 4  # never accepted since boot (lazy accept): listed in the unaccepted table


STATE_NAMES = {
    PageState.NONE: "none",
    PageState.PRIVATE: "private",
    PageState.SHARED: "shared",
    PageState.PENDING: "pending",
    PageState.UNACCEPTED: "unaccepted",
}

NO_SEQ = -1

# Transitions as tables indexed by the old state (plain ints: this is the hot path).
_N, _P, _S, _D, _U = (int(s) for s in PageState)
TO_SHARED: tuple[int, ...] = (_N, _S, _S, _S, _S)
TO_PRIVATE: tuple[int, ...] = (_N, _P, _D, _D, _U)  # only shared pages change: they turn pending
ACCEPTED: tuple[int, ...] = (_N, _P, _P, _P, _P)
_NOT_ACCEPTED = (_D, _U)

# One interval of history:
# (gpa_start, gpa_end, state, from_seq, from_ts, to_seq, to_ts, generation, cause_seq)
HistoryRow = tuple[int, int, int, int, int, int, int, int, int]


class PageMap:
    """Pieces [starts[i], starts[i+1]) and, per piece, attrs[i] = (state, cause, since, since_ts,
    generation): the state, the event that caused it, and the seq/ts/generation it began at."""

    def __init__(self, limit: int, ram: tuple[tuple[int, int], ...], initial: PageState,
                 record_history: bool = True) -> None:
        self.limit = limit
        self.record_history = record_history
        self.starts: list[int] = [0]
        self.attrs: list[tuple[int, int, int, int, int]] = [(_N, NO_SEQ, NO_SEQ, NO_SEQ, 0)]
        self.history: list[HistoryRow] = []
        for start, end in ram:
            self._set_range(start, end, (int(initial), NO_SEQ, NO_SEQ, NO_SEQ, 0), record=False)

    # --- structure ---------------------------------------------------------------------------

    def _end_of(self, i: int) -> int:
        return self.starts[i + 1] if i + 1 < len(self.starts) else self.limit

    def _split(self, x: int) -> int:
        """Make x a boundary; return the index of the piece starting at x."""
        starts = self.starts
        if x >= self.limit:
            return len(starts)
        i = bisect_right(starts, x) - 1
        if starts[i] == x:
            return i
        starts.insert(i + 1, x)
        self.attrs.insert(i + 1, self.attrs[i])
        return i + 1

    def _set_range(self, start: int, end: int, attrs: tuple[int, int, int, int, int],
                   record: bool = True) -> None:
        i = self._split(start)
        j = self._split(end)
        starts, pieces = self.starts, self.attrs
        if record and self.record_history:
            seq, ts = attrs[2], attrs[3]
            history = self.history
            for k in range(i, j):
                st, cause, since, since_ts, gen = pieces[k]
                history.append((starts[k], starts[k + 1] if k + 1 < len(starts) else self.limit,
                                st, since, since_ts, seq, ts, gen, cause))
        starts[i:j] = [start]
        pieces[i:j] = [attrs]
        # merge with equal neighbours (same state, cause and start: the same change)
        if i + 1 < len(starts) and pieces[i + 1] == attrs:
            del starts[i + 1], pieces[i + 1]
        if i > 0 and pieces[i - 1] == attrs:
            del starts[i], pieces[i]

    def _replace_within(self, i: int, piece_end: int, start: int, end: int,
                        attrs: tuple[int, int, int, int, int]) -> None:
        """_set_range for a range inside piece i, without searching (the hot path)."""
        starts, pieces = self.starts, self.attrs
        old = pieces[i]
        if self.record_history:
            self.history.append((start, end, old[0], old[2], old[3], attrs[2], attrs[3],
                                 old[4], old[1]))
        piece_start = starts[i]
        if piece_start == start:
            pieces[i] = attrs
            if piece_end != end:
                starts.insert(i + 1, end)
                pieces.insert(i + 1, old)
            k = i
        elif piece_end == end:
            starts.insert(i + 1, start)
            pieces.insert(i + 1, attrs)
            k = i + 1
        else:
            starts[i + 1:i + 1] = [start, end]
            pieces[i + 1:i + 1] = [attrs, old]
            k = i + 1
        if k + 1 < len(starts) and pieces[k + 1] == attrs:
            del starts[k + 1], pieces[k + 1]
        if k > 0 and pieces[k - 1] == attrs:
            del starts[k], pieces[k]

    # --- queries -----------------------------------------------------------------------------

    def pieces(self, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
        """(start, end, state, cause) of the pieces overlapping [start, end), clipped."""
        starts, pieces = self.starts, self.attrs
        i = bisect_right(starts, start) - 1
        n = len(starts)
        while i < n and starts[i] < end:
            s = starts[i] if starts[i] > start else start
            e = self._end_of(i)
            if e > end:
                e = end
            if s < e:
                yield s, e, pieces[i][0], pieces[i][1]
            i += 1

    def state_at(self, gpa: int) -> tuple[int, int]:
        """(state, cause) of the page holding gpa."""
        if gpa >= self.limit:
            return _N, NO_SEQ
        attrs = self.attrs[bisect_right(self.starts, gpa) - 1]
        return attrs[0], attrs[1]

    def uniform_state(self, start: int, end: int) -> int:
        """The state of [start, end) if it lies inside one piece, else -1 (a fast path)."""
        starts = self.starts
        i = bisect_right(starts, start) - 1
        if i + 1 < len(starts) and starts[i + 1] < end:
            return -1
        return self.attrs[i][0]

    def runs(self, state: int) -> Iterator[tuple[int, int, list[int]]]:
        """Maximal runs of contiguous pages in `state`: (start, end, sorted cause seqs)."""
        run_start = -1
        run_end = -1
        causes: set[int] = set()
        for i, attrs in enumerate(self.attrs):
            if attrs[0] != state:
                continue
            s, e = self.starts[i], self._end_of(i)
            if s != run_end:
                if run_start >= 0:
                    yield run_start, run_end, sorted(causes)
                run_start, causes = s, set()
            run_end = e
            if attrs[1] != NO_SEQ:
                causes.add(attrs[1])
        if run_start >= 0:
            yield run_start, run_end, sorted(causes)

    def count(self, state: int) -> int:
        """Pages in `state`."""
        total = 0
        for i, attrs in enumerate(self.attrs):
            if attrs[0] == state:
                total += self._end_of(i) - self.starts[i]
        return total >> PAGE_SHIFT

    # --- changes -----------------------------------------------------------------------------

    def accept_pending(self, start: int, end: int, cause: int, ts: int, gen: int) -> bool:
        """Make [start, end) private if it lies inside one pending or unaccepted piece (the
        ACCEPT hot path); False, and nothing changed, otherwise."""
        starts = self.starts
        i = bisect_right(starts, start) - 1
        nxt = starts[i + 1] if i + 1 < len(starts) else self.limit
        if end > nxt or self.attrs[i][0] not in _NOT_ACCEPTED:
            return False
        self._replace_within(i, nxt, start, end, (_P, cause, cause, ts, gen))
        return True

    def transition(self, start: int, end: int, change: tuple[int, ...], cause: int,
                   ts: int, gen: int) -> int:
        """Move every page of [start, end) to change[old state]; return pages that changed.

        Pieces whose state does not change keep their provenance.
        """
        starts = self.starts
        i = bisect_right(starts, start) - 1
        nxt = starts[i + 1] if i + 1 < len(starts) else self.limit
        if end <= nxt:  # the common case: the range lies inside one piece
            st = self.attrs[i][0]
            new = change[st]
            if new == st:
                return 0
            self._replace_within(i, nxt, start, end, (new, cause, cause, ts, gen))
            return (end - start) >> PAGE_SHIFT
        pieces = list(self.pieces(start, end))
        touched = [(s, e, change[st]) for s, e, st, _ in pieces if change[st] != st]
        if len(touched) == len(pieces) and len({new for _, _, new in touched}) == 1:
            # every piece changes to the same state: one assignment over the whole range
            self._set_range(start, end, (touched[0][2], cause, cause, ts, gen))
            return (end - start) >> PAGE_SHIFT
        pages = 0
        for s, e, new in touched:
            self._set_range(s, e, (new, cause, cause, ts, gen))
            pages += (e - s) >> PAGE_SHIFT
        return pages

    def open_intervals(self) -> Iterator[HistoryRow]:
        """The intervals still current at the end of the trace (to_seq = NO_SEQ)."""
        for i, (st, cause, since, since_ts, gen) in enumerate(self.attrs):
            if st != _N:
                yield (self.starts[i], self._end_of(i), st, since, since_ts, NO_SEQ, NO_SEQ, gen,
                       cause)

    def take_history(self) -> list[HistoryRow]:
        rows, self.history = self.history, []
        return rows
