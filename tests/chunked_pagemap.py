"""The chunked-list page map replay used before the array map: the reference the array map must
match piece for piece and history row for history row (tests only)."""
from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator

from tdxray.model.pagemap import NO_SEQ, PageState
from tdxray.schema.constants import PAGE_SHIFT

# Transitions as tables indexed by the old state (plain ints: this is the hot path).
_N, _P, _S, _D, _U = (int(s) for s in PageState)
TO_SHARED: tuple[int, ...] = (_N, _S, _S, _S, _S)
TO_PRIVATE: tuple[int, ...] = (_N, _P, _D, _D, _U)  # only shared pages change: they turn pending
ACCEPTED: tuple[int, ...] = (_N, _P, _P, _P, _P)
_NOT_ACCEPTED = (_D, _U)

# One interval of history:
# (gpa_start, gpa_end, state, from_seq, from_ts, to_seq, to_ts, generation, cause_seq)
HistoryRow = tuple[int, int, int, int, int, int, int, int, int]


Attrs = tuple[int, int, int, int, int]  # (state, cause seq, since seq, since ts, generation)

# Pieces live in chunks of about this many: a search is two bisects, an insert moves at most
# one chunk (a map fragmented into 100,000 pieces would otherwise move the whole tail).
CHUNK = 2  # tiny chunks: every split, merge and walk crosses chunk boundaries


