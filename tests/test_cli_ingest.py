"""`tdxray ingest`, `export` and `info` through the CLI: good input, bad input, exit codes."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from tdxray.cli.main import cli
from tdxray.schema.events import META_SCHEMA_VERSION

EXAMPLES = Path(__file__).parent / "spec_examples"
EXAMPLE = EXAMPLES / "smp-v1-kexec-clean.jsonl"
EXAMPLE_ID = "ex4-smp-v1-kexec-clean"
HEADER = {"tdxray": 1, "trace_id": "bad-1", "td": {"gpaw": 48, "apic_ids": [0],
                                                   "ram": [["0x0", "0x80000000"]],
                                                   "memory": "accepted"}}


def run(*args: str, stdin: str | bytes | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=stdin, catch_exceptions=False)


def lines(*objs: Any) -> str:
    return "".join(json.dumps(o) + "\n" for o in objs)


def event(seq: int, **fields: Any) -> dict[str, Any]:
    return {"seq": seq, "ts_ns": seq, "vcpu": 0, "kind": "kexec", "phase": "boot", **fields}


def store_files(store: Path) -> list[str]:
    # the manifest (STORE/_manifest/, #15) is the store's own bookkeeping, not a trace file
    return sorted(p.name for p in store.iterdir() if p.name != "_manifest") \
        if store.exists() else []


# --- ingest ------------------------------------------------------------------------------------


def test_ingest_writes_the_trace_with_provenance(tmp_path: Path) -> None:
    store = tmp_path / "store"
    result = run("ingest", str(EXAMPLE), "-o", str(store))
    assert result.exit_code == 0, result.output
    assert store_files(store) == [f"{EXAMPLE_ID}.parquet"]
    meta = pq.read_schema(store / f"{EXAMPLE_ID}.parquet").metadata
    header = json.loads(meta[b"tdxray.header"])
    assert header["provenance"]["tool"].startswith("hand-written")
    (record,) = header["provenance"]["ingest"]
    assert record["sources"] == [str(EXAMPLE)] and record["format"] == "jsonl"
    assert {"time", "tdxray"} <= set(record)


def test_ingest_refuses_an_existing_trace_unless_replace(tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert run("ingest", str(EXAMPLE), "-o", str(store)).exit_code == 0
    again = run("ingest", str(EXAMPLE), "-o", str(store))
    assert again.exit_code == 2 and "--replace" in again.stderr
    assert run("ingest", str(EXAMPLE), "-o", str(store), "--replace").exit_code == 0
    assert store_files(store) == [f"{EXAMPLE_ID}.parquet"]


def test_ingest_trace_id_overrides_the_header(tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert run("ingest", str(EXAMPLE), "-o", str(store), "--trace-id", "mine").exit_code == 0
    assert store_files(store) == ["mine.parquet"]
    info = json.loads(run("info", str(store), "--json").stdout)
    assert info[0]["trace_id"] == "mine"


def test_ingest_several_files_and_stdin_and_gzip(tmp_path: Path) -> None:
    store = tmp_path / "store"
    packed = tmp_path / "packed.jsonl.gz"
    packed.write_bytes(gzip.compress((EXAMPLES / "retry-skip.jsonl").read_bytes()))
    result = run("ingest", "-", str(packed), "-o", str(store), stdin=EXAMPLE.read_bytes())
    assert result.exit_code == 0, result.output
    assert store_files(store) == ["ex3-retry-skip.parquet", f"{EXAMPLE_ID}.parquet"]


def test_ingest_incomplete_last_line_warns_and_succeeds(tmp_path: Path) -> None:
    source = tmp_path / "cut.jsonl"
    source.write_text(lines(HEADER, event(1)) + '{"seq": 2, "ts_n')
    result = run("ingest", str(source), "-o", str(tmp_path / "store"))
    assert result.exit_code == 0
    assert f"{source}:3" in result.stderr and "warning" in result.stderr
    assert store_files(tmp_path / "store") == ["bad-1.parquet"]


BAD_JSONL = {
    "malformed": (lines(HEADER, event(1)) + "{oops\n" + lines(event(3)), 3),
    "missing-header": (lines(event(1), event(2)), 1),
    "seq-not-increasing": (lines(HEADER, event(5), event(5)), 3),
    "unknown-td-key": (lines({**HEADER, "td": {**HEADER["td"], "gpaww": 1}}, event(1)), 1),
    "out-of-range": (lines(HEADER, event(1, vcpu=1 << 40)), 2),
    "trace-id-slash": (lines({**HEADER, "trace_id": "a/b"}, event(1)), 1),
    "trace-id-dotdot": (lines({**HEADER, "trace_id": ".."}, event(1)), 1),
}


@pytest.mark.parametrize("case", sorted(BAD_JSONL))
def test_ingest_bad_input(tmp_path: Path, case: str) -> None:
    text, line = BAD_JSONL[case]
    source = tmp_path / "in.jsonl"
    source.write_text(text)
    store = tmp_path / "store"
    result = run("ingest", str(source), "-o", str(store))
    assert result.exit_code == 2
    assert f"{source}:{line}:" in result.stderr
    assert store_files(store) == []
    assert not (tmp_path / "a").exists()


def test_ingest_refuses_a_trace_id_option_that_escapes(tmp_path: Path) -> None:
    result = run("ingest", str(EXAMPLE), "-o", str(tmp_path / "store"), "--trace-id", "../up")
    assert result.exit_code == 2 and "--trace-id" in result.stderr
    assert store_files(tmp_path / "store") == [] and not (tmp_path / "up.parquet").exists()


def test_ingest_of_unknown_content_asks_for_format(tmp_path: Path) -> None:
    source = tmp_path / "x.txt"
    source.write_text("hello world\n")
    result = run("ingest", str(source), "-o", str(tmp_path / "store"))
    assert result.exit_code == 2 and "--format" in result.stderr


def test_ingest_a_parquet_trace(tmp_path: Path) -> None:
    first, second = tmp_path / "s1", tmp_path / "s2"
    assert run("ingest", str(EXAMPLE), "-o", str(first)).exit_code == 0
    result = run("ingest", str(first / f"{EXAMPLE_ID}.parquet"), "-o", str(second))
    assert result.exit_code == 0, result.output
    header = json.loads(pq.read_schema(second / f"{EXAMPLE_ID}.parquet").metadata[b"tdxray.header"])
    assert [r["format"] for r in header["provenance"]["ingest"]] == ["jsonl", "parquet"]


# --- export ------------------------------------------------------------------------------------


def test_export_of_a_jsonl_file_reproduces_it() -> None:
    result = run("export", str(EXAMPLE))
    assert result.exit_code == 0
    assert result.stdout == EXAMPLE.read_text()


def test_export_round_trip_through_a_store(tmp_path: Path) -> None:
    store = tmp_path / "store"
    run("ingest", str(EXAMPLE), "-o", str(store))
    out = tmp_path / "out.jsonl"
    assert run("export", str(store), "-o", str(out)).exit_code == 0
    exported = out.read_text().splitlines()
    original = EXAMPLE.read_text().splitlines()
    assert exported[1:] == original[1:]
    assert exported[0] == original[0]  # the same header: the ingest records stay in the store


def test_export_needs_trace_for_a_store_with_several(tmp_path: Path) -> None:
    store = tmp_path / "store"
    run("ingest", str(EXAMPLE), str(EXAMPLES / "retry-skip.jsonl"), "-o", str(store))
    result = run("export", str(store))
    assert result.exit_code == 2 and "--trace" in result.stderr
    result = run("export", str(store), "--trace", "ex3-retry-skip")
    assert result.exit_code == 0 and result.stdout.startswith('{"tdxray": 1, "trace_id": "ex3')


def parquet_of_example(tmp_path: Path) -> Path:
    run("ingest", str(EXAMPLE), "-o", str(tmp_path / "store"))
    return tmp_path / "store" / f"{EXAMPLE_ID}.parquet"


def test_export_of_a_corrupt_parquet(tmp_path: Path) -> None:
    path = parquet_of_example(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 40])
    out = tmp_path / "out.jsonl"
    result = run("export", str(path), "-o", str(out))
    assert result.exit_code == 2 and str(path) in result.stderr
    assert not out.exists()


def test_export_of_another_schema_version(tmp_path: Path) -> None:
    path = parquet_of_example(tmp_path)
    table = pq.read_table(path)
    meta = {**table.schema.metadata, META_SCHEMA_VERSION: b"99"}
    pq.write_table(table.replace_schema_metadata(meta), path)
    out = tmp_path / "out.jsonl"
    result = run("export", str(path), "-o", str(out))
    assert result.exit_code == 2
    assert str(path) in result.stderr and "schema version 99" in result.stderr
    assert not out.exists()


def test_export_of_bad_jsonl_writes_nothing(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(lines(HEADER, event(2), event(1)))
    out = tmp_path / "out.jsonl"
    result = run("export", str(source), "-o", str(out))
    assert result.exit_code == 2 and f"{source}:3:" in result.stderr
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


# --- info --------------------------------------------------------------------------------------


def test_info_text_and_json(tmp_path: Path) -> None:
    store = tmp_path / "store"
    run("ingest", str(EXAMPLE), str(EXAMPLES / "retry-skip.jsonl"), "-o", str(store))
    text = run("info", str(store))
    assert text.exit_code == 0
    assert "trace:          ex3-retry-skip" in text.stdout and EXAMPLE_ID in text.stdout
    assert "mailbox_write" in text.stdout and "events by vcpu" in text.stdout
    docs = json.loads(run("info", str(store), "--json").stdout)
    assert [d["trace_id"] for d in docs] == ["ex3-retry-skip", EXAMPLE_ID]
    assert docs[1]["events"] == 47 and docs[1]["row_groups"] == 1
    assert docs[0]["expected_rules"] == ["G001", "A002"]


def test_info_of_a_jsonl_file() -> None:
    result = run("info", str(EXAMPLE), "--json")
    assert result.exit_code == 0
    (doc,) = json.loads(result.stdout)
    assert doc["source"] == str(EXAMPLE) and doc["events_by_vcpu"] == {"0": 32, "1": 8, "2": 7}
