"""The page-state map: GPA ranges with their state and the event that last changed them.

An interval map over the whole private GPA space (never one object per page). Every change
closes the intervals it overwrites into the page history (for `page_history.parquet`).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator
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

# One interval of history:
# (gpa_start, gpa_end, state, from_seq, from_ts, to_seq, to_ts, generation, cause_seq)
HistoryRow = tuple[int, int, int, int, int, int, int, int, int]


class PageMap:
    """Pieces [starts[i], starts[i+1]) with a state, a cause seq and the seq they took it at."""

    def __init__(self, limit: int, ram: tuple[tuple[int, int], ...], initial: PageState) -> None:
        self.limit = limit
        self.starts: list[int] = [0]
        self.states: list[int] = [PageState.NONE]
        self.causes: list[int] = [NO_SEQ]
        self.since: list[int] = [NO_SEQ]
        self.gens: list[int] = [0]
        self.since_ts: list[int] = [NO_SEQ]
        self.history: list[HistoryRow] = []
        self.record_history = True
        for start, end in ram:
            self._set_range(start, end, int(initial), NO_SEQ, NO_SEQ, NO_SEQ, 0, record=False)

    # --- structure ---------------------------------------------------------------------------

    def _end_of(self, i: int) -> int:
        return self.starts[i + 1] if i + 1 < len(self.starts) else self.limit

    def _split(self, x: int) -> int:
        """Make x a boundary; return the index of the piece starting at x."""
        if x >= self.limit:
            return len(self.starts)
        i = bisect_right(self.starts, x) - 1
        if self.starts[i] == x:
            return i
        j = i + 1
        self.starts.insert(j, x)
        self.states.insert(j, self.states[i])
        self.causes.insert(j, self.causes[i])
        self.since.insert(j, self.since[i])
        self.gens.insert(j, self.gens[i])
        self.since_ts.insert(j, self.since_ts[i])
        return j

    def _merge_around(self, lo: int, hi: int) -> None:
        """Merge equal neighbours among pieces lo-1 … hi (indices before the call's changes)."""
        i = max(lo, 1)
        hi = min(hi, len(self.starts) - 1)
        while i <= hi and i < len(self.starts):
            p = i - 1
            if (self.states[p] == self.states[i] and self.causes[p] == self.causes[i]
                    and self.since[p] == self.since[i]):
                del self.starts[i], self.states[i], self.causes[i], self.since[i]
                del self.gens[i], self.since_ts[i]
                hi -= 1
            else:
                i += 1

    def _set_range(self, start: int, end: int, state: int, cause: int, seq: int, ts: int,
                   gen: int, record: bool) -> None:
        i = self._split(start)
        j = self._split(end)
        if record and self.record_history:
            for k in range(i, j):
                self.history.append((self.starts[k], self._end_of(k), self.states[k],
                                     self.since[k], self.since_ts[k], seq, ts, self.gens[k],
                                     self.causes[k]))
        self.starts[i:j] = [start]
        self.states[i:j] = [state]
        self.causes[i:j] = [cause]
        self.since[i:j] = [seq]
        self.gens[i:j] = [gen]
        self.since_ts[i:j] = [ts]
        self._merge_around(i, i + 1)

    # --- queries -----------------------------------------------------------------------------

    def pieces(self, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
        """(start, end, state, cause) of the pieces overlapping [start, end), clipped."""
        i = bisect_right(self.starts, start) - 1
        n = len(self.starts)
        while i < n and self.starts[i] < end:
            s = max(self.starts[i], start)
            e = min(self._end_of(i), end)
            if s < e:
                yield s, e, self.states[i], self.causes[i]
            i += 1

    def state_at(self, gpa: int) -> tuple[int, int]:
        """(state, cause) of the page holding gpa."""
        if gpa >= self.limit:
            return PageState.NONE, NO_SEQ
        i = bisect_right(self.starts, gpa) - 1
        return self.states[i], self.causes[i]

    def runs(self, state: int) -> Iterator[tuple[int, int, list[int]]]:
        """Maximal runs of contiguous pages in `state`: (start, end, sorted cause seqs)."""
        run_start = -1
        run_end = -1
        causes: set[int] = set()
        for i, st in enumerate(self.states):
            if st != state:
                continue
            s, e = self.starts[i], self._end_of(i)
            if s != run_end:
                if run_start >= 0:
                    yield run_start, run_end, sorted(causes)
                run_start, causes = s, set()
            run_end = e
            if self.causes[i] != NO_SEQ:
                causes.add(self.causes[i])
        if run_start >= 0:
            yield run_start, run_end, sorted(causes)

    def count(self, state: int) -> int:
        """Pages in `state`."""
        total = 0
        for i, st in enumerate(self.states):
            if st == state:
                total += self._end_of(i) - self.starts[i]
        return total >> PAGE_SHIFT

    # --- changes -----------------------------------------------------------------------------

    def transition(self, start: int, end: int, change: Callable[[int], int], cause: int,
                   ts: int, gen: int) -> int:
        """Apply change(old_state) to every page of [start, end); return pages that changed.

        Pieces whose state does not change keep their provenance.
        """
        touched: list[tuple[int, int, int]] = []
        for s, e, st, _ in self.pieces(start, end):
            if st == PageState.NONE:
                continue
            new = change(st)
            if new != st:
                touched.append((s, e, new))
        pages = 0
        for s, e, new in touched:
            self._set_range(s, e, new, cause, cause, ts, gen, record=True)
            pages += (e - s) >> PAGE_SHIFT
        return pages

    def open_intervals(self) -> Iterator[HistoryRow]:
        """The intervals still current at the end of the trace (to_seq = NO_SEQ)."""
        for i in range(len(self.starts)):
            if self.states[i] != PageState.NONE:
                yield (self.starts[i], self._end_of(i), self.states[i], self.since[i],
                       self.since_ts[i], NO_SEQ, NO_SEQ, self.gens[i], self.causes[i])

    def take_history(self) -> list[HistoryRow]:
        rows, self.history = self.history, []
        return rows
