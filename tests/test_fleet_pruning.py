"""Fleet SQL set-up and pruning: a question about one trace reads that trace's file only, a
session defines the views over events when a query first names them, and trusts the replay
stamps the manifest recorded instead of reading every trace's own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from tdxray.analyses.sql.session import Session
from tdxray.cli.main import cli
from tests.test_manifest import SAMPLES

NAMES = ("kdump", "mailbox-misuse", "unshare-failure")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pruning") / "store"
    res = CliRunner().invoke(cli, ["ingest", *(str(SAMPLES / f"{n}.jsonl") for n in NAMES),
                                   "-o", str(out)])
    assert res.exit_code == 0, res.output
    return out


def _files_read(session: Session, query: str) -> tuple[str | None, str]:
    """(files scanned / files listed when a file filter pruned them, files read) of the
    query's scan of the trace files."""
    plan = session.arrow(f"EXPLAIN ANALYZE {query}").column(1)[0].as_py()
    scanning = re.search(r"Scanning Files: (\d+/\d+)", plan)
    read = re.search(r"Total Files Read: (\d+)", plan)
    assert read, plan
    return scanning.group(1) if scanning else None, read.group(1)


@pytest.mark.parametrize("view", ["events", "map_gpa", "logs"])
def test_a_filter_on_trace_id_reads_that_trace_s_file_only(store: Path, view: str) -> None:
    with Session(store) as session:
        one = f"SELECT count(ts_ns) FROM {view} WHERE trace_id = 'sample-unshare-failure'"
        assert _files_read(session, one) == ("1/3", "1")
        assert _files_read(session, f"SELECT count(ts_ns) FROM {view}") == (None, "3")
        two = (f"SELECT count(ts_ns) FROM {view} "
               "WHERE trace_id IN ('sample-kdump', 'sample-mailbox-misuse')")
        assert _files_read(session, two) == ("2/3", "2")
        per_trace = dict(session.con.execute(
            f"SELECT trace_id, count(ts_ns) FROM {view} GROUP BY 1").fetchall())
        assert session.arrow(one).column(0).to_pylist() == [per_trace["sample-unshare-failure"]]
        assert per_trace["sample-unshare-failure"] > 0


@pytest.mark.parametrize("view", ["divergences", "page_history"])
def test_results_views_over_files_prune_by_trace_id_too(
        store: Path, view: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A big store's results stay in their files (views, not tables): pruned the same way."""
    monkeypatch.setattr("tdxray.analyses.sql.views.RESULTS_IN_MEMORY_BYTES", 0)
    with Session(store) as session:
        one = f"SELECT count(trace_id) FROM {view} WHERE trace_id = 'sample-unshare-failure'"
        assert _files_read(session, one) == ("1/3", "1")
        assert _files_read(session, f"SELECT count(trace_id) FROM {view}") == (None, "3")


def _views(session: Session) -> list[str]:
    """The views and tables defined so far (read below the session's lazy definitions)."""
    rows = session.con.execute("SELECT table_name FROM duckdb_tables() UNION ALL "
                               "SELECT view_name FROM duckdb_views() WHERE NOT internal "
                               "ORDER BY 1").fetchall()
    return [str(name) for (name,) in rows]


def test_views_over_events_are_defined_when_a_query_first_names_them(store: Path) -> None:
    with Session(store) as session:
        assert _views(session) == ["losses", "traces"]  # no view over files yet
        assert session.arrow("SELECT count(*) FROM mapgpa_ops").num_rows == 1
        assert set(_views(session)) - {"losses", "traces"} == {
            "_events", "map_gpa", "mapgpa_ops"}  # and what mapgpa_ops is built on
        assert session.arrow("SELECT count(*) FROM page_state_at(0, 0)").num_rows == 1
        assert set(_views(session)) - {"losses", "traces"} == {
            "_events", "map_gpa", "mapgpa_ops", "_page_history",
            "page_history"}  # the table macro's own
        listed = session.arrow("SHOW TABLES").column("name").to_pylist()
        assert {"accepts", "conversions", "cr4_writes", "logs", "tdcalls"} <= set(listed)
        assert session.arrow("SELECT count(*) FROM conversions_of('0x0')").num_rows == 1


def test_a_replay_stamp_in_the_manifest_spares_reading_the_results_stamp(tmp_path: Path
                                                                          ) -> None:
    store = tmp_path / "store"
    res = CliRunner().invoke(cli, ["ingest", str(SAMPLES / "kdump.jsonl"),
                                   str(SAMPLES / "unshare-failure.jsonl"), "-o", str(store)])
    assert res.exit_code == 0, res.output
    assert CliRunner().invoke(cli, ["check", str(store)]).exit_code == 1  # records the stamps
    for tid in ("sample-kdump", "sample-unshare-failure"):
        (store / f"{tid}.replay" / "replay.json").write_text("{}")  # would read as stale
    replayed: list[str] = []
    with Session(store, on_replay=replayed.append):
        assert replayed == []  # the manifest's stamps match the trace files: trusted
    (store / "sample-kdump.parquet").touch()  # a new mtime: the recorded stamp no longer fits
    with Session(store, on_replay=replayed.append):
        assert replayed == ["sample-kdump"]
    (store / "sample-unshare-failure.replay" / "divergences.parquet").unlink()
    with Session(store, on_replay=replayed.append):
        assert replayed == ["sample-kdump", "sample-unshare-failure"]  # results gone
