"""A fast-lane run's changes applied to the few pieces they touch, not to the whole map.

A run of plain conversions goes to the page map as a few layers, and each layer's `apply`
rewrote every piece between its first and last change: on a fragmented map the random pages of
a run cover every chunk, so the whole map was copied once per layer. Here the pieces the run's
changes cover, with one neighbour each side (what a merge compares), are taken out as islands
into a small map of their own; each gap between islands is stood for by one sentinel piece
that starts where the gap starts and whose attributes no real piece holds (generation -1), so
it never changes and never merges. The layers run on the small map exactly as on the whole one
(the same pieces, the same ends, the same history rows in the same order), and the result is
written back in one pass, each sentinel replaced by the pieces of its gap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tdxray.model.pagemap import GEN, NO_SEQ, SPLICE_COPY, PageMap, rows

SENTINEL = np.array([0, NO_SEQ, NO_SEQ, NO_SEQ, -1], dtype=np.int64)  # NONE, generation -1


DENSE = 0.5  # a run that touches more of its window than this applies to the map itself


@dataclass(frozen=True)
class Islands:
    """The small map of a run, and where its gaps lie among the whole map's pieces."""

    small: PageMap
    ca: int  # the whole map's chunks ca..cb-1 ...
    cb: int
    a: int  # ... and their pieces a..b-1 hold the islands
    b: int
    touched: np.ndarray  # per piece a..b-1: in an island
    gap_length: np.ndarray  # per gap among them: its pieces
    outer: tuple[bool, bool]  # a sentinel before them, and one after (the other pieces)


# The starts and the ends of a run's changes, each sorted (ends clipped to the map's limit,
# changes left empty by it left out): all islands reads of them
Bounds = tuple[np.ndarray, np.ndarray]


def sorted_bounds(lo: np.ndarray, hi: np.ndarray, limit: int) -> Bounds:
    hi = np.minimum(hi, limit)
    real = lo < hi
    return np.sort(lo[real]), np.sort(hi[real])


def islands(pages: PageMap, lo: np.ndarray, hi: np.ndarray,
            bounds: Bounds | None = None) -> Islands | None:
    """The pieces of `pages` that the changes [lo, hi) cover, with a neighbour each side; None
    when they are most of the pieces between the first and the last (the map itself is then
    as cheap). `bounds`: sorted_bounds of the changes, computed already."""
    starts_lo, ends_hi = bounds if bounds is not None else sorted_bounds(lo, hi, pages.limit)
    if not len(starts_lo):
        return None
    chunks = pages.chunks
    ca, cb = chunks.span(int(starts_lo[0]), int(ends_hi[-1]))
    starts, attrs, end = chunks.get(ca, cb)
    # sorted keys: each search starts where the last ended (the order of lo and hi is not used)
    first = starts.searchsorted(starts_lo, side="right") - 1  # the pieces holding a lo ...
    after = starts.searchsorted(ends_hi, side="left")  # ... through those before a hi
    a, b = max(int(first.min()) - 1, 0), min(int(after.max()) + 1, len(starts))
    n = b - a
    depth = np.bincount(np.maximum(first - 1 - a, 0), minlength=n + 1)
    depth -= np.bincount(np.minimum(after + 1 - a, n), minlength=n + 1)
    touched = np.cumsum(depth[:n]) > 0
    if int(touched.sum()) > DENSE * n:
        return None
    edge = np.flatnonzero(touched[1:] != touched[:-1]) + 1
    bounds = np.concatenate([[0], edge, [n]])
    gap_lo, gap_hi = (bounds[1::2], bounds[2::2]) if touched[0] else (bounds[0::2], bounds[1::2])
    gap_lo, gap_hi = gap_lo[:len(gap_hi)], gap_hi[:len(gap_lo)]
    keep = touched.copy()
    keep[gap_lo] = True  # a gap's first piece, in the small map, stands for the whole gap
    small_starts = starts[a:b][keep]
    small_attrs = rows(attrs[a:b])[keep].view(np.int64).reshape(-1, attrs.shape[1])
    small_attrs[(np.cumsum(keep) - 1)[gap_lo]] = SENTINEL
    outer = (ca > 0 or a > 0, cb < len(chunks.firsts) or b < len(starts))
    if outer[0]:  # a sentinel for the pieces before a
        small_starts = np.append(0, small_starts)
        small_attrs = np.concatenate([SENTINEL[None], small_attrs])
    if outer[1]:  # and one for those from b on
        small_starts = np.append(small_starts, starts[b] if b < len(starts) else end)
        small_attrs = np.concatenate([small_attrs, SENTINEL[None]])
    small = PageMap.of_pieces(pages, small_starts, small_attrs)
    return Islands(small, ca, cb, a, b, touched, gap_hi - gap_lo, outer)


def write_back(pages: PageMap, run: Islands) -> None:
    """Put the small map's pieces in place of the islands, and its history after the map's."""
    window, table, _ = pages.chunks.get(run.ca, run.cb)
    starts, attrs = window[run.a:run.b], table[run.a:run.b]
    small_starts, small_attrs = run.small.chunks.flat()
    i, j = int(run.outer[0]), len(small_starts) - int(run.outer[1])
    small_starts, small_attrs = small_starts[i:j], small_attrs[i:j]
    sentinel = small_attrs[:, GEN] == -1
    if int(sentinel.sum()) != len(run.gap_length):  # a sentinel merged or changed: never
        raise AssertionError("page map islands: a gap's sentinel was changed")
    # the output: the small map's pieces in order, each sentinel expanded to its gap's pieces
    length = np.ones(len(small_starts), dtype=np.int64)
    length[sentinel] = run.gap_length
    place = np.cumsum(length) - length  # where each small piece (or its gap) begins
    from_small = np.zeros(int(length.sum()), dtype=bool)
    from_small[place[~sentinel]] = True
    gaps = ~run.touched  # the gaps' pieces, in order
    out_starts = np.empty(len(from_small), dtype=np.int64)
    out_starts[from_small] = small_starts[~sentinel]
    out_starts[~from_small] = starts[gaps]
    out_attrs = np.empty((len(from_small), attrs.shape[1]), dtype=np.int64)
    rows(out_attrs)[from_small] = rows(small_attrs)[~sentinel]
    rows(out_attrs)[~from_small] = rows(attrs)[gaps]
    parts = [(window[:run.a], table[:run.a]), (out_starts, out_attrs),
             (window[run.b:], table[run.b:])]
    if len(window) - len(starts) > SPLICE_COPY:  # the pieces around stay as they are (views)
        pages.chunks.put_parts(run.ca, run.cb, [p for p in parts if len(p[0])])
    else:
        pages.chunks.put(run.ca, run.cb, np.concatenate([p[0] for p in parts]),
                         np.concatenate([p[1] for p in parts]))
    pages.history.extend(run.small.history)

