"""The fleet questions of the query library, answered exactly on a store of three traces:
the traces that leaked the most pages, and the rules that never ran (T003 in every trace)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from tdxray.analyses.sql.library import get_query
from tdxray.analyses.sql.session import Session
from tdxray.cli.main import cli
from tests.test_manifest import SAMPLES, kernel_trace

MAILBOX_RULES = [f"M00{i}" for i in range(1, 9)]


def _ingest(store: Path, *paths: Path) -> None:
    res = CliRunner().invoke(cli, ["ingest", *map(str, paths), "-o", str(store)])
    assert res.exit_code == 0, res.output


def _run(store: Path, name: str) -> list[dict[str, object]]:
    with Session(store) as session:
        return session.arrow(get_query(name).sql).to_pylist()


def test_most_leaked_pages_and_rules_never_run_follow_the_store(tmp_path: Path) -> None:
    store = tmp_path / "store"
    unfixed = kernel_trace(tmp_path, "unfixed-kernel", "td-unfixed", "6.1.0-37-amd64")
    # neither trace writes the mailbox: M001..M008 are skipped in both, and so never ran
    _ingest(store, unfixed, SAMPLES / "single-vcpu-kexec.jsonl")
    assert _run(store, "most-leaked-pages") == [
        {"trace_id": "td-unfixed", "kernel_version": "6.1.0-37-amd64", "leaked_pages": 2055,
         "leaked_ranges": 2, "ranges": ["0x4000000-0x4007000", "0x1f600000-0x1fe00000"]}]
    never = _run(store, "rules-never-run")
    assert [r["rule"] for r in never] == MAILBOX_RULES
    assert {r["traces"] for r in never} == {2}
    assert [r["reasons"] for r in never] == [["no mailbox_write events"]] * 7 + [
        ["no cpu or mailbox events"]]
    # a third trace runs every rule and leaks one page: no rule is left unrun
    _ingest(store, SAMPLES / "unshare-failure.jsonl")
    assert [(r["trace_id"], r["leaked_pages"], r["leaked_ranges"])
            for r in _run(store, "most-leaked-pages")] == [
        ("td-unfixed", 2055, 2), ("sample-unshare-failure", 1, 1)]
    assert _run(store, "rules-never-run") == []
