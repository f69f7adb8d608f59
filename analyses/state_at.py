"""The model's state at one event of a trace (headless: the TUI's state panel and memory map).

DuckDB picks a superset of the events the sequential core reads (a few percent of a trace,
found through column pruning); replay's own core mask and dispatch then feed them to a fresh
`Model` up to the wanted seq. `StateCursor` keeps the model between calls, so moving forward
costs only the new events. The M005 deadline is judged on the picked events only.

The model is planned as replay plans it: the trace's phases, and the TD's death as the host
traced it (model/death.py), so a TD the host saw die is dead at the cursor from that event on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa

from tdxray.analyses.sql.macros import sql_str
from tdxray.model.columns import BatchView
from tdxray.model.core import Model
from tdxray.model.coverage import declared_kinds
from tdxray.model.death import DEATH_KINDS, find_deaths
from tdxray.model.pagemap import STATE_NAMES, PageState
from tdxray.model.prescan import Prescan, scan_phases
from tdxray.model.replay import READ_COLUMNS, replay_batch
from tdxray.schema.constants import (
    LOG_ACCOUNTING_OFF,
    LOG_BOOT_MARKER,
    LOG_NR_SHARED,
    LOG_SHUTDOWN_MARKER,
    MAILBOX_COMMAND_NAMES,
    Leaf,
    Subfn,
    cr4_names,
)
from tdxray.store.read import TraceFile


@dataclass(frozen=True)
class CpuSnapshot:
    apic_id: int
    state: str
    since_seq: int | None
    cr4: int | None

    @property
    def cr4_bits(self) -> list[str]:
        return cr4_names(self.cr4) if self.cr4 is not None else []


@dataclass(frozen=True)
class ModelSnapshot:
    """What the model holds after the event `seq` (and every event before it)."""

    seq: int
    generation: int
    phase: str  # "dead" once the TD died (a fatal divergence or the host-seen death)
    conversions_stopped: bool
    cpus: list[CpuSnapshot]
    mailbox_command: str
    mailbox_apic_id: int | None
    mailbox_vector: int | None
    mailbox_pending_since: int | None  # seq of the unacknowledged command
    shared_pages: int
    pending_pages: int
    starts: np.ndarray = field(repr=False)   # the page map: piece i is [starts[i], ends[i])
    ends: np.ndarray = field(repr=False)
    states: list[str] = field(repr=False)
    causes: list[int | None] = field(repr=False)
    dead_seq: int | None = None  # the event the TD died at

    @property
    def alive(self) -> bool:
        return self.dead_seq is None

    def page(self, gpa: int) -> tuple[str, int | None]:
        """(state, the event that put it there) of the page holding `gpa`."""
        i = int(np.searchsorted(self.starts, gpa, "right")) - 1
        if i < 0 or gpa >= self.ends[i]:
            return "none", None
        return self.states[i], self.causes[i]


def _core_query(path: str) -> str:
    """Branches whose filters DuckDB pushes into the scan (an OR over columns would not be)."""
    logs = " OR ".join(f"contains(text, {sql_str(m)})" for m in
                       (LOG_ACCOUNTING_OFF, LOG_NR_SHARED, LOG_SHUTDOWN_MARKER, LOG_BOOT_MARKER))
    head = f"SELECT {', '.join(READ_COLUMNS)} FROM read_parquet({sql_str(path)}) WHERE "
    return " UNION ALL ".join([
        head + "kind <> 'tdvmcall' AND kind <> 'tdcall' AND kind <> 'log'",
        head + f"kind = 'tdvmcall' AND subfn = {int(Subfn.MAP_GPA)}",
        head + f"kind = 'tdcall' AND leaf = {int(Leaf.MEM_PAGE_ACCEPT)}",
        head + f"kind = 'log' AND ({logs})",
    ]) + " ORDER BY seq"


def core_events(trace: TraceFile, con: duckdb.DuckDBPyConnection | None = None) -> pa.Table:
    """Every event the model's core might read, in seq order (a superset: replay refilters)."""
    con = con or duckdb.connect(":memory:", config={"threads": 1})
    return con.sql(_core_query(str(trace.path))).to_arrow_table().combine_chunks()


