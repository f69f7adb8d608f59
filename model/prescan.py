"""First pass over a trace: counts, coverage evidence, unmodeled calls, console phase markers.

Reads only a few narrow columns, in bulk. What it finds decides which rules run (T003), which
console lines act as kexec phase markers (FORMATS.md §1–§2), and the T002 findings.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tdxray.model.columns import BatchView, isin_small
from tdxray.model.coverage import Observed, declared_kinds, with_console_probes
from tdxray.model.death import DEATH_KINDS, find_deaths
from tdxray.schema.constants import (
    HOST_TDVMCALL_KINDS,
    LEAF_NAMES,
    LOG_BOOT_MARKER,
    LOG_SHUTDOWN_MARKER,
    QEMU_CONVERSION_REQUEST_KINDS,
    SUBFN_NAMES,
    TDVMCALL_RETRY,
    TDX_OPERAND_INVALID,
)
from tdxray.schema.events import KNOWN_KINDS
from tdxray.store.read import TraceFile


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
    retries: int = 0  # MapGPA RETRYs, counted only when the sources declare what they observe
    accept_statuses: int = 0  # ACCEPTs with a TDX status a bool cannot carry (the same way)
    phase_items: list[tuple[int, str, bool]] = field(default_factory=list)  # seq, phase, explicit
    unmodeled: dict[str, Unmodeled] = field(default_factory=dict)
    last: tuple[int, int, int] | None = None  # seq, ts, vcpu of the last event
    declared: frozenset[str] = frozenset()  # kinds the sources could observe (ingest provenance)
    deaths: dict[int, str] = field(default_factory=dict)  # the TD's death as the host saw it
    # kinds the guest's probe script says it could not place (`tdxray-probes: not seen: …`)
    unplaced: set[str] = field(default_factory=set)

    def observed(self) -> Observed:
        declared = with_console_probes(self.declared, self.kind_counts) - self.unplaced
        wakeup, test = "wakeup" not in self.unplaced, "test" not in self.unplaced
        writes = self.kind_counts["mailbox_write"]  # seen, not declared
        k = Counter({kind: 1 for kind in declared}) + self.kind_counts
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
            retry=self.retries > 0,
            accept_status=self.accept_statuses > 0,
            finish_seen=self._jump_seen() or any(p == "finish" for _, p, _ in self.phase_items),
            jump_seen=self._jump_seen(),
            undeclared=not self.declared,
            mapgpa_placed="map_gpa" not in self.unplaced or k["map_gpa"] > 0,
            accept_placed="accept" not in self.unplaced or k["accept"] > 0,
            wakeup_placed=wakeup or (not test and writes > 0),
            test_placed=test or (not wakeup and writes > 0),
            # stop_this_cpu alone shows every AP's stop (parked on a v1 mailbox)
            stop_placed=not {"stopped", "parked"} <= self.unplaced or self.kind_counts["cpu"] > 0,
        )

    def _jump_seen(self) -> bool:
        """A jump, explicit or implied (relocate_kernel CR4 write, a boot after another phase),
        or the TD's death (the jump-time checks run at it during a kexec)."""
        phases = [phase for _, phase, _ in self.phase_items]
        later_boot = "boot" in phases[next((i for i, p in enumerate(phases) if p != "boot"),
                                           len(phases)):]
        return "jump" in phases or later_boot or self.relocate_cr4 > 0 or bool(self.deaths)

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
    """Pass 1: kinds per trace (the `kind` column only) and, if there are console lines or
    kexec events, the phase events and markers. The rest of the evidence comes from `observe`
    in pass 2."""
    scan = Prescan(declared=declared_kinds(trace.header.provenance))
    for batch in trace.iter_batches(["kind"]):
        kind = _dictionary(batch.column("kind"))
        counts = np.bincount(kind.indices.to_numpy(zero_copy_only=False),
                             minlength=len(kind.dictionary))
        for name, count in zip(kind.dictionary.to_pylist(), counts.tolist(), strict=True):
            if count:
                scan.kind_counts[name] += count
        scan.events += batch.num_rows
    if scan.kind_counts["log"] or scan.kind_counts["kexec"]:
        text = ["text"] if scan.kind_counts["log"] else []
        for batch in trace.iter_batches(["seq", "kind", "phase", *text]):
            scan_phases(scan, batch, batch.column("kind"))
    if any(scan.kind_counts[kind] for kind in DEATH_KINDS):
        for batch in trace.iter_batches(["seq", "kind", "extra"]):
            scan.deaths.update(find_deaths(batch))
    return scan


