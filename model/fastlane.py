"""The fast lane of the sequential core: runs of plain conversions applied as array batches.

A plain MapGPA (one successful call, valid, aligned, inside the one RAM range, no operation
open on its vCPU, conversions not stopped) and a plain ACCEPT (successful, aligned, of a range
inside one pending or unaccepted piece) say nothing and only move pages: the core would call
`PageMap.transition` or `accept_pending` for each. Here a run of them goes to the page map as a
few layers of disjoint changes (`layers`). An ACCEPT found not plain (its outcome depends on
what came before it in the run) ends the run just before it: the core takes it from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tdxray.model.columns import BatchView, distinct
from tdxray.model.core import Model
from tdxray.model.islands import Bounds, islands, sorted_bounds, write_back
from tdxray.model.layers import layers
from tdxray.model.pagemap import ACCEPT, SHARE, UNSHARE, PageMap
from tdxray.schema.constants import (
    ACCEPT_LEVEL_SIZES,
    PAGE_SIZE,
    TDVMCALL_SUCCESS,
    TDX_SUCCESS,
)

MIN_RUN = 64  # shorter runs are not worth the array set-up: the core takes them
FIRST_TRY = 4096  # events of the first attempt after a cut; doubled after each clean one
MAX_TRY = 1 << 20

_LEVEL_SIZE = np.zeros(256, dtype=np.uint64)
for _level, _size in ACCEPT_LEVEL_SIZES.items():
    assert _size & (_size - 1) == 0, "an ACCEPT level's size is a power of two"
    _LEVEL_SIZE[_level] = _size


@dataclass(frozen=True)
class Layer:
    """One layer of a run: its rows, by start, and what `PageMap.apply` takes of them."""

    at: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    accepts: np.ndarray
    change: np.ndarray
    seq: np.ndarray
    ts: np.ndarray


@dataclass(frozen=True)
class LaidOut:
    """A run's layers, computed before it is applied: its rows j..stop-1 (j = 0)."""

    stop: int
    level: np.ndarray
    exact: int
    layers: list[Layer] | None  # when every row got an exact layer
    bounds: Bounds | None  # islands' sorted bounds of the run (with `layers`)


@dataclass
class Pace:
    """How many events the lane tries next: kept from batch to batch of one replay, so a long
    clean run is applied in few large attempts however small the batches are."""

    attempt: int = field(default_factory=lambda: FIRST_TRY)  # read when made (tests patch it)


