"""`tdxray sql`: views, macros, the query library, output formats and the read-only guard.

Exact answers come from the bundled 150-event sample traces (sample_traces/); one small trace
built here covers the generic spellings (tdvmcall 0x10001, tdcall leaf 6) at GPAW 52.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from tdxray.analyses.sql.guard import QueryError
from tdxray.analyses.sql.library import get_query, load_library
from tdxray.analyses.sql.repl import history_path, repl
from tdxray.analyses.sql.session import Session
from tdxray.analyses.sql.views import VIEW_DOCS
from tdxray.cli.main import cli
from tdxray.schema.constants import (
    TDVMCALL_RETRY,
    TDX_OPERAND_BUSY,
    TDX_PAGE_SIZE_MISMATCH,
    Cr4,
    Leaf,
    Subfn,
    cr4_bit,
    tdx_status_name,
)
from tdxray.schema.td import TdConfig
from tdxray.tests.support import write_trace

SAMPLES = Path(__file__).resolve().parents[1] / "sample_traces"
UNFIXED = "sample-unfixed-kernel"
LEAKED_PAGE = 0x4000000  # made shared at seq 6 and still shared at the jump (K001)
SHARED_48 = 1 << 47
JUMP_TS = 4232001000  # the unfixed kernel's jump
END = 10**13  # after every sample trace's last event


def run(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=stdin, catch_exceptions=False)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 16 sample traces, ingested and replayed."""
    path = tmp_path_factory.mktemp("samples") / "store"
    for sample in sorted(SAMPLES.glob("*.jsonl")):
        assert run("ingest", str(sample), "-o", str(path)).exit_code == 0
    assert run("replay", str(path)).exit_code == 0
    return path


@pytest.fixture(scope="module")
def session(store: Path) -> Iterator[Session]:
    with Session(store) as ses:
        yield ses


def rows(session: Session, query: str) -> list[tuple[Any, ...]]:
    table = session.arrow(query)
    return list(zip(*(c.to_pylist() for c in table.columns), strict=True))


def sql(store: Path, *args: str, stdin: str | None = None) -> Result:
    return run("sql", "--store", str(store), *args, stdin=stdin)


# --- views -------------------------------------------------------------------------------------


def test_every_view_exists_and_answers(session: Session) -> None:
    for view in VIEW_DOCS:
        assert rows(session, f"SELECT count(*) FROM {view}")[0][0] >= 0
    assert rows(session, "SELECT count(*) FROM events") == [(16 * 150,)]
    assert rows(session, "SELECT count(DISTINCT trace_id) FROM events") == [(16,)]


def test_traces_table_holds_the_td_configuration(session: Session) -> None:
    got = rows(session, "SELECT gpaw, shared_bit, vcpus, apic_ids, ram_bytes, memory, "
                        "mailbox_version, events, provenance->>'scenario' FROM traces "
                        f"WHERE trace_id = '{UNFIXED}'")
    assert got == [(48, SHARED_48, 1, [0], 0x20000000, "accepted", None, 150, "unfixed-kernel")]
    assert rows(session, "SELECT mailbox_version, vcpus FROM traces "
                         "WHERE trace_id = 'sample-smp-v0-kexec'") == [(0, 2)]


def test_map_gpa_counts_per_trace(session: Session) -> None:
    counts = dict(rows(session, "SELECT trace_id, count(*) FROM map_gpa GROUP BY ALL"))
    assert counts[UNFIXED] == 5
    assert counts["sample-unshare-retry-exhausted"] == 22
    assert counts["sample-conversion-in-flight"] == 30
    assert "sample-mailbox-misuse" not in counts
    assert sum(counts.values()) == 315


def test_map_gpa_decodes_the_shared_bit(session: Session) -> None:
    got = rows(session, "SELECT seq, gpa_raw, gpa, gpa_hex, to_shared, size, gpa_end, pages, "
                        f"status_name FROM map_gpa WHERE trace_id = '{UNFIXED}' ORDER BY seq")
    assert got[1] == (6, SHARED_48 | LEAKED_PAGE, LEAKED_PAGE, "0x4000000", True, 0x3000,
                      LEAKED_PAGE + 0x3000, 3, "SUCCESS")
    assert [r[0] for r in got] == [4, 6, 8, 48, 50]
    assert [r[4] for r in got] == [True, True, True, True, False]