class PageMap:
    """Pieces from each start to the next; per piece the state, the event that caused it and
    the seq/ts/generation it began at. Starts and attributes are kept in parallel chunks."""

    def __init__(self, limit: int, ram: tuple[tuple[int, int], ...], initial: PageState,
                 record_history: bool = True) -> None:
        self.limit = limit
        self.record_history = record_history
        self.cs: list[list[int]] = [[0]]  # chunks of piece starts
        self.ca: list[list[Attrs]] = [[(_N, NO_SEQ, NO_SEQ, NO_SEQ, 0)]]  # their attributes
        self.mins: list[int] = [0]  # the first start of each chunk
        self.history: list[HistoryRow] = []
        for start, end in ram:
            self._set_range(start, end, (int(initial), NO_SEQ, NO_SEQ, NO_SEQ, 0), record=False)

    # --- structure ---------------------------------------------------------------------------

    def _locate(self, x: int) -> tuple[int, int]:
        """(chunk, index) of the piece holding x."""
        c = bisect_right(self.mins, x) - 1
        return c, bisect_right(self.cs[c], x) - 1

    def _next_start(self, c: int, i: int) -> int:
        chunk = self.cs[c]
        if i + 1 < len(chunk):
            return chunk[i + 1]
        return self.cs[c + 1][0] if c + 1 < len(self.cs) else self.limit

    def _following(self, c: int, i: int) -> tuple[int, int] | None:
        if i + 1 < len(self.cs[c]):
            return c, i + 1
        return (c + 1, 0) if c + 1 < len(self.cs) else None

    def _preceding(self, c: int, i: int) -> tuple[int, int] | None:
        if i > 0:
            return c, i - 1
        return (c - 1, len(self.cs[c - 1]) - 1) if c > 0 else None

    def _delete(self, c: int, i: int) -> None:
        del self.cs[c][i], self.ca[c][i]
        if not self.cs[c]:
            del self.cs[c], self.ca[c], self.mins[c]
        elif i == 0:
            self.mins[c] = self.cs[c][0]

    def _rebalance(self, c: int) -> None:
        if len(self.cs[c]) > 2 * CHUNK:
            starts, attrs = self.cs[c], self.ca[c]
            self.cs[c:c + 1] = [starts[:CHUNK], starts[CHUNK:]]
            self.ca[c:c + 1] = [attrs[:CHUNK], attrs[CHUNK:]]
            self.mins[c:c + 1] = [starts[0], starts[CHUNK]]

    def _split(self, x: int) -> None:
        """Make x a piece start."""
        if x >= self.limit:
            return
        c, i = self._locate(x)
        if self.cs[c][i] != x:
            self.cs[c].insert(i + 1, x)
            self.ca[c].insert(i + 1, self.ca[c][i])
            self._rebalance(c)

    def _merge(self, start: int) -> None:
        """Merge the piece at start with equal neighbours (same state, cause and start)."""
        c, i = self._locate(start)
        attrs = self.ca[c][i]
        nxt = self._following(c, i)
        if nxt is not None and self.ca[nxt[0]][nxt[1]] == attrs:
            self._delete(*nxt)
        prev = self._preceding(c, i)
        if prev is not None and self.ca[prev[0]][prev[1]] == attrs:
            self._delete(c, i)

    def _set_range(self, start: int, end: int, attrs: Attrs, record: bool = True) -> None:
        self._split(start)
        self._split(end)
        c, i = self._locate(start)
        if record and self.record_history:
            seq, ts = attrs[2], attrs[3]
            for s, e, (st, cause, since, since_ts, gen) in self._walk(c, i, end):
                self.history.append((s, e, st, since, since_ts, seq, ts, gen, cause))
        while (nxt := self._following(c, i)) is not None and self.cs[nxt[0]][nxt[1]] < end:
            self._delete(*nxt)
            c, i = self._locate(start)
        self.ca[c][i] = attrs
        self._merge(start)

    def _replace_within(self, c: int, i: int, piece_end: int, start: int, end: int,
                        attrs: Attrs) -> None:
        """_set_range for a range inside piece (c, i), touching only its chunk (the hot path)."""
        starts, pieces = self.cs[c], self.ca[c]
        old = pieces[i]
        if self.record_history:
            self.history.append((start, end, old[0], old[2], old[3], attrs[2], attrs[3],
                                 old[4], old[1]))
        if starts[i] == start:
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
        # merge with equal neighbours in this chunk (neighbours across chunks may stay apart)
        if k + 1 < len(starts) and pieces[k + 1] == attrs:
            del starts[k + 1], pieces[k + 1]
        if k > 0 and pieces[k - 1] == attrs:
            del starts[k], pieces[k]
        if len(starts) > 2 * CHUNK:
            self._rebalance(c)

    def _walk(self, c: int, i: int, end: int) -> Iterator[tuple[int, int, Attrs]]:
        """(start, end, attrs) of the pieces from (c, i) on that start before `end`."""
        pos: tuple[int, int] | None = (c, i)
        while pos is not None and self.cs[pos[0]][pos[1]] < end:
            s = self.cs[pos[0]][pos[1]]
            yield s, self._next_start(*pos), self.ca[pos[0]][pos[1]]
            pos = self._following(*pos)

    # --- queries -----------------------------------------------------------------------------

    def pieces(self, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
        """(start, end, state, cause) of the pieces overlapping [start, end), clipped."""
        for s, e, attrs in self._walk(*self._locate(start), end):
            yield (s if s > start else start), (e if e < end else end), attrs[0], attrs[1]

    def state_at(self, gpa: int) -> tuple[int, int]:
        """(state, cause) of the page holding gpa."""
        if gpa >= self.limit:
            return _N, NO_SEQ
        c, i = self._locate(gpa)
        attrs = self.ca[c][i]
        return attrs[0], attrs[1]

    def _all(self) -> Iterator[tuple[int, int, Attrs]]:
        return self._walk(0, 0, self.limit)

    def runs(self, state: int) -> Iterator[tuple[int, int, list[int]]]:
        """Maximal runs of contiguous pages in `state`: (start, end, sorted cause seqs)."""
        run_start = -1
        run_end = -1
        causes: set[int] = set()
        for s, e, attrs in self._all():
            if attrs[0] != state:
                continue
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
        return sum(e - s for s, e, attrs in self._all() if attrs[0] == state) >> PAGE_SHIFT

    # --- changes -----------------------------------------------------------------------------

    def accept_pending(self, start: int, end: int, cause: int, ts: int, gen: int) -> bool:
        """Make [start, end) private if it lies inside one pending or unaccepted piece (the
        ACCEPT hot path); False, and nothing changed, otherwise."""
        c = bisect_right(self.mins, start) - 1
        chunk = self.cs[c]
        i = bisect_right(chunk, start) - 1
        nxt = chunk[i + 1] if i + 1 < len(chunk) else self._next_start(c, i)
        if end > nxt or self.ca[c][i][0] not in _NOT_ACCEPTED:
            return False
        self._replace_within(c, i, nxt, start, end, (_P, cause, cause, ts, gen))
        return True

    def transition(self, start: int, end: int, change: tuple[int, ...], cause: int,
                   ts: int, gen: int) -> int:
        """Move every page of [start, end) to change[old state]; return pages that changed.

        Pieces whose state does not change keep their provenance.
        """
        c = bisect_right(self.mins, start) - 1
        chunk = self.cs[c]
        i = bisect_right(chunk, start) - 1
        nxt = chunk[i + 1] if i + 1 < len(chunk) else self._next_start(c, i)
        if end <= nxt:  # the common case: the range lies inside one piece
            st = self.ca[c][i][0]
            new = change[st]
            if new == st:
                return 0
            self._replace_within(c, i, nxt, start, end, (new, cause, cause, ts, gen))
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
        for s, e, (st, cause, since, since_ts, gen) in self._all():
            if st != _N:
                yield (s, e, st, since, since_ts, NO_SEQ, NO_SEQ, gen, cause)

    def take_history(self) -> list[HistoryRow]:
        rows, self.history = self.history, []
        return rows
