"""A locked-down DuckDB connection over a store: views and macros first, then the guards."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa

from tdxray.analyses.sql.guard import (
    QueryError,
    check_query,
    lockdown_statements,
    one_line,
    query_error,
)
from tdxray.analyses.sql.lazy import Lazy
from tdxray.analyses.sql.losses import losses_table
from tdxray.analyses.sql.macros import scalar_macro_defs
from tdxray.analyses.sql.table_macros import table_macro_ddl
from tdxray.analyses.sql.traces import TraceEntry, store_traces, traces_table
from tdxray.analyses.sql.views import (
    TraceFiles,
    event_view_ddl,
    results_in_memory,
    results_view_ddl,
    store_view_ddl,
)
from tdxray.model.replay import is_fresh, replay_trace
from tdxray.schema.errors import InputError
from tdxray.store.layout import RESULTS_SUFFIX, Store
from tdxray.store.manifest import ManifestDir, trace_stats
from tdxray.store.results_place import results_places
from tdxray.store.scratch import make_dir, remove_dir

OnReplay = Callable[[str], None]
MEMORY_FRACTION = 0.5  # the default memory limit of a query: half the machine's RAM
# DuckDB's Parquet footer cache pays for a few big trace files queried again and again (a REPL);
# over a fleet's many small files it costs more than it saves: at 1,000 traces of 1,000 events,
# 15 ms more per query and 17 ms more at close (the footers are freed one by one).
METADATA_CACHE_TRACES = 64


def default_memory_limit() -> str:
    """MEMORY_FRACTION of physical memory in DuckDB's spelling ("1234MB")."""
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return f"{int(ram * MEMORY_FRACTION) >> 20}MB"


def _refresh(results: str, trace_id: str, path: Path, on_replay: OnReplay | None,
             st: os.stat_result | None = None, recorded: str | None = None) -> None:
    """Replay a trace whose results are missing or stale (results are written into the store,
    or their stand-in when it is read-only: store/results_place.py); `st`: the trace file's
    stat from the store's listing, `recorded`: the manifest's replay stamp for the results."""
    if is_fresh(path, results, st, recorded):
        return
    if on_replay is not None:
        on_replay(trace_id)
    try:
        replay_trace(path, Path(results))
    except OSError as exc:
        raise InputError(f"cannot write replay results: {exc.strerror or exc}",
                         str(results)) from None


def arrow_table(rel: duckdb.DuckDBPyRelation) -> pa.Table:
    """The relation's rows as Arrow (duckdb 2.x spelling, 1.x fallback)."""
    if hasattr(rel, "to_arrow_table"):
        return rel.to_arrow_table()
    return rel.fetch_arrow_table()


def arrow_reader(rel: duckdb.DuckDBPyRelation, batch_rows: int) -> pa.RecordBatchReader:
    if hasattr(rel, "to_arrow_reader"):
        return rel.to_arrow_reader(batch_rows)
    return rel.fetch_record_batch(batch_rows)


class Session:
    """Views over every trace of a store; queries may read the store and nothing else."""

    def __init__(self, root: Path | str, on_replay: OnReplay | None = None,
                 memory_limit: str | None = None) -> None:
        path = Path(root)
        if not path.is_dir():
            raise InputError("not a store directory", str(root))
        self.root = path.resolve()
        store = Store(self.root)
        stats = trace_stats(self.root)
        manifest = ManifestDir(str(self.root)).read()
        traces, self.from_manifest = store_traces(
            store, {tid: st.st_size for tid, st in stats.items()}, manifest)
        # beside each trace, or their stand-ins (a read-only store)
        self._results = results_places(self.root, (t.trace_id for t in traces))
        recorded = dict(zip(manifest.column("trace_id").to_pylist(),
                            manifest.column("replay_stamp").to_pylist(), strict=True))
        root = str(self.root)
        for t in traces:
            tid = t.trace_id
            mine = self._results[tid] == f"{root}/{tid}{RESULTS_SUFFIX}"
            _refresh(self._results[tid], tid, t.path, on_replay, stats.get(tid),
                     recorded.get(tid) if mine else None)
        self._manifest = manifest
        self.trace_ids = [t.trace_id for t in traces]
        self._tmp = make_dir("tdxray-sql-")
        try:  # the spill directory goes whatever stops the set-up (a SIGTERM included)
            self.con = duckdb.connect(":memory:", config={"temp_directory": str(self._tmp)})
            if len(traces) <= METADATA_CACHE_TRACES:
                self.con.execute("SET parquet_metadata_cache = true")  # views bind files often
            self._limit_memory(memory_limit or default_memory_limit())
            self._define(traces, store)
            stand_ins = [Path(r) for tid, r in self._results.items()
                         if r != f"{root}/{tid}{RESULTS_SUFFIX}"]
            for statement in lockdown_statements(self.root, stand_ins):
                self.con.execute(statement)
        except BaseException:
            if hasattr(self, "con"):
                self.con.close()
            remove_dir(self._tmp)
            raise

    def _limit_memory(self, limit: str) -> None:
        try:
            self.con.execute("SET memory_limit = ?", [limit])
        except duckdb.Error as exc:
            self.close()
            raise InputError(f"bad memory limit {limit!r}: {one_line(exc)}") from None

    def _define(self, traces: list[TraceEntry], store: Store) -> None:
        con = self.con
        con.register("_traces_src", traces_table(traces, self._manifest))
        con.execute("CREATE TABLE traces AS "
                    "SELECT * REPLACE (provenance::JSON AS provenance) FROM _traces_src")
        con.unregister("_traces_src")
        con.register("_losses_src", losses_table(traces))
        con.execute("CREATE TABLE losses AS FROM _losses_src")
        con.unregister("_losses_src")
        files = [TraceFiles(t.trace_id, str(t.path), self._results[t.trace_id],
                            t.header.td.shared_bit) for t in traces]
        self._lazy = Lazy({**scalar_macro_defs(), **results_view_ddl(results_in_memory(files)),
                           **event_view_ddl(), **table_macro_ddl()}, store_view_ddl(files))

    def define_all(self) -> None:
        """Every view and macro now, not on first use (for a reader of the catalogue)."""
        for ddl in self._lazy.take_all():
            self.con.execute(ddl)

    def relation(self, query: str) -> duckdb.DuckDBPyRelation:
        """The query as a relation (not run yet for SELECT); refused unless it only reads."""
        check_query(query)
        try:
            for ddl in self._lazy.take(query):
                self.con.execute(ddl)
            try:
                return self.con.sql(query)
            except duckdb.CatalogException:
                if not self._lazy.pending():
                    raise
            # a name that is no view or macro yet: with every one defined, DuckDB's "Did you
            # mean" picks among all of them (and a wrong name fails the same way)
            self.define_all()
            return self.con.sql(query)
        except duckdb.Error as exc:
            raise query_error(exc) from None

    def arrow(self, query: str) -> pa.Table:
        rel = self.relation(query)
        try:
            return arrow_table(rel)
        except duckdb.Error as exc:
            raise query_error(exc) from None

    def interrupt(self) -> None:
        self.con.interrupt()

    def close(self) -> None:
        self.con.close()
        remove_dir(self._tmp)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["QueryError", "Session"]
