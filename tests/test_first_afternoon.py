"""What a new user tries on the first afternoon: the rough edges found walking the docs, each
pinned to the exact message or behaviour it has now."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tdxray.cli.main import cli

REAL = Path(__file__).parent / "data" / "real"
SAMPLES = Path(__file__).resolve().parent.parent / "sample_traces"


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The unfixed-kernel sample ingested and replayed."""
    store = tmp_path_factory.mktemp("store")
    res = CliRunner().invoke(cli, ["ingest", str(SAMPLES / "unfixed-kernel.jsonl"), "-o",
                                   str(store), "-q"])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(cli, ["replay", str(store)])
    assert res.exit_code == 0, res.output
    return store


def _errors(report: str) -> set[str]:
    """The rule ids above info in a --format json report."""
    return {d["rule"] for t in json.loads(report)["traces"] for d in t["divergences"]
            if d["severity"] != "info"}


def test_check_takes_the_td_of_a_text_trace() -> None:
    """check's warning says "give --td FILE.json": check takes it, like ingest does."""
    with_td = CliRunner().invoke(cli, ["check", str(REAL / "guest.trace"), "--td",
                                       str(REAL / "td.json"), "--format", "json"])
    assert with_td.exit_code == 1, with_td.output
    assert "no --td" not in with_td.stderr
    assert _errors(with_td.stdout) == {"G004", "K001"}
    without = CliRunner().invoke(cli, ["check", str(REAL / "guest.trace"), "--format", "json"])
    assert "tdxray: warning: no --td: assuming the default TD" in without.stderr
    assert _errors(without.stdout) == {"G004", "K001", "M004", "T004"}  # APIC id 1 unknown


def test_check_names_a_bad_td_file(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["check", str(REAL / "guest.trace"), "--td",
                                   str(tmp_path / "td.json")])
    assert res.exit_code == 2
    missing = tmp_path / "td.json"
    assert res.stderr == f"tdxray: error: {missing}: cannot open: No such file or directory\n"


def test_check_td_with_a_cluster_says_to_ingest_first() -> None:
    res = CliRunner().invoke(cli, ["check", str(REAL / "guest.trace"), "--td",
                                   str(REAL / "td.json"), "--workers", "1"])
    assert res.exit_code == 2
    assert ("Error: --td is for traces checked here; with --workers or --scheduler ingest text "
            "traces first: tdxray ingest FILE --td FILE.json -o STORE") in res.stderr


def test_tui_names_a_missing_trace_before_taking_the_screen(tmp_path: Path) -> None:
    """It used to open the full screen and say "opening nofile …" there: no exit status 2."""
    missing = tmp_path / "nofile.jsonl"
    said = f"tdxray: error: {missing}: no such file or directory\n"
    res = CliRunner().invoke(cli, ["tui", str(missing)])
    assert (res.exit_code, res.stderr) == (2, said)
    res = CliRunner().invoke(cli, ["tui", "--diff", str(REAL / "td.json"), str(missing)])
    assert (res.exit_code, res.stderr) == (2, said)


def test_tui_without_a_terminal_says_so() -> None:
    """`tdxray tui TRACE | less` used to paint escape sequences into the pipe and wait for keys."""
    res = CliRunner().invoke(cli, ["tui", str(REAL / "guest.trace")])
    assert res.exit_code == 2
    assert res.stderr.endswith("Error: tui needs a terminal (stdout is not one); for a report on a "
                               "file or pipe: tdxray check TRACE\n")


def test_sql_keeps_duckdb_hint_on_a_wrong_name(sample_store: Path) -> None:
    """DuckDB's "Did you mean" was cut off with the rest of its message's second line."""
    res = CliRunner().invoke(cli, ["sql", "SELECT * FROM divergence", "--store",
                                   str(sample_store)])
    assert (res.exit_code, res.stderr) == (2, (
        'tdxray: error: Catalog Error: Table with name divergence does not exist! Did you mean '
        '"divergences"? (SHOW TABLES lists the views; docs/sql.md says what each holds)\n'))
    res = CliRunner().invoke(cli, ["sql", "SELECT rul FROM divergences", "--store",
                                   str(sample_store)])
    assert (res.exit_code, res.stderr) == (2, (
        'tdxray: error: Binder Error: Referenced column "rul" not found in FROM clause! '
        'Candidate bindings: "rule"\n'))
