"""The Python API: `tdxray.open(STORE)` gives a Store with Polars frames and SQL over it.

    import tdxray
    store = tdxray.open("demo-store")
    store.traces                       # Polars DataFrame, one row per trace
    store.events                       # LazyFrame over every trace's Parquet (pl.scan_parquet)
    store.map_gpa.filter(...)          # decoded per-kind views, LazyFrames (same as SQL views)
    store.sql("FROM divergences")      # Polars DataFrame (arrow=True: pyarrow Table)
    store.run("leaks-by-vcpu")         # a query of the library
    store.replay("td-42")              # ReplayResult
    report = tdxray.check("store/", baseline="tdxray-baseline.json")   # what `tdxray check` does
    report.exit_status, report.summary, report.to_json(), report.render("sarif")

Views and SQL run on a locked-down DuckDB session (analyses/sql), opened on first use; it
replays traces whose results are missing or stale. Their LazyFrames read through that session:
use them before `close()`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal, overload

from tdxray.schema.errors import InputError
from tdxray.store.layout import Store as StoreLayout

if TYPE_CHECKING:
    from collections.abc import Iterable

    import polars as pl
    import pyarrow as pa

    from tdxray.analyses.baseline import Baseline
    from tdxray.analyses.check_run import CheckReport
    from tdxray.analyses.sql.session import Session
    from tdxray.model.result import ReplayResult


class _View:
    """A SQL view of the store as a Polars LazyFrame (filters and projections go to DuckDB)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, store: None, owner: type) -> _View: ...
    @overload
    def __get__(self, store: Store, owner: type) -> pl.LazyFrame: ...

    def __get__(self, store: Store | None, owner: type) -> _View | pl.LazyFrame:
        if store is None:
            return self
        return store.view(self.name)


class Store:
    """A store directory: its traces as Polars frames, its views, SQL, replay."""

    tdcalls = _View()
    tdvmcalls = _View()
    map_gpa = _View()
    mapgpa_ops = _View()
    accepts = _View()
    converts = _View()
    conversions = _View()
    mem_accesses = _View()
    cr4_writes = _View()
    mailbox = _View()
    cpus = _View()
    kexec_phases = _View()
    logs = _View()
    divergences = _View()
    page_history = _View()

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError("not a store directory", str(root))
        self._layout = StoreLayout(self.root)
        self._session: Session | None = None

    def __repr__(self) -> str:
        return f"<tdxray.Store {str(self.root)!r}: {len(self.trace_ids)} traces>"

    @property
    def trace_ids(self) -> list[str]:
        return self._layout.trace_ids()

    @property
    def session(self) -> Session:
        """The DuckDB session behind views and SQL (opened, and results refreshed, once)."""
        if self._session is None:
            from tdxray.analyses.sql.session import Session

            self._session = Session(self.root)
        return self._session

    @property
    def traces(self) -> pl.DataFrame:
        """One row per trace: TD configuration, event count, provenance (JSON text)."""
        return self.sql("FROM traces ORDER BY trace_id")

    @property
    def events(self) -> pl.LazyFrame:
        """Every event of every trace, raw columns plus trace_id, straight from the Parquet."""
        import polars as pl

        from tdxray.schema.events import EVENT_SCHEMA

        frames = [pl.scan_parquet(self._layout.trace_path(tid))
                  .select(pl.lit(tid).alias("trace_id"), pl.all()) for tid in self.trace_ids]
        if not frames:
            empty = pl.from_arrow(EVENT_SCHEMA.empty_table())
            assert isinstance(empty, pl.DataFrame)
            return empty.lazy().select(pl.lit(None, pl.String).alias("trace_id"), pl.all())
        return pl.concat(frames, how="vertical")

    def view(self, name: str) -> pl.LazyFrame:
        """Any view of `tdxray sql --schema` as a LazyFrame."""
        from tdxray.analyses.sql.views import VIEW_DOCS

        if name not in VIEW_DOCS:
            raise InputError(f"no view {name!r} (views: {', '.join(VIEW_DOCS)})")
        lazy: pl.LazyFrame = self.session.relation(f"FROM {name}").pl(lazy=True)
        return lazy

    @overload
    def sql(self, query: str, arrow: Literal[False] = ...) -> pl.DataFrame: ...
    @overload
    def sql(self, query: str, arrow: Literal[True]) -> pa.Table: ...

    def sql(self, query: str, arrow: bool = False) -> pl.DataFrame | pa.Table:
        """Run a read-only query; a Polars DataFrame, or a pyarrow Table with arrow=True."""
        import polars as pl

        table = self.session.arrow(query)
        if arrow:
            return table
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        return frame

    def run(self, name: str) -> pl.DataFrame:
        """A query of the library (`tdxray sql --list`) by name."""
        from tdxray.analyses.sql.library import get_query

        return self.sql(get_query(name).sql)

    def replay(self, trace_id: str) -> ReplayResult:
        """The trace's replay result: the stored one when fresh, else replayed (and stored)."""
        from tdxray.model.replay import load_or_replay

        if trace_id not in self.trace_ids:
            raise InputError(f"store has no trace {trace_id!r}", str(self.root))
        return load_or_replay(self._layout.trace_path(trace_id),
                              self._layout.results_dir(trace_id))

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open(root: str | Path) -> Store:
    """Open a store directory."""
    return Store(root)


def check(traces: str | Path | Iterable[str | Path], *, trace_id: str | None = None,
          fail_on: str = "error", baseline: Baseline | str | Path | None = None,
          fail_on_stale: bool = False) -> CheckReport:
    """`tdxray check` in Python: replay the traces and return the report object
    (`exit_status`, `verdict`, `summary`, `divergences`, `to_json()`, `render(fmt)`)."""
    from tdxray.analyses.check_run import check as run_check

    return run_check(traces, trace_id=trace_id, fail_on=fail_on, baseline=baseline,
                     fail_on_stale=fail_on_stale)