def test_retry_resume_gpa_and_operations(session: Session) -> None:
    trace = "sample-unshare-retry-exhausted"
    got = rows(session, "SELECT seq, resume_gpa FROM map_gpa WHERE status_name = 'RETRY' "
                        f"AND trace_id = '{trace}' ORDER BY seq")
    assert got[:2] == [(11, 0x1F600000), (12, 0x1F800000)]
    ops = rows(session, "SELECT first_seq, last_seq, calls, retries, no_progress_retries, "
                        f"outcome, latency_ns FROM mapgpa_ops WHERE trace_id = '{trace}' "
                        "AND retries > 0 ORDER BY first_seq")
    assert ops == [(11, 15, 5, 4, 1, "success", 49000), (80, 82, 3, 3, 3, "unfinished", 2000)]


def test_k001_divergences_of_the_unfixed_kernel(session: Session) -> None:
    got = rows(session, "SELECT seq, gpa_start, gpa_end, pages, cause_seqs, severity_rank "
                        f"FROM divergences WHERE trace_id = '{UNFIXED}' AND rule = 'K001' "
                        "ORDER BY gpa_start")
    assert got == [(149, LEAKED_PAGE, LEAKED_PAGE + 0x7000, 7, [6, 8], 1),
                   (149, 0x1F600000, 0x1FE00000, 2048, [4], 1)]
    assert rows(session, "SELECT count(*) FROM divergences WHERE rule = 'K001'") == [(5,)]


def test_page_state_at_a_leaked_page_is_shared(session: Session) -> None:
    query = "SELECT state, from_seq, cause_seq FROM page_state_at({gpa}, {ts}) " \
            f"WHERE trace_id = '{UNFIXED}'"
    assert rows(session, query.format(gpa=LEAKED_PAGE, ts=JUMP_TS)) == [("shared", 6, 6)]
    # the GPA as the guest wrote it (shared bit set) names the same page
    assert rows(session, query.format(gpa=SHARED_48 | LEAKED_PAGE + 0x10, ts=END)) == \
        [("shared", 6, 6)]
    # before the MapGPA at seq 6 the page was private (the initial state)
    assert rows(session, query.format(gpa=LEAKED_PAGE, ts=1_000_000_000)) == \
        [("private", None, None)]


def test_shared_ranges_at_the_jump(session: Session) -> None:
    got = rows(session, f"SELECT gpa_start, gpa_end, pages, range_hex, cause_seqs "
                        f"FROM shared_ranges_at('{UNFIXED}', {JUMP_TS})")
    assert got == [(LEAKED_PAGE, LEAKED_PAGE + 0x7000, 7, "0x4000000-0x4007000", [6, 8]),
                   (0x1F600000, 0x1FE00000, 2048, "0x1f600000-0x1fe00000", [4])]
    every = rows(session, f"SELECT count(DISTINCT trace_id) FROM shared_ranges_at(NULL, {END})")
    assert every[0][0] > 1


def test_conversions_of_a_page(session: Session) -> None:
    got = rows(session, "SELECT trace_id, seq, vcpu, source, to_shared, status_name "
                        f"FROM conversions_of({LEAKED_PAGE + 0x123})")
    mine = [r for r in got if r[0] == UNFIXED]
    assert mine == [(UNFIXED, 6, 0, "map_gpa", True, "SUCCESS")]
    retried = [r for r in got if r[0] == "sample-unshare-retry-exhausted"]
    assert [(r[1], r[4], r[5]) for r in retried] == [
        (17, True, "SUCCESS"), (80, False, "RETRY"), (81, False, "RETRY"), (82, False, "RETRY")]


def test_cr4_writes_name_the_bits(session: Session) -> None:
    got = rows(session, "SELECT trace_id, list_contains(cleared, 'MCE'), mce_cleared "
                        "FROM cr4_writes WHERE mce_cleared ORDER BY trace_id")
    assert got == [("sample-cr4-mce-cleared", True, True), (UNFIXED, True, True)]


def test_mailbox_view_names_commands(session: Session) -> None:
    got = rows(session, "SELECT seq, vcpu, op, field, value, command_name FROM mailbox "
                        "WHERE trace_id = 'sample-mailbox-misuse' ORDER BY seq LIMIT 4")
    assert got == [(10, 0, "write", "apic_id", 1, None),
                   (11, 0, "write", "wakeup_vector", 0x9A000, None),
                   (12, 0, "write", "command", 1, "WAKEUP"),
                   (13, 0, "read", "command", 1, "WAKEUP")]


