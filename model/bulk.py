"""Checks over every event, done in bulk with numpy: T001 (time backwards) and T004 (vCPU, and
an MMIO TDVMCALL's GPA beyond GPAW).

They run per row group after the sequential core, so they know the generation boundaries
(boots) and where the TD died (events after a fatal divergence are not judged).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tdxray.model.columns import BatchView
from tdxray.model.divergence import Divergence
from tdxray.schema.constants import PAGE_SIZE, Subfn


@dataclass
class BulkChecks:
    vcpus: int
    gpaw: int | None = None  # judges MMIO TDVMCALLs' GPAs when given
    reported_vcpus: set[int] = field(default_factory=set)
    reported_clock: set[tuple[int, int]] = field(default_factory=set)  # (vcpu, clock segment)
    # vcpu -> (clock segment, ts, seq) of its last event so far
    last: dict[int, tuple[int, int, int]] = field(default_factory=dict)
    found: list[Divergence] = field(default_factory=list)

    def run(self, seq: np.ndarray, ts: np.ndarray, vcpu: np.ndarray, boots: np.ndarray,
            gen_starts: np.ndarray, dead_seq: int | None) -> None:
        if dead_seq is not None:
            keep = seq <= dead_seq
            if not keep.all():
                seq, ts, vcpu = seq[keep], ts[keep], vcpu[keep]
        if not len(seq):
            return
        generation = _segment(gen_starts, seq)
        self._vcpus_in_config(seq, ts, vcpu, generation)
        self._time_backwards(seq, ts, vcpu, _segment(boots, seq), generation)

    def mmio_beyond_gpaw(self, view: BatchView, gen_starts: np.ndarray,
                         dead_seq: int | None) -> None:
        """T004 (§5: "a GPA lies beyond GPAW") for an MMIO TDVMCALL (#VE.RequestMMIO, exit
        reason 48) whose GPA, R14 in the GHCI, has bits at or above GPAW; one per event, with
        the 4 KiB page accessed (without the shared bit), as for an access. Device GPAs below
        GPAW are normal MMIO, inside RAM or not."""
        if self.gpaw is None or "tdvmcall" not in view.kind_names \
                or "r14" not in view.batch.schema.names:  # no R14 can reach GPAW (replay)
            return
        mmio = view.standard_vmcall() & view.valid("subfn") \
            & (view.number("subfn") == int(Subfn.MMIO))
        if not mmio.any():
            return
        mmio &= view.valid("r14") & (view.number("r14") >= np.uint64(1 << self.gpaw))
        if dead_seq is not None:
            mmio &= view.seq <= dead_seq
        rows = np.flatnonzero(mmio)
        if not len(rows):
            return
        sbit = 1 << (self.gpaw - 1)
        seqs = view.seq[rows]
        generation = _segment(gen_starts, seqs)
        for i, row in enumerate(rows.tolist()):
            gpa = int(view.number("r14")[row])
            page = gpa & ~sbit & ~(PAGE_SIZE - 1)
            self.found.append(Divergence(
                "T004", f"MMIO TDVMCALL at {gpa:#x} lies beyond GPAW {self.gpaw}",
                seq=int(seqs[i]), ts_ns=int(view.ts[row]), vcpu=int(view.vcpu[row]),
                gpa_start=page, gpa_end=page + PAGE_SIZE, pages=1, generation=int(generation[i]),
                location=f"gpa:{gpa:x}"))

    def _vcpus_in_config(self, seq: np.ndarray, ts: np.ndarray, vcpu: np.ndarray,
                         generation: np.ndarray) -> None:
        bad = np.flatnonzero(vcpu >= self.vcpus)
        if not len(bad):
            return
        ids, first = np.unique(vcpu[bad], return_index=True)
        for v, i in zip(ids.tolist(), bad[first].tolist(), strict=True):
            if v in self.reported_vcpus:
                continue
            self.reported_vcpus.add(v)
            self.found.append(Divergence(
                "T004", f"vCPU {v} is not in the TD configuration ({self.vcpus} vCPUs)",
                seq=int(seq[i]), ts_ns=int(ts[i]), vcpu=v, generation=int(generation[i]),
                location=f"vcpu:{v}"))

    def _time_backwards(self, seq: np.ndarray, ts: np.ndarray, vcpu: np.ndarray,
                        clock: np.ndarray, generation: np.ndarray) -> None:
        present = _vcpus_present(vcpu)
        if present is not None and bool((ts[1:] >= ts[:-1]).all()):
            # time never goes back in the batch, so on no vCPU either: only the carries count
            hits = self._carried(seq, ts, vcpu, clock, present)
        else:
            hits = self._grouped(seq, ts, vcpu, clock)
        for row, prev_seq, prev_ts in sorted(hits):
            key = (int(vcpu[row]), int(clock[row]))
            if key in self.reported_clock:
                continue
            self.reported_clock.add(key)
            self.found.append(Divergence(
                "T001", f"timestamp goes backwards on vCPU {key[0]}: {int(ts[row])} ns after "
                f"{prev_ts} ns (seq {prev_seq})", seq=int(seq[row]), ts_ns=int(ts[row]),
                vcpu=key[0], cause_seqs=[prev_seq], generation=int(generation[row]),
                location=f"vcpu:{key[0]}"))


    def _grouped(self, seq: np.ndarray, ts: np.ndarray, vcpu: np.ndarray,
                 clock: np.ndarray) -> list[tuple[int, int, int]]:
        """(row, previous seq, previous ts) of each step back, the batch grouped by vCPU."""
        order = _group_by_vcpu(vcpu)
        v, t, c = vcpu[order], ts[order], clock[order]
        same = (v[1:] == v[:-1]) & (c[1:] == c[:-1])
        back = np.flatnonzero(same & (t[1:] < t[:-1])) + 1
        # the first event of each vCPU in this batch against the carry from earlier batches
        starts = np.flatnonzero(np.r_[True, v[1:] != v[:-1]])
        hits: list[tuple[int, int, int]] = []
        for j in back.tolist():
            prev = int(order[j - 1])
            hits.append((int(order[j]), int(seq[prev]), int(ts[prev])))
        for j in starts.tolist():
            carry = self.last.get(int(v[j]))
            if carry is not None and carry[0] == c[j] and t[j] < carry[1]:
                hits.append((int(order[j]), carry[2], carry[1]))
        ends = np.r_[starts[1:], len(v)] - 1
        for j in ends.tolist():
            self.last[int(v[j])] = (int(c[j]), int(t[j]), int(seq[order[j]]))
        return hits

    def _carried(self, seq: np.ndarray, ts: np.ndarray, vcpu: np.ndarray, clock: np.ndarray,
                 present: list[int]) -> list[tuple[int, int, int]]:
        """The steps back of a batch whose time only goes forward: each vCPU's first event
        against its carry from earlier batches (then its last event becomes the carry)."""
        hits: list[tuple[int, int, int]] = []
        n = len(vcpu)
        for v in present:
            mine = vcpu == v
            first, last = int(mine.argmax()), n - 1 - int(mine[::-1].argmax())
            carry = self.last.get(v)
            if carry is not None and carry[0] == clock[first] and ts[first] < carry[1]:
                hits.append((first, carry[2], carry[1]))
            self.last[v] = (int(clock[last]), int(ts[last]), int(seq[last]))
        return hits


def _vcpus_present(vcpu: np.ndarray) -> list[int] | None:
    """The vCPUs of a batch if their numbers span at most 32 (None otherwise)."""
    lo, hi = int(vcpu.min()), int(vcpu.max())
    if hi - lo >= 32:
        return None
    return [v for v in range(lo, hi + 1) if (vcpu == v).any()]


def _segment(boundaries: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """How many boundaries lie at or before each seq (0 everywhere when there are none)."""
    if not len(boundaries) or boundaries[0] > seq[-1]:
        return np.zeros(len(seq), dtype=np.int64)
    if len(boundaries) <= 64 and bool((seq[1:] >= seq[:-1]).all()):
        # seqs in order: the count steps up at a few places; fill the stretches between them
        edges = [0, *np.searchsorted(seq, boundaries, side="left").tolist(), len(seq)]
        out = np.empty(len(seq), dtype=np.int64)
        for k in range(len(edges) - 1):
            out[edges[k]:edges[k + 1]] = k
        return out
    return np.searchsorted(boundaries, seq, side="right")


def _group_by_vcpu(vcpu: np.ndarray) -> np.ndarray:
    """Row order grouped by vCPU, seq order kept within each (a stable argsort, faster for
    the handful of vCPUs a TD has)."""
    counts = np.bincount(vcpu) if vcpu.max() < 4096 else None
    if counts is None or np.count_nonzero(counts) > 32:
        return np.argsort(vcpu, kind="stable")
    return np.concatenate([np.flatnonzero(vcpu == v) for v in np.flatnonzero(counts)])
