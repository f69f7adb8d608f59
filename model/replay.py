"""Replay a stored trace against the model, row group by row group, in constant memory.

Pass 1 (prescan) reads a few narrow columns: counts, coverage, console phase markers, T002.
Pass 2 streams the trace: a columnar mask picks the events that change model state (a few
percent of a typical trace); only those go through the sequential core, in seq order. The
rest is checked in bulk (T001, T004) and for the M005 deadline.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tdxray import __version__
from tdxray.model.ahead import ahead
from tdxray.model.bulk import BulkChecks
from tdxray.model.columns import BatchView
from tdxray.model.core import ACCOUNTING_OFF, NR_SHARED, Model
from tdxray.model.coverage import plan
from tdxray.model.death import DEATH_KINDS
from tdxray.model.divergence import Divergence
from tdxray.model.fastlane import FastLane, Pace
from tdxray.model.losses import lost_finding
from tdxray.model.outputs import (
    DIVERGENCES_FILE,
    PAGE_HISTORY_FILE,
    RESULTS_VERSION,
    STAMP_FILE,
    PageHistoryWriter,
    divergences_table,
    read_result,
)
from tdxray.model.prescan import Prescan, observe, prescan
from tdxray.model.result import ReplayResult
from tdxray.schema.constants import ACCEPT_LEVEL_MASK, TDVMCALL_RETRY, Subfn
from tdxray.schema.losses import Loss, losses_of
from tdxray.schema.td import TraceHeader
from tdxray.store.read import Deferred, TraceFile, check_unchecked, open_trace
from tdxray.store.scratch import make_dir, remove_dir, scratch_dir

Progress = Callable[[int, int], None]

CORE_KINDS = ("map_gpa", "accept", "cr4_write", "mailbox_write", "mailbox_read", "cpu", "kexec",
              "convert", "mem_access")
# What the sequential core reads of each of its events (the order _dispatch unpacks).
CORE_COLUMNS = ["seq", "ts_ns", "vcpu", "kind", "status", "gpa", "size", "resume_gpa", "level",
                "rcx", "r12", "r13", "r11_out", "old", "new", "site", "field", "value",
                "apic_id", "action", "phase", "to_private", "write", "text"]
READ_COLUMNS = [*CORE_COLUMNS, "leaf", "subfn", "r10"]
# Rows per batch of the main pass: decoded a batch at a time, they stay in the CPU's caches
# (at 1e7 events, 64Ki-row batches replay about 1.3x faster and with 100 MiB less than
# whole 512Ki-row groups)
BATCH_ROWS = 1 << 16


# R12/R13 (a MapGPA's operands in the generic spelling: _core_mask, _dispatch) are the most
# costly columns to decode, and most TDVMCALLs are other sub-functions: they are decoded only
# in the row groups whose sub-functions may include MapGPA
MAPGPA_OPERANDS = Deferred(("r12", "r13"), "subfn", int(Subfn.MAP_GPA))


def replay_trace(path: Path, results_dir: Path | None = None,
                 progress: Progress | None = None, *, read_ahead: bool = True) -> ReplayResult:
    """Replay the Parquet trace at `path`; write its results into `results_dir` if given.

    With `read_ahead`, the trace is decoded on a thread of its own, a batch ahead of the
    model (both cores); `read_ahead=False`: no decoding thread, one core (a fleet worker,
    parallel across traces)."""
    trace = open_trace(path, rows_later=True)  # checked as the main pass reads them
    if results_dir is None:  # nobody will read the page history: do not keep it
        return _replay(trace, None, progress, read_ahead)
    with scratch_dir("tdxray-replay-") as scratch:
        history = PageHistoryWriter(Path(scratch) / PAGE_HISTORY_FILE, trace.trace_id)
        try:
            result = _replay(trace, history, progress, read_ahead)
        finally:
            history.close()  # its writer thread ends either way
        _store_results(trace, result, Path(scratch), results_dir)
    return result


class Rows(Protocol):
    """What a replay reads of a trace: a stored TraceFile, or rows already in memory."""

    @property
    def header(self) -> TraceHeader: ...
    @property
    def trace_id(self) -> str: ...
    @property
    def num_rows(self) -> int: ...
    def iter_batches(self, columns: Sequence[str] | None = None, batch_size: int = 1 << 19,
                     prefetch: bool = False, threads: bool = True,
                     deferred: Deferred | None = None) -> Iterator[pa.RecordBatch]: ...


def replay_rows(trace: Rows) -> ReplayResult:
    """Replay rows already in memory (shrink's candidates): no trace file, no results kept."""
    return _replay(trace, None, None, read_ahead=False)


def load_or_replay(path: Path, results_dir: Path | None,
                   progress: Progress | None = None, *, read_ahead: bool = True) -> ReplayResult:
    """Reuse the stored results when they are fresh for this trace file; replay otherwise."""
    if results_dir is not None and is_fresh(path, results_dir):
        check_unchecked(path)  # opened for a replay that is not needed: checked here
        try:
            return read_result(results_dir / DIVERGENCES_FILE)
        except (OSError, ValueError, KeyError, pa.ArrowException):
            pass  # stale or damaged results are recomputed below, never trusted
    return replay_trace(path, results_dir, progress, read_ahead=read_ahead)


def _stamp(path: Path, st: os.stat_result | None = None) -> dict[str, object]:
    """What makes results fresh for a trace file; `st` of the handle read, else of `path` now."""
    st = st or path.stat()
    return {"trace": path.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
            "results_version": RESULTS_VERSION, "tdxray": __version__}


def is_fresh(path: Path, results_dir: Path | str, st: os.stat_result | None = None,
             recorded: str | None = None) -> bool:
    """Whether the results were computed from this trace file (`st`: its stat, when the caller
    has it from a listing of the store). `recorded`: the stamp the store's manifest holds for
    these results (a check records it after writing them); when it matches the trace file,
    replay.json is not read."""
    if not os.path.exists(f"{results_dir}/{DIVERGENCES_FILE}"):
        return False
    try:
        if recorded is not None and json.loads(recorded) == _stamp(path, st):
            return True
    except ValueError:
        pass  # a damaged manifest value: the results' own stamp decides
    try:
        with open(f"{results_dir}/{STAMP_FILE}", "rb") as f:
            return bool(json.loads(f.read()) == _stamp(path, st))
    except (OSError, ValueError):
        return False


def _store_results(trace: TraceFile, result: ReplayResult, scratch: Path,
                   results_dir: Path) -> None:
    """Write the results to temporary names, then rename: never a half-written result."""
    import pyarrow.parquet as pq

    results_dir.mkdir(parents=True, exist_ok=True)
    staged = make_dir(".replay-", results_dir)
    try:
        pq.write_table(divergences_table(trace.trace_id, result.divergences, result),
                       staged / DIVERGENCES_FILE, compression="zstd")
        shutil.move(str(scratch / PAGE_HISTORY_FILE), staged / PAGE_HISTORY_FILE)
        (staged / STAMP_FILE).write_text(json.dumps(_stamp(trace.path, trace.stat)))
        for name in (DIVERGENCES_FILE, PAGE_HISTORY_FILE, STAMP_FILE):
            os.replace(staged / name, results_dir / name)
    finally:
        remove_dir(staged)


def _replay(trace: Rows, history: PageHistoryWriter | None, progress: Progress | None,
            read_ahead: bool = True) -> ReplayResult:
    # read ahead, the main pass's first batch is decoded while the prescan runs
    columns = [*READ_COLUMNS, "r14"] if _r14_beyond_gpaw(trace) else READ_COLUMNS
    batches = trace.iter_batches(columns, batch_size=BATCH_ROWS, prefetch=True,
                                 threads=read_ahead, deferred=MAPGPA_OPERANDS)
    try:
        return _replay_batches(trace, batches, history, progress, read_ahead)
    finally:
        close = getattr(batches, "close", None)
        if close is not None:  # a decoding thread stops even when the replay does early
            close()


def _r14_beyond_gpaw(trace: Rows) -> bool:
    """Whether R14 (an MMIO TDVMCALL's GPA: BulkChecks.mmio_beyond_gpaw) may reach GPAW in some
    row group, by the file's statistics: R14 is decoded only then (in a trace of background
    TDVMCALLs it is about a third of the rows, ~10% of the replay's time)."""
    if not isinstance(trace, TraceFile):
        return True  # rows in memory: every column is there already
    names = trace.parquet.schema_arrow.names
    if "r14" not in names:
        return False
    column, limit = names.index("r14"), 1 << trace.header.td.gpaw
    meta = trace.parquet.metadata
    for rg in range(meta.num_row_groups):
        group = meta.row_group(rg)
        stats = group.column(column).statistics
        if stats is not None and stats.has_null_count and stats.null_count == group.num_rows:
            continue
        if stats is None or not stats.has_min_max or not 0 <= stats.max < limit:
            return True
    return False


def _replay_batches(trace: Rows, batches: Iterator[pa.RecordBatch],
                    history: PageHistoryWriter | None, progress: Progress | None,
                    read_ahead: bool = True) -> ReplayResult:
    try:
        scan = prescan(trace)
        model = Model(trace.header.td, record_history=history is not None)
        model.accept_statuses_recorded = not scan.declared  # text sources: no TDX status
        seen = scan.observed()
        model.counts_shared = not scan.declared or seen.map_gpa or seen.convert  # K007
        markers = scan.console_markers()
        model.plan_phases(scan.phase_items, markers)
        model.plan_deaths(scan.deaths, seen.cr4_write)
    except Exception:
        # rows not checked yet (the main pass checks them as it reads) may be what the
        # prescan stumbled on: the trace's check names the defect, as at open
        if isinstance(trace, TraceFile):
            trace.check_whole()
        raise
    bulk = BulkChecks(trace.header.td.vcpus, trace.header.td.gpaw)
    marker_seqs = np.array(sorted(markers), dtype=np.uint64)
    pace = Pace()  # the fast lane's attempts grow across batches
    done = 0

    def set_up(batch: pa.RecordBatch) -> Prepared:
        return prepare_batch(model, BatchView(batch), marker_seqs, first_layers=read_ahead)

    # read ahead, each batch's set-up runs on a thread of its own while the model replays the
    # batch before
    with closing(ahead(batches, set_up, read_ahead)) as prepared:
        for ready in prepared:
            view = ready.view
            observe(scan, view)
            replay_batch(model, view, markers, marker_seqs, pace, ready)
            bulk.run(view.seq, view.ts, view.vcpu, np.array(model.boot_seqs, dtype=np.uint64),
                     np.array(model.gen_starts, dtype=np.uint64), model.k.dead_seq)
            bulk.mmio_beyond_gpaw(view, np.array(model.gen_starts, dtype=np.uint64),
                                  model.k.dead_seq)
            if history is not None:
                history.add_parts(model.pages.take_history_parts())
            done += view.rows
            if progress is not None:
                progress(done, trace.num_rows)
    model.end(scan.last)
    rules_run, rules_skipped = plan(scan.observed(), judged=model.judged_by_effect())
    if history is not None:
        history.add_parts(model.pages.take_history_parts())
        history.add(model.pages.open_intervals())
    found = [d for d in model.found + bulk.found if d.rule in set(rules_run)]
    found += _info_findings(scan, rules_skipped, losses_of(trace.header))
    found.sort(key=Divergence.sort_key)
    return ReplayResult(
        trace_id=trace.trace_id, events=scan.events, rules_run=rules_run,
        rules_skipped=rules_skipped, divergences=found,
        generations=model.k.generation + 1, kind_counts=dict(scan.kind_counts))


def _info_findings(scan: Prescan, skipped: list[tuple[str, str]],
                   losses: tuple[Loss, ...] = ()) -> list[Divergence]:
    out = [lost_finding(losses)] if losses else []
    for u in scan.unmodeled.values():
        noun = "event" if u.count == 1 else "events"
        out.append(Divergence("T002", f"{u.what} is not modeled ({u.count} {noun})", seq=u.seq,
                              ts_ns=u.ts, vcpu=u.vcpu, location=u.what))
    for rule, why in skipped:
        out.append(Divergence("T003", f"{rule} skipped: {why}", location=f"skipped:{rule}"))
    return out


def _core_mask(view: BatchView, marker_seqs: np.ndarray, death_seqs: np.ndarray) -> np.ndarray:
    """The events the sequential core must see, picked with columnar operations."""
    mask = view.is_kind(*CORE_KINDS).copy()
    names = set(view.kind_names)
    if len(death_seqs) and not names.isdisjoint(DEATH_KINDS):
        mask |= view.is_kind(*DEATH_KINDS) & np.isin(view.seq, death_seqs)
    if "tdvmcall" in names:
        mask |= view.generic_mapgpa()
    if "tdcall" in names:
        mask |= view.generic_accept()
    if "log" in names:
        logs = np.flatnonzero(view.is_kind("log"))
        text = view.batch.column("text").take(pa.array(logs))
        hit = pc.or_(pc.match_substring(text, ACCOUNTING_OFF),
                     pc.match_substring(text, NR_SHARED))
        mask[logs[pc.fill_null(hit, False).to_numpy(zero_copy_only=False)]] = True
        if len(marker_seqs):
            mask[logs[np.isin(view.seq[logs], marker_seqs)]] = True
    return mask


def _pylist(column: pa.Array) -> list:
    """A column as a Python list, fast: numpy for null-free numbers, decoded dictionaries."""
    n = len(column)
    if column.null_count == n:
        return [None] * n
    if isinstance(column, pa.DictionaryArray):
        names = column.dictionary.to_pylist()
        return [names[i] if i is not None else None for i in column.indices.to_pylist()]
    if column.null_count == 0 and pa.types.is_integer(column.type):
        return column.to_numpy().tolist()
    return column.to_pylist()


@dataclass(frozen=True)
class Prepared:
    """What the replay of a batch computes before the model reads it, none of which model
    state changes (only the TD and the plan made before the main pass): the rows the core
    must see, those rows alone, and the fast lane over them."""

    view: BatchView
    rows: np.ndarray
    core: pa.RecordBatch | None  # None: no row for the core
    lane: FastLane | None


def prepare_batch(model: Model, view: BatchView, marker_seqs: np.ndarray,
                  first_layers: bool = False) -> Prepared:
    """A batch's set-up (`first_layers`: the fast lane's first run laid out too, work the
    replay may not use: for a thread beside it)."""
    rows = np.flatnonzero(_core_mask(view, marker_seqs, model.death_seqs))
    if not len(rows):
        return Prepared(view, rows, None, None)
    batch = view.batch
    core = batch if len(rows) == batch.num_rows else batch.take(pa.array(rows))
    lane = FastLane(model, BatchView(core))
    if first_layers:
        lane.lay_out_first_run()
    return Prepared(view, rows, core, lane)


def replay_batch(model: Model, view: BatchView, markers: dict[int, str],
                 marker_seqs: np.ndarray, pace: Pace | None = None,
                 prepared: Prepared | None = None) -> None:
    """Replay one batch (`prepared`: its set-up, done already)."""
    ready = prepared or prepare_batch(model, view, marker_seqs)
    rows = ready.rows
    batch = view.batch
    all_ts = view.ts
    prev = -1
    if ready.core is not None and ready.lane is not None:
        core, lane = ready.core, ready.lane
        if pace is not None:
            lane.pace = pace
        columns: list[list] = []
        row_list = rows.tolist()
        j, m = 0, len(row_list)
        while j < m:
            if model.k.dead_seq is not None:
                return
            applied = lane.run(j)
            if applied:
                j += applied
                prev = row_list[j - 1]
                continue
            if not columns:  # the core's own view of the events, built once per batch
                columns = [_pylist(core.column(name)) for name in CORE_COLUMNS]
            row = row_list[j]
            if model.mailbox.test_deadline is not None:
                _test_deadline(model, batch, all_ts, prev + 1, row + 1)
            _event(model, columns, j, markers)
            prev = row
            j += 1
    if model.mailbox.test_deadline is not None and model.k.dead_seq is None:
        _test_deadline(model, batch, all_ts, prev + 1, batch.num_rows)


def _event(model: Model, columns: list[list], j: int, markers: dict[int, str]) -> None:
    kind = columns[3][j]
    # the two kinds conversion-heavy traces are made of, without building a tuple
    if kind == "map_gpa":
        model.map_gpa(columns[0][j], columns[1][j], columns[2][j], columns[5][j], columns[6][j],
                      columns[4][j], columns[7][j])
    elif kind == "accept":
        model.accept(columns[0][j], columns[1][j], columns[2][j], columns[5][j], columns[8][j],
                     columns[4][j])
    else:
        _dispatch(model, tuple(column[j] for column in columns), markers)


def _test_deadline(model: Model, batch: pa.RecordBatch, all_ts: np.ndarray, lo: int,
                   hi: int) -> None:
    """M005: judged at the first event more than 1 s after an unacknowledged TEST."""
    deadline = model.mailbox.test_deadline
    assert deadline is not None
    late = np.flatnonzero(all_ts[lo:hi] > deadline)
    if len(late):
        i = lo + int(late[0])
        model.test_overdue(batch.column("seq")[i].as_py(), int(all_ts[i]),
                           batch.column("vcpu")[i].as_py())


def _dispatch(model: Model, values: tuple, markers: dict[int, str]) -> None:
    (seq, ts, vcpu, kind, status, gpa, size, resume_gpa, level, rcx, r12, r13, r11_out, old,
     new, site, field, value, apic_id, action, phase, to_private, write, text) = values
    if kind == "map_gpa":
        model.map_gpa(seq, ts, vcpu, gpa, size, status, resume_gpa)
    elif kind == "accept":
        model.accept(seq, ts, vcpu, gpa, level, status)
    elif kind == "tdvmcall":
        # the generic spelling means a MapGPA only with its operands: without R12 and R13
        # there is no range to judge (never GPA 0)
        if r12 is not None and r13 is not None:
            model.map_gpa(seq, ts, vcpu, r12, r13, status,
                          r11_out if status == TDVMCALL_RETRY else None)
    elif kind == "tdcall":
        if rcx is not None:  # an ACCEPT without RCX names no page
            model.accept(seq, ts, vcpu, rcx & ~ACCEPT_LEVEL_MASK, rcx & ACCEPT_LEVEL_MASK,
                         status)
    elif kind == "mem_access":
        model.mem_access(seq, ts, vcpu, gpa, bool(write))
    elif kind == "convert":
        model.convert(seq, ts, vcpu, gpa, size, bool(to_private))
    elif kind == "cr4_write":
        model.cr4_write(seq, ts, vcpu, old, new, site)
    elif kind == "mailbox_write":
        model.mailbox_write(seq, ts, vcpu, field, value)
    elif kind == "mailbox_read":
        model.mailbox_read(seq, ts, vcpu, field, value)
    elif kind == "cpu":
        model.cpu(seq, ts, vcpu, apic_id, action)
    elif kind == "kexec":
        model.kexec(seq, ts, vcpu, phase)
    elif kind in DEATH_KINDS:
        model.death(seq, ts, vcpu)
    elif kind == "log":
        marker = markers.get(seq)
        if marker is not None:
            model.kexec(seq, ts, vcpu, marker)
        else:
            model.log(seq, ts, vcpu, text or "")