def _dictionary(kind: pa.Array) -> pa.DictionaryArray:
    return kind if isinstance(kind, pa.DictionaryArray) else kind.dictionary_encode()


def observe(scan: Prescan, view: BatchView) -> None:
    """Pass 2, per batch: generic MapGPA/ACCEPT spellings, relocate_kernel CR4 writes,
    unmodeled kinds, leaves and sub-functions (T002), the last event."""
    if view.rows == 0:
        return
    names = set(view.kind_names)
    if "tdvmcall" in names:
        vm = view.standard_vmcall()
        scan.mapgpa_generic += int(view.generic_mapgpa().sum())
        subfn = view.number("subfn", fill=-1 & 0xFFFFFFFFFFFFFFFF)
        odd = vm & ~isin_small(subfn, _KNOWN_SUBFNS)
        _note_values(scan, view, odd, subfn, "tdvmcall sub-function")
    if "tdcall" in names:
        scan.accept_generic += int(view.generic_accept().sum())
        leaf = view.number("leaf", fill=-1 & 0xFFFFFFFFFFFFFFFF)
        odd = view.is_kind("tdcall") & ~isin_small(leaf, _KNOWN_LEAVES)
        _note_values(scan, view, odd, leaf, "TDCALL leaf")
    if scan.declared and not scan.retries:
        scan.retries += _retries(view, names)
    if scan.declared and not scan.accept_statuses:
        scan.accept_statuses += _accept_statuses(view, names)
    if "cr4_write" in names:
        rows = np.flatnonzero(view.is_kind("cr4_write"))
        scan.relocate_cr4 += view.strings_at("site", rows).count("relocate_kernel")
    for name in (names - set(KNOWN_KINDS) - set(HOST_TDVMCALL_KINDS)
                 - set(QEMU_CONVERSION_REQUEST_KINDS)):
        rows = np.flatnonzero(view.is_kind(name))
        if name in DEATH_KINDS and scan.deaths:  # the TD's death is modeled (death.py)
            rows = rows[~np.isin(view.seq[rows], np.fromiter(scan.deaths, dtype=np.uint64))]
        if len(rows):
            _note(scan, f"event kind {name!r}", view, rows)
    scan.last = (int(view.seq[-1]), int(view.ts[-1]), int(view.vcpu[-1]))


def _retries(view: BatchView, names: set[str]) -> int:
    """MapGPA RETRYs in the batch, in either spelling."""
    calls = np.zeros(view.rows, dtype=bool)
    if "map_gpa" in names:
        calls |= view.is_kind("map_gpa")
    if "tdvmcall" in names:
        calls |= view.generic_mapgpa()
    return int((calls & (view.number("status", fill=0) == TDVMCALL_RETRY)).sum()) \
        if calls.any() else 0


def _accept_statuses(view: BatchView, names: set[str]) -> int:
    """ACCEPTs in the batch, in either spelling, whose TDX status class is neither SUCCESS nor
    OPERAND_INVALID (the only two a guest's tdx_accept_memory probe can give)."""
    calls = np.zeros(view.rows, dtype=bool)
    if "accept" in names:
        calls |= view.is_kind("accept")
    if "tdcall" in names:
        calls |= view.generic_accept()
    if not calls.any():
        return 0
    status_class = view.number("status", fill=0) >> np.uint64(32)
    return int((calls & (status_class != 0)
                & (status_class != np.uint64(TDX_OPERAND_INVALID >> 32))).sum())


_KNOWN_SUBFNS = np.array(sorted(SUBFN_NAMES), dtype=np.uint64)
_KNOWN_LEAVES = np.array(sorted(LEAF_NAMES), dtype=np.uint64)
_NONE = 0xFFFFFFFFFFFFFFFF


def _note(scan: Prescan, what: str, view: BatchView, rows: np.ndarray) -> None:
    entry = scan.unmodeled.get(what)
    if entry is None:
        i = int(rows[0])
        entry = Unmodeled(what, int(view.seq[i]), int(view.ts[i]), int(view.vcpu[i]))
        scan.unmodeled[what] = entry
    entry.count += len(rows)


