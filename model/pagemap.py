"""The page-state map: GPA ranges with their state and the event that last changed them.

An interval map over the whole private GPA space (never one object per page), kept as sorted
numpy arrays in chunks (`chunks.Chunks`): the start of each piece and its attributes (state,
cause seq, since seq, since ts, generation). Pieces are maximal: neighbours never hold equal
attributes. Changes come as sorted, disjoint ranges and are applied together (`apply`): a batch
of conversions costs a few array operations over the chunks between its first and last change,
one change the same over the one or two chunks it touches. Every change closes the
intervals it overwrites into the page history (for `page_history.parquet`), as array rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from tdxray.model.accepted import Accepted
from tdxray.model.accepted import Saved as AcceptedSaved
from tdxray.model.chunks import Chunks, Snapshot
from tdxray.model.one_change import one_change
from tdxray.schema.constants import PAGE_SHIFT

# Untouched pieces around a batch's window that are copied into its new chunk; beyond this
# many they stay in chunks of their own
SPLICE_COPY = 4096


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

# Transitions as tables indexed by the old state.
_N, _P, _S, _D, _U = (int(s) for s in PageState)
TO_SHARED: tuple[int, ...] = (_N, _S, _S, _S, _S)
TO_PRIVATE: tuple[int, ...] = (_N, _P, _D, _D, _U)  # only shared pages change: they turn pending
ACCEPTED: tuple[int, ...] = (_N, _P, _P, _P, _P)
CHANGES: tuple[tuple[int, ...], ...] = (TO_SHARED, TO_PRIVATE, ACCEPTED)  # by change index
CHANGE_TABLE = np.array(CHANGES, dtype=np.int64)
SHARE, UNSHARE, ACCEPT = range(3)  # indices of CHANGES

# One interval of history:
# (gpa_start, gpa_end, state, from_seq, from_ts, to_seq, to_ts, generation, cause_seq)
HistoryRow = tuple[int, int, int, int, int, int, int, int, int]
HISTORY_COLUMNS = 9
STATE, CAUSE, SINCE, SINCE_TS, GEN = range(5)  # the columns of PageMap.attrs


def rows(table: np.ndarray) -> np.ndarray:
    """An (n, k) int64 table as n opaque rows (a view): a row gather is one copy of 8k bytes,
    about twice as fast as numpy's gather of a 2-D table."""
    table = np.ascontiguousarray(table)
    return table.view(np.dtype((np.void, table.shape[1] * table.itemsize))).reshape(len(table))


def take_rows(table: np.ndarray, index: np.ndarray) -> np.ndarray:
    """table[index] for an (n, k) int64 table, as a fresh (len(index), k) array."""
    return rows(table)[index].view(np.int64).reshape(len(index), table.shape[1])


def put_rows(table: np.ndarray, index: np.ndarray, values: np.ndarray) -> None:
    """table[index] = values for (n, k) int64 tables, a row at a time when `table` is
    contiguous (written through its row view), numpy's 2-D scatter otherwise."""
    if table.flags.c_contiguous:
        rows(table)[index] = rows(values)
    else:
        table[index] = values


def _kept(table: np.ndarray, touched: np.ndarray | None) -> np.ndarray:
    """Per piece: does it stay (it differs from the piece before, or is the first)? With
    `touched` (indices, 0..n, repeats allowed) only those pieces are compared: the others
    stay."""
    n = len(table)
    keep = np.ones(n, dtype=bool)
    if touched is None:
        keep[1:] = _differs(table)
        return keep
    if len(touched) > n // 8:  # most pieces: every neighbour pair compared at once
        compared = np.zeros(n + 1, dtype=bool)
        compared[touched] = True
        keep[1:] = _differs(table) | ~compared[1:n]
        return keep
    p = touched[(touched > 0) & (touched < n)]
    pieces = rows(table)  # a piece's attributes compared as one 40-byte row
    keep[p] = pieces[p] != pieces[p - 1]
    return keep