def test_decode_macros() -> None:
    statuses = [TDX_PAGE_SIZE_MISMATCH | 1, TDX_PAGE_SIZE_MISMATCH, 7, 0x123400000000,
                TDX_OPERAND_BUSY | 0xFFFFFFFF]
    with empty_session() as ses:
        names = rows(ses, "SELECT tdx_status_name(s) FROM unnest("
                          f"{[*statuses]}::UBIGINT[]) AS t(s)")
        got = rows(ses, f"SELECT leaf_name({int(Leaf.MEM_PAGE_ACCEPT)}), "
                        f"subfn_name({int(Subfn.MAP_GPA)}), tdvmcall_status_name(1), "
                        f"cr4_bits({cr4_bit(Cr4.PAE) | cr4_bit(Cr4.MCE) | 1 << 40}), "
                        "gpa_hex(4096), pages_of(4097), severity_rank('fatal')")
    assert [n for (n,) in names] == [tdx_status_name(s) for s in statuses]
    assert names[0] == ("TDX_PAGE_SIZE_MISMATCH(0x1)",)
    assert got == [("TDG.MEM.PAGE.ACCEPT", "MapGPA", "RETRY", ["PAE", "MCE", "bit40"],
                    "0x1000", 2, 0)]


@contextmanager
def empty_session() -> Iterator[Session]:
    """A session over an empty store (the views exist, with no rows)."""
    with tempfile.TemporaryDirectory() as empty, Session(empty) as ses:
        yield ses


def test_empty_store_has_every_view() -> None:
    with empty_session() as ses:
        for view in VIEW_DOCS:
            assert rows(ses, f"SELECT count(*) FROM {view}") == [(0,)]


# --- both spellings ------------------------------------------------------------------------------

GPAW52 = 1 << 51