def death_events(trace: TraceFile, con: duckdb.DuckDBPyConnection | None = None
                 ) -> dict[int, str]:
    """The TD's death events as the host traced them (seq -> what), as replay's pre-scan finds
    them."""
    con = con or duckdb.connect(":memory:", config={"threads": 1})
    kinds = ", ".join(sql_str(kind) for kind in DEATH_KINDS)
    table = con.sql(f"SELECT seq, kind, extra FROM read_parquet({sql_str(str(trace.path))}) "
                    f"WHERE kind IN ({kinds}) ORDER BY seq").to_arrow_table()
    deaths: dict[int, str] = {}
    for batch in table.to_batches():
        deaths.update(find_deaths(batch))
    return deaths


class StateCursor:
    """Replays the core events up to a seq; reuses the model when moving forward."""

    def __init__(self, trace: TraceFile, core: pa.Table | None = None,
                 deaths: dict[int, str] | None = None) -> None:
        self.td = trace.header.td
        table = core if core is not None else core_events(trace)
        self.deaths = deaths if deaths is not None else death_events(trace)
        self.batch = table.to_batches()[0] if table.num_rows else None
        self.seqs = table.column("seq").to_numpy() if table.num_rows else np.zeros(0, np.uint64)
        scan = Prescan()
        if self.batch is not None:
            scan_phases(scan, self.batch, self.batch.column("kind").cast(pa.string()))
        self.markers = scan.console_markers()
        self.marker_seqs = np.array(sorted(self.markers), dtype=np.uint64)
        self._phase_items = scan.phase_items
        # whether the trace can show CR4 writes: a death after the jump stands for C001 if not
        self.sees_cr4 = "cr4_write" in declared_kinds(trace.header.provenance) or (
            self.batch is not None and "cr4_write" in set(
                self.batch.column("kind").cast(pa.string()).unique().to_pylist()))
        self._model = self._fresh_model()
        self._done = 0

    def _fresh_model(self) -> Model:
        """A model that knows the trace's phases ahead, as replay's does (the jump of a
        generation is its `jump` event when it has one, not an earlier CR4 write)."""
        model = Model(self.td)
        model.plan_phases(self._phase_items, self.markers)
        model.plan_deaths(self.deaths, self.sees_cr4)
        return model

    def at(self, seq: int) -> ModelSnapshot:
        end = int(np.searchsorted(self.seqs, seq, "right"))
        if end < self._done:
            self._model, self._done = self._fresh_model(), 0
        if end > self._done and self.batch is not None:
            view = BatchView(self.batch.slice(self._done, end - self._done))
            replay_batch(self._model, view, self.markers, self.marker_seqs)
            self._done = end
        return snapshot(self._model, seq, self._vector(end))

    def _vector(self, end: int) -> int | None:
        if self.batch is None or end == 0:
            return None
        head = self.batch.slice(0, end)
        kinds = head.column("kind").cast(pa.string()).to_numpy(zero_copy_only=False)
        fields = head.column("field").cast(pa.string()).to_numpy(zero_copy_only=False)
        rows = np.flatnonzero((kinds == "mailbox_write") & (fields == "wakeup_vector"))
        return head.column("value")[int(rows[-1])].as_py() if len(rows) else None


def snapshot(model: Model, seq: int, vector: int | None = None) -> ModelSnapshot:
    pages = model.pages
    pieces = list(pages.pieces(0, pages.limit))
    mb = model.mailbox
    return ModelSnapshot(
        seq=seq, generation=model.k.generation,
        phase="dead" if model.dead else model.k.phase, dead_seq=model.k.dead_seq,
        conversions_stopped=model.k.conversions_stopped,
        cpus=[CpuSnapshot(c.apic_id, c.state.value, c.since_seq, c.cr4)
              for c in model.cpus.values()],
        mailbox_command=MAILBOX_COMMAND_NAMES.get(mb.command, str(mb.command)),
        mailbox_apic_id=mb.apic_id, mailbox_vector=vector,
        mailbox_pending_since=mb.command_seq if mb.command else None,
        shared_pages=pages.count(PageState.SHARED), pending_pages=pages.count(PageState.PENDING),
        starts=np.array([p[0] for p in pieces], dtype=np.uint64),
        ends=np.array([p[1] for p in pieces], dtype=np.uint64),
        states=[STATE_NAMES[PageState(p[2])] for p in pieces],
        causes=[p[3] if p[3] >= 0 else None for p in pieces])


def state_at(trace: TraceFile, seq: int) -> ModelSnapshot:
    """The model's state after event `seq` of `trace`."""
    return StateCursor(trace).at(seq)