class FastLane:
    """The plain conversions of one batch's core events, found with columnar operations."""

    def __init__(self, model: Model, core: BatchView, pace: Pace | None = None) -> None:
        self.model = model
        self.pace = pace or Pace()
        is_map, is_accept = core.is_kind("map_gpa"), core.is_kind("accept")
        gpa, status = core.number("gpa"), core.number("status", 1)
        sbit = np.uint64(model.sbit)
        size = core.number("size")
        start = gpa & ~sbit
        end = start + size
        with np.errstate(over="ignore"):
            last = gpa + size - np.uint64(1)
        lo_ram, hi_ram = np.uint64(model.ram_lo), np.uint64(model.ram_hi)
        plain_map = (is_map & (status == TDVMCALL_SUCCESS) & (size > 0)
                     & ((gpa | size) & np.uint64(PAGE_SIZE - 1) == 0)
                     & (gpa < np.uint64(model.gpa_limit)) & (last < np.uint64(model.gpa_limit))
                     & ((gpa ^ last) & sbit == 0) & (start >= lo_ram) & (end <= hi_ram)
                     & (end > start) & core.valid("gpa") & core.valid("size"))
        if not model._one_ram_range:
            plain_map[:] = False
        level = core.number("level", 255)
        asize = _LEVEL_SIZE[np.minimum(level, 255).astype(np.int64)]
        plain_accept = (is_accept & (status == TDX_SUCCESS) & (asize > 0) & (gpa < sbit)
                        & core.valid("gpa"))
        # aligned to its size, a power of two (a mask, not a 64-bit division per row)
        plain_accept &= (gpa & (np.maximum(asize, np.uint64(1)) - np.uint64(1))) == 0
        self.plain = plain_map | plain_accept
        self.lo = np.where(plain_map, start, gpa).astype(np.int64)
        self.hi = np.where(plain_map, end, gpa + asize).astype(np.int64)
        self.hi[~self.plain] = self.lo[~self.plain]
        to_private = (gpa & sbit) == 0
        self.change = np.where(plain_accept, ACCEPT, np.where(to_private, UNSHARE, SHARE))
        self.is_accept = plain_accept
        self.is_map = plain_map
        self.seq = core.seq.astype(np.int64)
        self.ts = core.ts.astype(np.int64)
        self.vcpu = core.vcpu
        # run_end[j]: the first row at or after j that is not plain
        bad = np.append(np.flatnonzero(~self.plain), len(self.plain))
        self.run_end = bad[np.searchsorted(bad, np.arange(len(self.plain)))]
        self.slow_until = 0
        self._first_run: LaidOut | None = None

    def lay_out_first_run(self) -> None:
        """The layers of the plain run at row 0, computed now (a batch ahead, on a thread of
        its own): once the pace has grown, a conversion-heavy batch is that one run, applied
        in one attempt."""
        stop = int(self.run_end[0]) if len(self.plain) else 0
        if stop >= MIN_RUN:
            level, exact = layers(self.lo[:stop], self.hi[:stop])
            whole = exact == stop
            self._first_run = LaidOut(
                stop, level, exact, self._layer_list(0, level) if whole else None,
                sorted_bounds(self.lo[:stop], self.hi[:stop], self.model.pages.limit)
                if whole else None)

    def open(self) -> bool:
        """The core's state lets plain conversions through (nothing pending to judge)."""
        k = self.model.k
        return (k.dead_seq is None and not k.conversions_stopped
                and self.model.mailbox.test_deadline is None)

    def run(self, j: int) -> int:
        """Apply the plain run starting at row j (or a prefix of it); rows applied."""
        if j < self.slow_until or self.run_end[j] - j < MIN_RUN or not self.open():
            return 0
        pace = self.pace
        stop = min(int(self.run_end[j]), j + pace.attempt)
        stop = self._before_open_ops(j, stop)
        done, failed = self._apply(j, stop) if stop - j >= MIN_RUN else (0, True)
        if done < MIN_RUN:
            self.slow_until, pace.attempt = j + MIN_RUN, FIRST_TRY
            return done
        # a run cut by an ACCEPT that was not plain cost a second pass: try shorter ones; one
        # cut where its layers stop being exact cost nothing more, and the next goes on
        if done == stop - j:
            pace.attempt = min(pace.attempt * 2, MAX_TRY)
        elif failed:
            pace.attempt = FIRST_TRY
        return done

    def _before_open_ops(self, j: int, stop: int) -> int:
        """Cut before the first MapGPA of a vCPU whose operation is open (it may continue)."""
        for vcpu, op in self.model.k.ops.items():
            if op.open:
                hits = np.flatnonzero(self.is_map[j:stop] & (self.vcpu[j:stop] == vcpu))
                if len(hits):
                    stop = j + int(hits[0])
        return stop

    def _apply(self, j: int, stop: int) -> tuple[int, bool]:
        """Apply rows j..stop-1, or a prefix: the rows applied, and whether an ACCEPT that is
        not plain cut them (else where their layers stop being exact may have)."""
        pages = self.model.pages
        laid_out = self._first_run
        planned, bounds = None, None
        if laid_out is not None and j == 0 and stop == laid_out.stop:
            level, exact = laid_out.level, laid_out.exact
            planned, bounds = laid_out.layers, laid_out.bounds
        else:
            level, exact = layers(self.lo[j:stop], self.hi[j:stop])
        stop = j + exact
        saved = pages.snapshot()
        run = islands(pages, self.lo[j:stop], self.hi[j:stop], bounds)
        failed = self._layers(pages if run is None else run.small, j, stop, level[:exact],
                              planned)
        if failed is not None:
            pages.restore(saved)
            stop = failed
            run = islands(pages, self.lo[j:stop], self.hi[j:stop])
            self._layers(pages if run is None else run.small, j, stop, level[:stop - j])
        if run is not None:
            write_back(pages, run)
        for vcpu in distinct(self.vcpu[j:stop][self.is_map[j:stop]]).tolist():
            self.model.k.ops.pop(vcpu, None)
        return stop - j, failed is not None

    def _layer_list(self, j: int, level: np.ndarray) -> list[Layer]:
        """The layers of rows j.. (`level`: each row's), in order."""
        out = []
        for lv in range(int(level.max()) + 1 if len(level) else 0):
            rows = np.flatnonzero(level == lv)
            lo = self.lo[j + rows]
            order = np.argsort(lo)  # disjoint: distinct starts
            rows, lo = rows[order], lo[order]
            at = j + rows
            out.append(Layer(at, lo, self.hi[at], self.is_accept[at], self.change[at],
                             self.seq[at], self.ts[at]))
        return out

    def _layers(self, pages: PageMap, j: int, stop: int, level: np.ndarray,
                planned: list[Layer] | None = None) -> int | None:
        """Apply the layers in order (`planned`: laid out already); the row of the first
        ACCEPT found not plain, if any."""
        gen = np.full(stop - j, self.model.k.generation, dtype=np.int64)  # one value: sliced
        failed: int | None = None
        for layer in planned if planned is not None else self._layer_list(j, level):
            if layer.accepts.any():
                ok = pages.pending_whole(layer.lo, layer.hi) | ~layer.accepts
                if not ok.all():
                    first = int(layer.at[~ok].min())
                    failed = first if failed is None else min(failed, first)
            pages.apply(layer.lo, layer.hi, layer.change, layer.seq, layer.ts,
                        gen[:len(layer.at)])
        return failed
