"""The Python API: `tdxray.open(STORE)` on the bundled sample traces."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from click.testing import CliRunner

import tdxray
from tdxray.analyses.sql.guard import QueryError
from tdxray.analyses.sql.views import VIEW_DOCS
from tdxray.cli.main import cli
from tdxray.model.result import ReplayResult
from tdxray.schema.errors import InputError

SAMPLES = Path(__file__).resolve().parents[1] / "sample_traces"
UNFIXED = "sample-unfixed-kernel"


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("api") / "store"
    files = [str(p) for p in sorted(SAMPLES.glob("*.jsonl"))]
    for f in files:
        result = CliRunner().invoke(cli, ["ingest", f, "-o", str(path)])
        assert result.exit_code == 0, result.output
    return path


@pytest.fixture(scope="module")
def store(store_dir: Path) -> Iterator[tdxray.Store]:
    with tdxray.open(store_dir) as opened:
        yield opened


def test_import_stays_cheap() -> None:
    code = ("import sys, tdxray; "
            "print(any(m in sys.modules for m in ('duckdb', 'polars', 'pyarrow', 'tdxray.api')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_traces(store: tdxray.Store) -> None:
    assert len(store.trace_ids) == 16 and UNFIXED in store.trace_ids
    traces = store.traces
    assert isinstance(traces, pl.DataFrame)
    assert traces.height == 16
    row = traces.filter(pl.col("trace_id") == UNFIXED).row(0, named=True)
    assert (row["gpaw"], row["vcpus"], row["events"], row["memory"]) == (48, 1, 150, "accepted")
    assert "16 traces" in repr(store)


def test_events_is_a_lazy_scan_of_every_trace(store: tdxray.Store) -> None:
    events = store.events
    assert isinstance(events, pl.LazyFrame)
    counts = events.group_by("trace_id").len().collect()
    assert counts.height == 16 and set(counts["len"].to_list()) == {150}
    kinds = (events.filter(pl.col("trace_id") == UNFIXED)
             .group_by(pl.col("kind").cast(pl.String)).len().collect())
    assert dict(kinds.iter_rows())["map_gpa"] == 5


def test_views_are_lazy_frames_decoded_like_sql(store: tdxray.Store) -> None:
    mapgpa = store.map_gpa
    assert isinstance(mapgpa, pl.LazyFrame)
    shared = mapgpa.filter(pl.col("trace_id") == UNFIXED, pl.col("to_shared"))
    first = shared.select("seq", "gpa_hex", "pages").sort("seq").collect()
    assert first.rows() == [(4, "0x1f600000", 2048), (6, "0x4000000", 3), (8, "0x4003000", 4),
                            (48, "0x4007000", 7)]
    assert shared.collect().height == 4  # a LazyFrame can be read twice
    assert store.map_gpa.collect().height == store.sql("FROM map_gpa").height == 315
    for name in VIEW_DOCS:
        assert isinstance(store.view(name), pl.LazyFrame)


def test_divergences_and_page_history(store: tdxray.Store) -> None:
    k001 = store.divergences.filter(pl.col("rule") == "K001").collect()
    assert k001.height == 5
    assert k001.filter(pl.col("trace_id") == UNFIXED)["pages"].sort().to_list() == [7, 2048]
    history = store.page_history.filter(pl.col("trace_id") == UNFIXED,
                                        pl.col("to_seq").is_null(),
                                        pl.col("state") == "shared").collect()
    assert history["pages"].sum() == 2055


def test_sql_returns_polars_or_arrow(store: tdxray.Store) -> None:
    frame = store.sql(f"SELECT state FROM page_state_at(67108864, 9e12::BIGINT) "
                      f"WHERE trace_id = '{UNFIXED}'")
    assert frame.rows() == [("shared",)]
    table = store.sql("SELECT count(*) AS n FROM events", arrow=True)
    assert isinstance(table, pa.Table) and table.to_pylist() == [{"n": 2400}]


def test_run_a_library_query(store: tdxray.Store) -> None:
    leaks = store.run("leaks-by-vcpu").filter(pl.col("trace_id") == UNFIXED)
    assert leaks.select("vcpu", "leaked_ranges", "leaked_pages").rows() == [(0, 2, 2055)]
    with pytest.raises(InputError, match="no library query"):
        store.run("nope")


def test_sql_is_read_only(store: tdxray.Store) -> None:
    with pytest.raises(QueryError, match="refused"):
        store.sql("COPY events TO 'x.csv'")
    with pytest.raises(QueryError, match="Catalog Error"):
        store.sql("FROM nothing_here")


def test_replay(store: tdxray.Store) -> None:
    result = store.replay(UNFIXED)
    assert isinstance(result, ReplayResult)
    assert sorted(d.rule for d in result.divergences if d.severity != "info") == \
        ["C001", "K001", "K001", "K004"]
    with pytest.raises(InputError):
        store.replay("no-such-trace")


def test_errors(tmp_path: Path, store: tdxray.Store) -> None:
    with pytest.raises(InputError):
        tdxray.open(tmp_path / "missing")
    with pytest.raises(InputError, match="no view"):
        store.view("events; DROP TABLE traces")


def test_empty_store(tmp_path: Path) -> None:
    with tdxray.open(tmp_path) as empty:
        assert empty.trace_ids == []
        assert empty.events.collect().height == 0
        assert "trace_id" in empty.events.collect_schema()
        assert empty.divergences.collect().height == 0
