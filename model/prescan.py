"""First pass over a trace: counts, coverage evidence, unmodeled calls, console phase markers.

Reads only a few narrow columns, in bulk. What it finds decides which rules run (T003), which
console lines act as kexec phase markers (FORMATS.md §1–§2), and the T002 findings.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tdxray.model.coverage import Observed
from tdxray.schema.constants import (
    LEAF_NAMES,
    LOG_BOOT_MARKER,
    LOG_SHUTDOWN_MARKER,
    SUBFN_NAMES,
    Leaf,
    Subfn,
)
from tdxray.schema.events import KNOWN_KINDS
from tdxray.store.read import TraceFile

PRESCAN_COLUMNS = ["seq", "ts_ns", "vcpu", "kind", "leaf", "subfn", "r10", "phase", "text", "site"]


@dataclass
class Unmodeled:
    """One thing the model does not know (T002): first seen where, how often."""

    what: str
    seq: int
    ts: int
    vcpu: int
    count: int = 0


@dataclass
class Prescan:
    events: int = 0
    kind_counts: Counter[str] = field(default_factory=Counter)
    mapgpa_generic: int = 0
    accept_generic: int = 0
    relocate_cr4: int = 0  # CR4 writes in relocate_kernel: a jump even without a jump event
    phase_items: list[tuple[int, str, bool]] = field(default_factory=list)  # seq, phase, explicit
    unmodeled: dict[str, Unmodeled] = field(default_factory=dict)
    last: tuple[int, int, int] | None = None  # seq, ts, vcpu of the last event

    def observed(self) -> Observed:
        k = self.kind_counts
        markers = any(not explicit for _, _, explicit in self.phase_items)
        return Observed(
            kexec=k["kexec"] > 0 or markers or self.relocate_cr4 > 0,
            map_gpa=k["map_gpa"] > 0 or self.mapgpa_generic > 0,
            convert=k["convert"] > 0,
            accept=k["accept"] > 0 or self.accept_generic > 0,
            cr4_write=k["cr4_write"] > 0,
            mailbox=k["mailbox_write"] > 0,
            cpu=k["cpu"] > 0 or k["mailbox_write"] > 0 or k["mailbox_read"] > 0,
            mem_access=k["mem_access"] > 0,
            log=k["log"] > 0,
        )

    def console_markers(self) -> dict[int, str]:
        """Console lines that act as phase markers: seq -> phase.

        A marker line stands for its phase unless the trace has an explicit kexec event of
        that phase in the same generation.
        """
        items = self.phase_items
        markers: dict[int, str] = {}
        for i, (seq, phase, explicit) in enumerate(items):
            if explicit:
                continue
            if not _explicit_nearby(items, i, phase):
                markers[seq] = phase
        return markers


def _explicit_nearby(items: list[tuple[int, str, bool]], i: int, phase: str) -> bool:
    """An explicit event of `phase` in the same generation as the marker at items[i]."""
    for step in (-1, 1):
        j = i + step
        while 0 <= j < len(items):
            _, other, explicit = items[j]
            if explicit and other == phase:
                return True
            if phase == "boot" and other != "boot":
                break  # a boot marker and its explicit boot are next to each other
            if phase != "boot" and other in ("boot", "jump"):
                break  # a generation ends at its jump / starts at its boot
            j += step
    return False


def prescan(trace: TraceFile) -> Prescan:
    scan = Prescan()
    known_kinds = pa.array(list(KNOWN_KINDS))
    for batch in trace.iter_batches(PRESCAN_COLUMNS):
        if batch.num_rows == 0:
            continue
        scan.events += batch.num_rows
        kind = batch.column("kind")
        if not isinstance(kind, pa.DictionaryArray):
            kind = kind.dictionary_encode()
        counts = np.bincount(kind.indices.to_numpy(zero_copy_only=False),
                             minlength=len(kind.dictionary))
        names = kind.dictionary.to_pylist()
        for name, count in zip(names, counts.tolist(), strict=True):
            if count:
                scan.kind_counts[name] += count
        kinds = kind.cast(pa.string())
        _scan_calls(scan, batch, kinds)
        site = batch.column("site").cast(pa.string())
        scan.relocate_cr4 += pc.sum(pc.equal(site, "relocate_kernel")).as_py() or 0
        _scan_phases(scan, batch, kinds)
        _scan_unknown_kinds(scan, batch, kind, known_kinds)
        n = batch.num_rows - 1
        scan.last = (batch.column("seq")[n].as_py(), batch.column("ts_ns")[n].as_py(),
                     batch.column("vcpu")[n].as_py())
    return scan


def _note(scan: Prescan, what: str, batch: pa.RecordBatch, rows: np.ndarray) -> None:
    entry = scan.unmodeled.get(what)
    if entry is None:
        i = int(rows[0])
        entry = Unmodeled(what, batch.column("seq")[i].as_py(), batch.column("ts_ns")[i].as_py(),
                          batch.column("vcpu")[i].as_py())
        scan.unmodeled[what] = entry
    entry.count += len(rows)


def _scan_calls(scan: Prescan, batch: pa.RecordBatch, kinds: pa.Array) -> None:
    is_vmcall = pc.equal(kinds, "tdvmcall")
    standard = pc.fill_null(pc.equal(batch.column("r10"), 0), True)
    subfn = batch.column("subfn")
    vm = pc.and_(is_vmcall, standard)
    scan.mapgpa_generic += pc.sum(pc.and_(vm, pc.equal(subfn, int(Subfn.MAP_GPA)))).as_py() or 0
    is_tdcall = pc.equal(kinds, "tdcall")
    leaf = batch.column("leaf")
    scan.accept_generic += pc.sum(pc.and_(is_tdcall,
                                          pc.equal(leaf, int(Leaf.MEM_PAGE_ACCEPT)))).as_py() or 0
    known_subfns = pa.array(sorted(SUBFN_NAMES), type=pa.uint64())
    odd_vm = pc.fill_null(pc.and_(vm, pc.invert(pc.is_in(subfn, known_subfns))), False)
    _note_values(scan, batch, odd_vm, subfn, "tdvmcall sub-function")
    known_leaves = pa.array(sorted(LEAF_NAMES), type=pa.uint64())
    odd_leaf = pc.fill_null(pc.and_(is_tdcall, pc.invert(pc.is_in(leaf, known_leaves))), False)
    _note_values(scan, batch, odd_leaf, leaf, "TDCALL leaf")


def _note_values(scan: Prescan, batch: pa.RecordBatch, mask: pa.Array, values: pa.Array,
                 label: str) -> None:
    rows = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
    if not len(rows):
        return
    picked = values.take(pa.array(rows)).to_pylist()
    by_value: dict[object, list[int]] = {}
    for row, value in zip(rows.tolist(), picked, strict=True):
        by_value.setdefault(value, []).append(row)
    for value, value_rows in by_value.items():
        shown = f"{value:#x}" if isinstance(value, int) else "none"
        _note(scan, f"{label} {shown}", batch, np.array(value_rows))


def _scan_unknown_kinds(scan: Prescan, batch: pa.RecordBatch, kind: pa.DictionaryArray,
                        known: pa.Array) -> None:
    names = kind.dictionary
    unknown = pc.invert(pc.is_in(names, known)).to_numpy(zero_copy_only=False)
    if not unknown.any():
        return
    codes = kind.indices.to_numpy(zero_copy_only=False)
    for code in np.flatnonzero(unknown).tolist():
        rows = np.flatnonzero(codes == code)
        if len(rows):
            _note(scan, f"event kind {names[code].as_py()!r}", batch, rows)


def _scan_phases(scan: Prescan, batch: pa.RecordBatch, kinds: pa.Array) -> None:
    is_kexec = pc.equal(kinds, "kexec").to_numpy(zero_copy_only=False)
    text = batch.column("text")
    is_log = pc.equal(kinds, "log")
    shutdown = pc.fill_null(pc.and_(is_log, pc.match_substring(text, LOG_SHUTDOWN_MARKER)), False)
    boot = pc.fill_null(pc.and_(is_log, pc.starts_with(
        pc.utf8_ltrim(pc.replace_substring_regex(text, r"^(\[[^\]]*\]\s*)+", ""), " "),
        LOG_BOOT_MARKER)), False)
    rows = np.flatnonzero(is_kexec | shutdown.to_numpy(zero_copy_only=False)
                          | boot.to_numpy(zero_copy_only=False))
    if not len(rows):
        return
    take = pa.array(rows)
    seqs = batch.column("seq").take(take).to_pylist()
    phases = batch.column("phase").take(take).cast(pa.string()).to_pylist()
    is_shutdown = shutdown.take(take).to_pylist()
    for seq, phase, explicit_kexec, down in zip(seqs, phases, is_kexec[rows].tolist(),
                                                is_shutdown, strict=True):
        if explicit_kexec:
            scan.phase_items.append((seq, phase, True))
        else:
            scan.phase_items.append((seq, "shutdown" if down else "boot", False))