@pytest.fixture(scope="module")
def generic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A GPAW-52 trace that uses the generic spellings next to the dedicated ones."""
    path = tmp_path_factory.mktemp("generic") / "store"
    path.mkdir()
    mapgpa = int(Subfn.MAP_GPA)
    events = [
        {"kind": "tdvmcall", "subfn": mapgpa, "r12": GPAW52 | 0x100000, "r13": 0x3000,
         "status": TDVMCALL_RETRY, "r11_out": GPAW52 | 0x101000},
        {"kind": "tdvmcall", "subfn": mapgpa, "r12": GPAW52 | 0x101000, "r13": 0x2000,
         "status": 0},
        {"kind": "map_gpa", "gpa": 0x100000, "size": 0x3000, "status": 0},
        {"kind": "tdcall", "leaf": int(Leaf.MEM_PAGE_ACCEPT), "rcx": 0x100000, "status": 0},
        {"kind": "accept", "gpa": 0x101000, "level": 0, "status": 0},
        {"kind": "tdcall", "leaf": int(Leaf.MEM_PAGE_ACCEPT), "rcx": 0x200000 | 1,
         "status": TDX_PAGE_SIZE_MISMATCH | 1},
        {"kind": "tdcall", "leaf": int(Leaf.VP_INFO), "status": 0},
        {"kind": "mem_access", "gpa": GPAW52 | 0x100000, "write": True},
        {"kind": "convert", "gpa": 0x300000, "size": 0x1000, "to_private": False},
    ]
    td = TdConfig(gpaw=52, apic_ids=(0,), ram=((0, 0x80000000),))
    write_trace(path / "generic.parquet", events, td, trace_id="generic")
    return path


def test_map_gpa_reads_both_spellings(generic: Path) -> None:
    with Session(generic) as ses:
        got = rows(ses, "SELECT seq, spelling, gpa, to_shared, size, gpa_end, status_name, "
                        "resume_gpa_raw, resume_gpa FROM map_gpa ORDER BY seq")
        ops = rows(ses, "SELECT first_seq, last_seq, calls, retries, outcome FROM mapgpa_ops "
                        "ORDER BY first_seq")
    assert got == [
        (1, "tdvmcall", 0x100000, True, 0x3000, 0x103000, "RETRY", GPAW52 | 0x101000, 0x101000),
        (2, "tdvmcall", 0x101000, True, 0x2000, 0x103000, "SUCCESS", None, None),
        (3, "map_gpa", 0x100000, False, 0x3000, 0x103000, "SUCCESS", None, None),
    ]
    assert ops == [(1, 2, 2, 1, "success"), (3, 3, 1, 0, "success")]


def test_accepts_read_both_spellings(generic: Path) -> None:
    with Session(generic) as ses:
        got = rows(ses, "SELECT seq, spelling, gpa, level_name, level_size, status_name, rcx "
                        "FROM accepts ORDER BY seq")
        calls = rows(ses, "SELECT seq, leaf_name FROM tdcalls ORDER BY seq")
        access = rows(ses, "SELECT gpa, shared_mapping, write FROM mem_accesses")
        conv = rows(ses, "SELECT seq, source, to_shared FROM conversions_of(3145728)")
    assert got == [
        (4, "tdcall", 0x100000, "4K", 0x1000, "TDX_SUCCESS", 0x100000),
        (5, "accept", 0x101000, "4K", 0x1000, "TDX_SUCCESS", None),
        (6, "tdcall", 0x200000, "2M", 0x200000, "TDX_PAGE_SIZE_MISMATCH(0x1)", 0x200001),
    ]
    assert calls == [(4, "TDG.MEM.PAGE.ACCEPT"), (6, "TDG.MEM.PAGE.ACCEPT"), (7, "TDG.VP.INFO")]
    assert access == [(0x100000, True, True)]
    assert conv == [(9, "convert", True)]


# --- replay first ----------------------------------------------------------------------------


def test_session_replays_missing_results_once(generic: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    (store / "g.parquet").write_bytes((generic / "generic.parquet").read_bytes())
    replayed: list[str] = []
    with Session(store, on_replay=replayed.append) as ses:
        assert rows(ses, "SELECT DISTINCT trace_id FROM page_history") == [("g",)]
    assert replayed == ["g"]
    with Session(store, on_replay=replayed.append):
        pass
    assert replayed == ["g"]


# --- the query library -------------------------------------------------------------------------

LIBRARY = {"shared-pages-over-time", "conversion-latency", "retries-per-vcpu",
           "mailbox-timeline", "divergence-summary", "top-churn-ranges", "leaks-by-vcpu",
           "most-leaked-pages", "rules-never-run"}


def library_rows(session: Session, name: str, trace: str) -> list[tuple[Any, ...]]:
    return [r for r in rows(session, get_query(name).sql) if r[0] == trace]


def test_library_lists_every_query(store: Path) -> None:
    assert {q.name for q in load_library()} >= LIBRARY
    result = run("sql", "--list")
    assert result.exit_code == 0
    assert {line.split()[0] for line in result.stdout.splitlines()} >= LIBRARY


def test_divergence_summary(session: Session) -> None:
    assert library_rows(session, "divergence-summary", UNFIXED) == [
        (UNFIXED, "fatal", "C001", "cr4-mce-cleared", 1, None, 150),
        (UNFIXED, "error", "K001", "leaked-shared-memory", 2, 2055, 149),
        (UNFIXED, "error", "K004", "kexec-finish-missing", 1, 2055, 149),
        (UNFIXED, "info", "T003", "coverage", 8, None, None),
    ]


def test_leaks_by_vcpu(session: Session) -> None:
    assert library_rows(session, "leaks-by-vcpu", UNFIXED) == [
        (UNFIXED, 0, 2, 2055, 3, [4, 6, 8], ["0x1f600000-0x1fe00000", "0x4000000-0x4007000"])]
    assert library_rows(session, "leaks-by-vcpu", "sample-unshare-failure") == [
        ("sample-unshare-failure", 0, 1, 1, 1, [17], ["0x4000000-0x4001000"])]


def test_retries_per_vcpu(session: Session) -> None:
    got = library_rows(session, "retries-per-vcpu", "sample-unshare-retry-exhausted")
    assert got == [("sample-unshare-retry-exhausted", 0, 20, 7, 4, 0, 0.35),
                   ("sample-unshare-retry-exhausted", 1, 2, 0, 0, 0, 0.0)]


def test_conversion_latency(session: Session) -> None:
    got = library_rows(session, "conversion-latency", "sample-unshare-retry-exhausted")
    assert got == [("sample-unshare-retry-exhausted", 0, 14, 13, 1, 2, 7, 0, 0, 49000, 11),
                   ("sample-unshare-retry-exhausted", 1, 2, 2, 0, 0, 0, 0, 0, 0, 33)]
    assert library_rows(session, "conversion-latency", UNFIXED) == [
        (UNFIXED, 0, 5, 5, 0, 0, 0, 0, 0, 0, 4)]


def test_shared_pages_over_time(session: Session) -> None:
    got = library_rows(session, "shared-pages-over-time", UNFIXED)
    assert [(r[1], r[3], r[4]) for r in got] == [
        (4, 2048, 2048), (6, 3, 2051), (8, 4, 2055), (48, 7, 2062), (50, -7, 2055)]


def test_mailbox_timeline(session: Session) -> None:
    got = library_rows(session, "mailbox-timeline", "sample-mailbox-misuse")
    assert [(r[1], r[3], r[5], r[6], r[8]) for r in got[:4]] == [
        (10, None, "write", "apic_id", "1"), (11, 1000, "write", "wakeup_vector", "0x9a000"),
        (12, 1000, "write", "command", "WAKEUP"), (13, 9488000, "read", "command", "WAKEUP")]
    assert ("cpu", "woken") in {(r[5], r[8]) for r in got}


def test_top_churn_ranges(session: Session) -> None:
    got = rows(session, get_query("top-churn-ranges").sql)
    assert len(got) == 20
    assert got[0][1:6] == ("0x1f600000-0x1fe00000", 0x1F600000, 0x1FE00000, 2048, 2)
    assert [r[5] for r in got] == sorted((r[5] for r in got), reverse=True)


def test_run_a_library_query_from_the_cli(store: Path) -> None:
    result = sql(store, "--run", "divergence-summary", "--format", "csv")
    assert result.exit_code == 0
    parsed = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {(r["trace_id"], r["rule"], r["count"]) for r in parsed
            if r["trace_id"] == UNFIXED and r["rule"] == "K001"} == {(UNFIXED, "K001", "2")}
    assert sql(store, "--run", "nope").exit_code == 2


# --- the guard ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Parquet file outside the store."""
    path = tmp_path_factory.mktemp("outside") / "secret.parquet"
    pq.write_table(pa.table({"x": [1]}), path)
    return path