def _note_values(scan: Prescan, view: BatchView, mask: np.ndarray, values: np.ndarray,
                 label: str) -> None:
    rows = np.flatnonzero(mask)
    if not len(rows):
        return
    for value in np.unique(values[rows]).tolist():
        shown = "none" if value == _NONE else f"{value:#x}"
        _note(scan, f"{label} {shown}", view, rows[values[rows] == value])


def scan_phases(scan: Prescan, batch: pa.RecordBatch, kinds: pa.Array) -> None:
    """The batch's kexec events and console phase markers, in row order (`kinds`: the kind
    column, plain or dictionary-encoded); console lines only when the batch has `text`."""
    kexec = np.flatnonzero(_is(kinds, "kexec"))
    logs = np.flatnonzero(_is(kinds, "log")) if "text" in batch.schema.names else kexec[:0]
    down = np.zeros(0, dtype=bool)
    if len(logs):  # the text of console lines only
        text = batch.column("text").take(pa.array(logs))
        shutdown = pc.fill_null(pc.match_substring(text, LOG_SHUTDOWN_MARKER), False)
        boot = pc.fill_null(pc.starts_with(
            pc.utf8_ltrim(pc.replace_substring_regex(text, r"^(\[[^\]]*\]\s*)+", ""), " "),
            LOG_BOOT_MARKER), False)
        _note_unplaced(scan, text)
        down = shutdown.to_numpy(zero_copy_only=False)
        marked = down | boot.to_numpy(zero_copy_only=False)
        logs, down = logs[marked], down[marked]
    if not len(kexec) and not len(logs):
        return
    rows = np.concatenate([kexec, logs])
    order = np.argsort(rows, kind="stable")
    rows = rows[order]
    explicit = (np.arange(len(order)) < len(kexec))[order].tolist()
    shutdown_at = dict(zip(logs.tolist(), down.tolist(), strict=True))
    take = pa.array(rows)
    seqs = batch.column("seq").take(take).to_pylist()
    phases = batch.column("phase").take(take).cast(pa.string()).to_pylist()
    for row, seq, phase, explicit_kexec in zip(rows.tolist(), seqs, phases, explicit,
                                               strict=True):
        if explicit_kexec:
            scan.phase_items.append((seq, phase, True))
        else:
            scan.phase_items.append((seq, "shutdown" if shutdown_at[row] else "boot", False))


# `tdxray probes --script` writes what it could not place to /dev/kmsg (ingest/kprobe/script.py):
# `tdxray-probes: not seen: MapGPA conversions (map_gpa), whether a MapGPA succeeded, …`. A
# probe the kernel refused or does not have (tdx_map_gpa is static: a compiler may inline it)
# shows nothing, so its kind is a blind spot, not an absence.
NOT_SEEN = "tdxray-probes: not seen: "
UNPLACED_RE = re.compile(r"\((map_gpa|accept)\)|mailbox (WAKEUP|TEST) writes|"
                         r"APs (stopped|parked) before the jump")


def _note_unplaced(scan: Prescan, text: pa.Array) -> None:
    """The probes the line names: `map_gpa`, `accept`, `wakeup` (acpi_wakeup_cpu), `test`
    (acpi_mp_cpu_die), `stopped` (stop_this_cpu), `parked` (acpi_mp_stop_this_cpu)."""
    lines = pc.filter(text, pc.fill_null(pc.match_substring(text, NOT_SEEN), False))
    for line in lines.to_pylist():
        for kind, command, stop in UNPLACED_RE.findall(line.split(NOT_SEEN, 1)[1]):
            scan.unplaced.add(kind or command.lower() or stop)


def _is(kinds: pa.Array, name: str) -> np.ndarray:
    """Rows whose kind is `name`: on the dictionary's codes when it has one (no string per
    row)."""
    if isinstance(kinds, pa.DictionaryArray):
        codes = [i for i, n in enumerate(kinds.dictionary.to_pylist()) if n == name]
        if not codes:
            return np.zeros(len(kinds), dtype=bool)
        return np.isin(kinds.indices.fill_null(-1).to_numpy(zero_copy_only=False), codes)
    return pc.fill_null(pc.equal(kinds, name), False).to_numpy(zero_copy_only=False)