def _differs(table: np.ndarray) -> np.ndarray:
    """Per row of an (n, k) int64 table but the first: does it differ from the row before?
    (column by column over the XOR of neighbours: no gather, no reduction along a short
    axis)"""
    delta = table[1:] ^ table[:-1]
    out = delta[:, 0] != 0
    for column in range(1, table.shape[1]):
        out |= delta[:, column] != 0
    return out


def _change_index(change: tuple[int, ...]) -> int:
    return CHANGES.index(change)


def seq_bits(seq: int) -> int:
    """A u64 seq as the int64 the arrays hold (its bit pattern; seqs past 2**63 go negative)."""
    return seq - (1 << 64) if seq >= 1 << 63 else seq


def seq_value(bits: int) -> int:
    """The u64 seq an int64 of the arrays holds (NO_SEQ stays NO_SEQ)."""
    return bits + (1 << 64) if bits < NO_SEQ else bits


@dataclass(frozen=True)
class _Window:
    ca: int  # chunks ca..cb-1 ...
    cb: int
    starts: np.ndarray  # ... as arrays
    table: np.ndarray
    a: int  # the pieces a..b-1 of them a change works on
    b: int
    end: int  # where piece b-1 ends
    stop: int  # where the chunks end


class PageMap:
    """Pieces from each start to the next (the last to `limit`) with their attributes."""

    def __init__(self, limit: int, ram: tuple[tuple[int, int], ...], initial: PageState,
                 record_history: bool = True) -> None:
        self.limit = limit
        self.record_history = record_history
        self.chunks = Chunks(limit, np.array([_N, NO_SEQ, NO_SEQ, NO_SEQ, 0]))
        self.history: list[np.ndarray] = []
        # lazy accept: the pages accepted since boot (K002 is judged against it, accepted.py)
        self.accepted = Accepted() if initial == PageState.UNACCEPTED else None
        for start, end in ram:
            self._assign(start, min(end, limit), (int(initial), NO_SEQ, NO_SEQ, NO_SEQ, 0))

    @classmethod
    def of_pieces(cls, like: PageMap, starts: np.ndarray, attrs: np.ndarray) -> PageMap:
        """A map of these pieces (the first at 0, neighbours never equal) with `like`'s limit,
        history setting and accepted set (shared: its changes are `like`'s)."""
        new = cls(like.limit, (), PageState.NONE, like.record_history)
        new.accepted = like.accepted
        new.chunks.put(0, 1, starts, attrs)
        return new

    # --- structure ---------------------------------------------------------------------------

    @property
    def starts(self) -> np.ndarray:
        """Every piece's start (a read-only flat copy)."""
        return self.chunks.flat()[0]

    @property
    def attrs(self) -> np.ndarray:
        """Every piece's attributes, (n, 5) (a read-only flat copy)."""
        return self.chunks.flat()[1]

    def snapshot(self) -> tuple[Snapshot, int, AcceptedSaved | None]:
        """What `restore` needs to undo every change made after this call."""
        return (self.chunks.snapshot(), len(self.history),
                self.accepted.snapshot() if self.accepted is not None else None)

    def restore(self, saved: tuple[Snapshot, int, AcceptedSaved | None]) -> None:
        self.chunks.restore(saved[0])
        del self.history[saved[1]:]
        if self.accepted is not None and saved[2] is not None:
            self.accepted.restore(saved[2])

    def _window(self, lo: int, hi: int) -> _Window:
        """The chunks holding [lo, hi)'s pieces, and within them the pieces it covers plus
        one neighbour each side (for merging)."""
        ca, cb = self.chunks.span(lo, hi)
        starts, table, end = self.chunks.get(ca, cb)
        a = max(int(starts.searchsorted(lo, side="right")) - 2, 0)
        b = min(int(starts.searchsorted(hi, side="left")) + 1, len(starts))
        return _Window(ca, cb, starts, table, a, b, int(starts[b]) if b < len(starts) else end,
                       end)

    def _assign(self, start: int, end: int, attrs: tuple[int, int, int, int, int]) -> None:
        """Set [start, end) to `attrs` without history (building the initial map)."""
        if start >= end:
            return
        w = self._window(start, end)
        starts, table, _, _ = self._cut(w.starts[w.a:w.b], w.table[w.a:w.b],
                                        np.array([start]), np.array([end]))
        inside = (starts >= start) & (starts < end)
        table[inside] = attrs
        self._splice(w, starts, table)

    def _cut(self, window: np.ndarray, table: np.ndarray, lo: np.ndarray, hi: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The pieces of `window` split at every bound of the changes (attributes copied),
        and where each lo and each hi lands among them (the first piece at or after it)."""
        # sorted disjoint changes: lo0 < hi0 <= lo1 < hi1 ... interleaved are sorted already
        # (only the last hi can reach the limit)
        bounds = np.empty(2 * len(lo), dtype=np.int64)
        bounds[0::2], bounds[1::2] = lo, hi
        at_limit = bool(len(hi)) and hi[-1] >= self.limit
        if at_limit:
            bounds = bounds[:-1]
        distinct = np.append(True, bounds[1:] != bounds[:-1])
        # each lo's and hi's place among the distinct bounds (what a search would find)
        rank = np.cumsum(distinct) - 1
        bounds = bounds[distinct]
        pos = np.searchsorted(window, bounds)
        new = (pos == 0) | (window[np.minimum(pos, len(window) - 1)] != bounds)
        new &= bounds > window[0]
        added = int(new.sum())
        # each bound's place after the cut: its place before, moved by the new bounds before it
        place = np.empty(len(bounds) + 1, dtype=np.int64)
        place[:-1] = pos + np.cumsum(new) - new
        place[-1] = len(window) + added  # a hi at the limit: past every piece
        lo_at = place[rank[0::2]]
        hi_rank = rank[1::2]
        if at_limit:  # the last hi, left out of the bounds: past every piece
            hi_rank = np.append(hi_rank, len(bounds))
        hi_at = place[hi_rank]
        if not added:  # the starts are only read (chunks never change in place): no copy
            return window, table.copy(), lo_at, hi_at
        bounds, pos = bounds[new], pos[new]
        # one gather of the attribute rows (a cut piece copies its left part's), the bounds
        # written where they go: a single pass over the window's rows
        at = pos + np.arange(len(pos))
        src = np.ones(len(window) + len(pos), dtype=np.int64)
        src[0] = 0
        src[at] = 0
        np.cumsum(src, out=src)
        starts = window[src]
        starts[at] = bounds
        return starts, take_rows(table, src), lo_at, hi_at

    def _splice(self, w: _Window, starts: np.ndarray, table: np.ndarray,
                touched: np.ndarray | None = None) -> None:
        """Put `starts`/`table` in place of the window's pieces, merging equal neighbours.
        With `touched` (the pieces that may now equal their predecessor: the changed ones,
        those after them and those a cut began), only those are compared: the others were
        maximal already."""
        keep = _kept(table, touched)
        if not keep.all():
            kept = np.flatnonzero(keep)  # a gather by index: cheaper than a mask over rows
            starts, table = starts[kept], take_rows(table, kept)
        self._put(w, starts, table)

    def _put(self, w: _Window, starts: np.ndarray, table: np.ndarray) -> None:
        """Put maximal `starts`/`table` in place of the window's pieces a..b-1."""
        if len(w.starts) - (w.b - w.a) > SPLICE_COPY:
            # a long region: the untouched pieces before and after stay where they are (views
            # of chunks nobody changes), so the cost is the window's, not the region's
            parts = [(w.starts[:w.a], w.table[:w.a]), (starts, table),
                     (w.starts[w.b:], w.table[w.b:])]
            self.chunks.put_parts(w.ca, w.cb, [part for part in parts if len(part[0])])
            return
        if w.a or w.b < len(w.starts):
            starts = np.concatenate([w.starts[:w.a], starts, w.starts[w.b:]])
            table = np.concatenate([w.table[:w.a], table, w.table[w.b:]])
        self.chunks.put(w.ca, w.cb, starts, table)

    # --- changes -----------------------------------------------------------------------------

    def apply(self, lo: np.ndarray, hi: np.ndarray, change: np.ndarray, seq: np.ndarray,
              ts: np.ndarray, gen: np.ndarray) -> np.ndarray:
        """Move every page of each [lo, hi) to CHANGES[change][old state], all at once; the
        ranges are sorted and disjoint. Pieces whose state does not change keep their
        provenance. Returns the pages each change moved."""
        hi = np.minimum(hi, self.limit)
        moved = np.zeros(len(lo), dtype=np.int64)
        real = lo < hi
        if not real.all():
            sub = self.apply(lo[real], hi[real], change[real], seq[real], ts[real], gen[real])
            moved[real] = sub
            return moved
        if not len(lo):
            return moved
        if self.accepted is not None:
            self.accepted.add_many(lo[change == ACCEPT], hi[change == ACCEPT])
        w = self._window(int(lo[0]), int(hi[-1]))
        if len(w.starts) - (w.b - w.a) <= SPLICE_COPY:
            # the few pieces around the window join it: cut with it (one gather), not
            # concatenated after (never compared: a change's first piece follows piece a)
            w = _Window(w.ca, w.cb, w.starts, w.table, 0, len(w.starts), w.stop, w.stop)
        whole = self._apply_to_pieces(w, lo, hi, change, seq, ts, gen)
        if whole is not None:
            return whole
        starts, table, first, last = self._cut(w.starts[w.a:w.b], w.table[w.a:w.b], lo, hi)
        # every bound is a piece start now: change k covers the pieces first[k]..last[k]-1
        count = last - first
        cj = np.repeat(np.arange(len(lo)), count)
        idx = np.arange(len(cj)) + np.repeat(first - (np.cumsum(count) - count), count)
        nxt = idx + 1
        ends = np.empty(len(idx), dtype=np.int64)
        inner = nxt < len(starts)
        ends[inner] = starts[nxt[inner]]
        ends[~inner] = w.end
        new = CHANGE_TABLE[change[cj], table[idx, STATE]]
        changed = new != table[idx, STATE]
        idx, cj, new, ends = idx[changed], cj[changed], new[changed], ends[changed]
        if self.record_history and len(idx):
            old = take_rows(table, idx).T
            # column by column (each a contiguous row of a (9, k) array): the writer reads
            # them so; a row-major column_stack cost a strided copy of every value
            self.history.append(np.stack([
                starts[idx], ends, old[STATE], old[SINCE], old[SINCE_TS], seq[cj], ts[cj],
                old[GEN], old[CAUSE]]).T)
        values = np.empty((len(idx), table.shape[1]), dtype=np.int64)
        values[:, STATE], values[:, CAUSE] = new, seq[cj]
        values[:, SINCE], values[:, SINCE_TS], values[:, GEN] = values[:, CAUSE], ts[cj], gen[cj]
        put_rows(table, idx, values)
        cuts = np.concatenate([first, last])
        self._splice(w, starts, table, np.concatenate([idx, idx + 1, cuts]))
        np.add.at(moved, cj, (ends - starts[idx]) >> PAGE_SHIFT)
        return moved

    def _apply_to_pieces(self, w: _Window, lo: np.ndarray, hi: np.ndarray, change: np.ndarray,
                         seq: np.ndarray, ts: np.ndarray, gen: np.ndarray) -> np.ndarray | None:
        """`apply` when each change is exactly one piece of the window (a run's later layers
        over the ranges its first cut): nothing to cut, and the pieces changed merge with no
        neighbour (checked: their cause is their own event's), so the pieces stay as they are,
        rewritten in one copy. None, and nothing done, in any other case."""
        starts = w.starts[w.a:w.b]
        at = np.searchsorted(starts, lo)
        if int(at[-1]) >= len(starts) or not np.array_equal(starts[at], lo):
            return None
        after = at + 1
        ends = np.where(after < len(starts), starts[np.minimum(after, len(starts) - 1)], w.end)
        if not np.array_equal(ends, hi):
            return None
        table = w.table[w.a:w.b]
        state = table[at, STATE]
        new = CHANGE_TABLE[change, state]
        cj = np.flatnonzero(new != state)
        idx = at[cj]
        values = np.empty((len(idx), table.shape[1]), dtype=np.int64)
        values[:, STATE], values[:, CAUSE] = new[cj], seq[cj]
        values[:, SINCE], values[:, SINCE_TS], values[:, GEN] = values[:, CAUSE], ts[cj], gen[cj]
        out = table.copy()
        put_rows(out, idx, values)
        near = np.concatenate([idx, idx + 1])
        near = near[(near > 0) & (near < len(out))]
        pieces = rows(out)
        if (pieces[near] == pieces[near - 1]).any():  # a merge after all: the general way
            return None
        if self.record_history and len(idx):
            old = take_rows(table, idx).T
            self.history.append(np.stack([
                starts[idx], ends[cj], old[STATE], old[SINCE], old[SINCE_TS], seq[cj], ts[cj],
                old[GEN], old[CAUSE]]).T)
        self._put(w, starts, out)
        moved = np.zeros(len(lo), dtype=np.int64)
        moved[cj] = (ends[cj] - lo[cj]) >> PAGE_SHIFT
        return moved

    def transition(self, start: int, end: int, change: tuple[int, ...], cause: int,
                   ts: int, gen: int) -> int:
        """Move every page of [start, end) to change[old state]; return pages that changed."""
        end = min(end, self.limit)
        if start >= end:
            return 0
        one = one_change(self.chunks, start, end, change, seq_bits(cause), ts, gen,
                         self.history if self.record_history else None)
        if one is not None:
            if self.accepted is not None and change == ACCEPTED:
                self.accepted.add(start, end)
            return one
        moved = self.apply(np.array([start], dtype=np.int64), np.array([end], dtype=np.int64),
                           np.array([_change_index(change)]), np.array([seq_bits(cause)]),
                           np.array([ts]), np.array([gen]))
        return int(moved[0])

    def pending_whole(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Per range: does it lie inside one pending or unaccepted piece (ACCEPT's fast case)?
        Chunk by chunk over the ranges in order (a fast-lane layer comes sorted): only each
        piece's state is read, and its end at its own index (no copy of a chunk's ends)."""
        order = None if (lo[1:] >= lo[:-1]).all() else np.argsort(lo)
        if order is not None:
            lo, hi = lo[order], hi[order]
        chunks = self.chunks
        inside = np.empty(len(lo), dtype=bool)
        for c, a, b, i in chunks.walk(lo):
            starts = chunks.starts[c]
            after = np.minimum(i + 1, len(starts) - 1)
            ends = np.where(i + 1 < len(starts), starts[after], chunks.end_of(c, len(starts) - 1))
            state = chunks.attrs[c][i, STATE]
            inside[a:b] = (hi[a:b] <= ends) & ((state == _D) | (state == _U))
        if order is None:
            return inside
        out = np.empty_like(inside)
        out[order] = inside
        return out

    def accept_pending(self, start: int, end: int, cause: int, ts: int, gen: int) -> bool:
        """Make [start, end) private if it lies inside one pending or unaccepted piece (the
        ACCEPT hot path); False, and nothing changed, otherwise."""
        if start >= self.limit:
            return False
        c, i = self.chunks.locate(start)
        if (end > self.chunks.end_of(c, i)
                or int(self.chunks.attrs[c][i, STATE]) not in (_D, _U)):
            return False
        self.transition(start, end, ACCEPTED, cause, ts, gen)
        return True

    # --- queries -----------------------------------------------------------------------------

    def pieces(self, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
        """(start, end, state, cause) of the pieces overlapping [start, end), clipped."""
        chunks = self.chunks
        c, i = chunks.locate(min(start, self.limit - 1))
        found: list[tuple[int, int, int, int]] = []
        while c < len(chunks.firsts):
            chunk = chunks.starts[c]
            j = int(np.searchsorted(chunk, end, side="left"))
            starts = chunk[i:j].tolist()
            ends = [*starts[1:], chunks.end_of(c, j - 1)] if starts else []
            for s, e, (st, cause) in zip(starts, ends, chunks.attrs[c][i:j, :2].tolist(),
                                         strict=True):
                found.append(((s if s > start else start), (e if e < end else end), st,
                              seq_value(cause)))
            if j < len(chunk):
                break
            c, i = c + 1, 0
        yield from found

    def state_at(self, gpa: int) -> tuple[int, int]:
        """(state, cause) of the page holding gpa."""
        if gpa >= self.limit:
            return _N, NO_SEQ
        c, i = self.chunks.locate(gpa)
        st, cause = self.chunks.attrs[c][i, :2].tolist()
        return st, seq_value(cause)

    def _ends(self) -> np.ndarray:
        return np.append(self.starts[1:], self.limit)

    def runs(self, state: int) -> Iterator[tuple[int, int, list[int]]]:
        """Maximal runs of contiguous pages in `state`: (start, end, sorted cause seqs)."""
        idx = np.flatnonzero(self.attrs[:, STATE] == state)
        if not len(idx):
            return
        starts, ends, causes = self.starts[idx], self._ends()[idx], self.attrs[idx, CAUSE]
        run = np.cumsum(np.append(True, starts[1:] != ends[:-1]))
        first = np.flatnonzero(np.append(True, run[1:] != run[:-1]))
        last = np.append(first[1:], len(idx)) - 1
        pairs = np.unique(np.column_stack([run, causes])[causes != NO_SEQ], axis=0)
        by_run: dict[int, list[int]] = {}
        for r, cause in pairs.tolist():
            by_run.setdefault(r, []).append(seq_value(cause))
        for r, f, la in zip(run[first].tolist(), first.tolist(), last.tolist(), strict=True):
            yield int(starts[f]), int(ends[la]), sorted(by_run.get(r, []))

    def count(self, state: int) -> int:
        """Pages in `state`."""
        mask = self.attrs[:, STATE] == state
        return int((self._ends()[mask] - self.starts[mask]).sum()) >> PAGE_SHIFT

    def open_intervals(self) -> np.ndarray:
        """The intervals still current at the end of the trace (to_seq = NO_SEQ), as rows.

        The rows are a column-major array's transpose: each column is filled, then read by the
        history writer, in one contiguous pass (np.column_stack's row-major copy of a whole
        map was a third of a second at 5e5 pieces)."""
        starts, attrs = self.chunks.flat()
        idx = np.flatnonzero(attrs[:, STATE] != _N)
        columns = np.empty((HISTORY_COLUMNS, len(idx)), dtype=np.int64)
        columns[0] = starts[idx]
        after = idx + 1  # a piece ends where the next begins, the last at the limit
        columns[1] = np.where(after < len(starts),
                              starts[np.minimum(after, len(starts) - 1)], self.limit)
        kept = take_rows(attrs, idx)  # one gather of the rows, then a column at a time
        for row, field in ((2, STATE), (3, SINCE), (4, SINCE_TS), (7, GEN), (8, CAUSE)):
            columns[row] = kept[:, field]
        columns[5:7] = NO_SEQ
        return columns.T

    def take_history_parts(self) -> list[np.ndarray]:
        """The history rows closed since the last call, as the (k, 9) int64 parts they were
        made in (each a column-major array's transpose: a column is contiguous)."""
        parts, self.history = self.history, []
        return parts

    def take_history(self) -> np.ndarray:
        """The history rows closed since the last call (an (n, 9) int64 array)."""
        parts = self.take_history_parts()
        if len(parts) == 1:
            return parts[0]
        # built column-major (one contiguous copy per part's column), handed out as rows
        columns = np.empty((HISTORY_COLUMNS, sum(len(p) for p in parts)), dtype=np.int64)
        at = 0
        for part in parts:
            columns[:, at:at + len(part)] = part.T
            at += len(part)
        return columns.T