REFUSED = [
    "COPY (SELECT 1) TO '{tmp}/out.csv'",
    "COPY (SELECT 1) TO '{store}/out.csv'",
    "COPY events TO '{store}/out.parquet' (FORMAT parquet)",
    "EXPORT DATABASE '{tmp}/exported'",
    "EXPORT DATABASE '{store}/exported'",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/hostname')",
    "SELECT * FROM read_parquet('{outside}')",
    "SELECT * FROM read_parquet('{store}/../outside/secret.parquet')",
    "SELECT * FROM glob('/etc/*')",
    "INSTALL httpfs",
    "LOAD httpfs",
    "ATTACH '{tmp}/x.db'",
    "ATTACH '{store}/x.db'",
    "ATTACH ':memory:' AS other",
    "SET enable_external_access = true",
    "SET threads = 1",
    "RESET lock_configuration",
    "PRAGMA threads = 1",
    "PRAGMA enable_profiling",
    "CREATE TABLE t AS SELECT 1",
    "CREATE TEMP TABLE t AS SELECT 1",
    "CREATE VIEW v AS SELECT 1",
    "DROP VIEW events",
    "INSERT INTO traces (trace_id) VALUES ('x')",
    "CHECKPOINT",
    "SELECT 1; SELECT 2",
    "EXPLAIN ANALYZE COPY (SELECT 1) TO '{store}/out.csv'",
    "/* x */ explain analyze CREATE TABLE t AS SELECT 1",
    "EXPLAIN (FORMAT json) SELECT 1",
    "SELECT * FROM query('COPY (SELECT 1) TO ''{store}/out.csv''')",
]


@pytest.mark.parametrize("statement", REFUSED)
def test_refused(store: Path, outside: Path, tmp_path: Path, statement: str) -> None:
    query = statement.format(tmp=tmp_path, store=store, outside=outside)
    before = sorted(p.name for p in store.iterdir())
    result = sql(store, query)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("tdxray: error: ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    assert sorted(p.name for p in store.iterdir()) == before
    assert list(tmp_path.iterdir()) == []


def test_duckdb_guards_hold_without_the_statement_check(session: Session) -> None:
    """Below the statement-type check, the locked configuration refuses on its own."""
    with pytest.raises(duckdb.Error, match="locked"):
        session.con.execute("SET enable_external_access = true")
    with pytest.raises(duckdb.PermissionException):
        session.con.execute("SELECT * FROM read_csv('/etc/passwd')")
    with pytest.raises(duckdb.PermissionException):
        session.con.execute("LOAD httpfs")


def test_read_only_statements_pass(session: Session) -> None:
    for query in ("DESCRIBE map_gpa", "SHOW TABLES", "SUMMARIZE cpus", "EXPLAIN FROM events",
                  "-- plan\nEXPLAIN ANALYZE SELECT count(*) FROM map_gpa",
                  "FROM traces", "VALUES (1)", "WITH x AS (SELECT 1 AS a) SELECT a FROM x;"):
        session.arrow(query)
    with pytest.raises(QueryError, match="refused"):
        session.arrow("COPY events TO 'x.csv'")


@pytest.mark.parametrize(("query", "words"), [
    ("SELEC 1", "Parser Error"),
    ("SELECT * FROM no_such_view", "Catalog Error"),
    ("SELECT CAST(-1 AS UBIGINT)", "Conversion Error"),
    ("", "empty query"),
])
def test_query_errors_are_one_line(store: Path, query: str, words: str) -> None:
    result = sql(store, query)
    assert result.exit_code == 2
    assert result.stderr.startswith("tdxray: error: ") and words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


# --- output ------------------------------------------------------------------------------------


def test_table_limit_is_never_silent(store: Path) -> None:
    result = sql(store, "SELECT seq FROM events")
    assert result.exit_code == 0
    assert "showing 500 of 2,400 rows" in result.stderr
    assert sql(store, "FROM events", "--limit", "5").stderr.startswith("showing 5 of 2,400 rows")
    assert "showing" not in sql(store, "FROM traces").stderr
    full = sql(store, "SELECT seq FROM events", "--limit", "0", "--format", "csv")
    assert len(full.stdout.splitlines()) == 2401 and full.stderr == ""


def test_csv_json_jsonl_markdown_parse_back(store: Path, session: Session) -> None:
    query = f"SELECT seq, vcpu, spelling, gpa, to_shared FROM map_gpa " \
            f"WHERE trace_id = '{UNFIXED}' ORDER BY seq"
    expected = [dict(zip(("seq", "vcpu", "spelling", "gpa", "to_shared"), r, strict=True))
                for r in rows(session, query)]
    as_csv = list(csv.DictReader(io.StringIO(sql(store, query, "--format", "csv").stdout)))
    assert [int(r["gpa"]) for r in as_csv] == [r["gpa"] for r in expected]
    assert json.loads(sql(store, query, "--format", "json").stdout) == expected
    jsonl = sql(store, query, "--format", "jsonl").stdout.splitlines()
    assert [json.loads(line) for line in jsonl] == expected
    md = sql(store, query, "--format", "markdown").stdout.splitlines()
    assert md[0] == "| seq | vcpu | spelling | gpa | to_shared |"
    assert md[1] == "|---:|---:|---|---:|---|"
    assert [line.split(" | ")[0] for line in md[2:]] == [f"| {r['seq']}" for r in expected]


def test_nested_values_in_text_formats(store: Path) -> None:
    query = f"SELECT apic_ids, ram FROM traces WHERE trace_id = '{UNFIXED}'"
    row = next(csv.DictReader(io.StringIO(sql(store, query, "--format", "csv").stdout)))
    assert json.loads(row["apic_ids"]) == [0]
    assert json.loads(sql(store, query, "--format", "json").stdout) == \
        [{"apic_ids": [0], "ram": [{"start": 0, "end": 0x20000000}]}]


@pytest.mark.parametrize("fmt", ["parquet", "arrow"])
def test_binary_formats(store: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"r.{fmt}"
    assert sql(store, "FROM map_gpa", "--format", fmt, "-o", str(out)).exit_code == 0
    table = pq.read_table(out) if fmt == "parquet" else pa.ipc.open_file(out).read_all()
    assert table.num_rows == 315 and "gpa_hex" in table.column_names
    piped = CliRunner().invoke(cli, ["sql", "--store", str(store), "FROM cpus", "--format", fmt])
    assert piped.exit_code == 0 and len(piped.stdout_bytes) > 0


def test_table_escapes_control_characters(store: Path) -> None:
    result = sql(store, "SELECT 'ok' || chr(27) || '[31m red [bold]x' AS t")
    assert "\x1b" not in result.stdout
    assert "\\x1b[31m red [bold]x" in result.stdout


def test_query_from_file_and_stdin(store: Path, tmp_path: Path) -> None:
    query = tmp_path / "q.sql"
    query.write_text("-- count\nSELECT count(*) AS n FROM cpus;\n")
    assert sql(store, "-f", str(query), "--format", "csv").stdout == "n\n36\n"
    assert sql(store, "--format", "csv", stdin="SELECT count(*) AS n FROM cpus").stdout == \
        "n\n36\n"
    both = sql(store, "SELECT 1", "--run", "divergence-summary")
    assert both.exit_code == 2 and "once" in both.output


def test_store_is_required(tmp_path: Path) -> None:
    result = CliRunner(env={"TDXRAY_STORE": None}).invoke(cli, ["sql", "SELECT 1"])
    assert result.exit_code == 2 and "--store" in result.output
    assert run("sql", "--store", str(tmp_path / "missing"), "SELECT 1").exit_code == 2


def test_schema_lists_every_view(store: Path) -> None:
    result = run("sql", "--schema")
    assert result.exit_code == 0
    heads = {line.split(":")[0] for line in result.stdout.splitlines()
             if line and not line.startswith(" ")}
    assert set(VIEW_DOCS) <= heads
    for name in ("page_state_at(gpa, ts)", "shared_ranges_at(trace, ts)", "conversions_of(addr)",
                 "tdx_status_name(s)", "    gpa_hex", "    status_name"):
        assert name in result.stdout
    assert sql(store, "--schema").stdout == result.stdout


def test_repl_runs_statements_and_commands() -> None:
    lines = iter(["SELECT 1", "AS x;", ".list", "", "bad;", ".quit", "never read"])
    ran: list[str] = []
    commands: list[str] = []
    said: list[str] = []

    def run_sql(text: str) -> None:
        ran.append(text)
        if text.startswith("bad"):
            raise QueryError("Parser Error: syntax error")

    repl(run_sql, commands.append, read=lambda prompt: next(lines), say=said.append)
    assert ran == ["SELECT 1\nAS x;", "bad;"]
    assert commands == [".list"]
    assert said == ["error: Parser Error: syntax error"]


def test_history_lives_in_the_xdg_state_directory(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert history_path() == tmp_path / "tdxray" / "sql_history"


def test_text_output_to_a_file(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "cpus.csv"
    result = sql(store, "SELECT count(*) AS n FROM cpus", "--format", "csv", "-o", str(out))
    assert result.exit_code == 0 and result.stdout == ""
    assert out.read_text() == "n\n36\n"


def test_shared_at_each_jump_is_what_k001_reports(session: Session) -> None:
    """The views and the model agree: ranges shared at `jump` are the K001 ranges."""
    at_jump = rows(session, "SELECT k.trace_id, s.gpa_start, s.gpa_end, s.cause_seqs "
                            "FROM kexec_phases k, shared_ranges_at(k.trace_id, k.ts_ns) s "
                            "WHERE k.phase = 'jump' ORDER BY ALL")
    k001 = rows(session, "SELECT trace_id, gpa_start, gpa_end, cause_seqs FROM divergences "
                         "WHERE rule = 'K001' ORDER BY ALL")
    assert at_jump == k001 and len(k001) == 5


def test_a_misspelt_macro_gets_duckdb_s_hint_among_the_macros(store: Path) -> None:
    """Macros are defined on first use: a wrong name is retried with all of them defined."""
    with Session(store) as session:
        with pytest.raises(QueryError) as caught:
            session.relation("SELECT gpa_hx(1)")
        assert str(caught.value) == ('Catalog Error: Scalar Function with name gpa_hx does not '
                                     'exist! Did you mean "gpa_hex"?')
        assert session.arrow("SELECT gpa_hex(255) AS h").column("h").to_pylist() == ["0xff"]
