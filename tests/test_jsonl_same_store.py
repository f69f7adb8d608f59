"""The column-at-a-time JSONL path ingests exactly the store the line-by-line path does.

Every sample trace and a 1e5-event simulator export are ingested twice through `tdxray ingest`:
as it runs, and with the reader held to the line path (block_bytes=0, the exact per-line reader).
The Parquet tables must be equal, types included; the export must really take the column path.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partialmethod
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from tdxray.cli.main import cli
from tdxray.export.jsonl import write_jsonl
from tdxray.ingest.jsonl import reader as jsonl_reader
from tdxray.ingest.jsonl.reader import JsonlReader
from tdxray.simulator.run import simulate
from tdxray.simulator.scenarios import SCENARIOS

SAMPLES = sorted((Path(__file__).resolve().parent.parent / "sample_traces").glob("*.jsonl"))


@pytest.fixture(scope="module")
def export_1e5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("export") / "sim-1e5.jsonl"
    sim = simulate(SCENARIOS["smp-v1-kexec"].config(events=100_000, seed=0))
    with path.open("w", encoding="utf-8", newline="\n") as out:
        write_jsonl(sim.header, sim.batches(), out)
    return path


def ingested(path: Path, store: Path) -> pa.Table:
    result = CliRunner().invoke(cli, ["ingest", str(path), "-o", str(store), "--trace-id", "t"])
    assert result.exit_code == 0, result.output
    table = pq.read_table(store / "t.parquet")
    return pa.table({name: pc.cast(column, column.type.value_type)
                     if pa.types.is_dictionary(column.type) else column.combine_chunks()
                     for name, column in zip(table.column_names, table.columns, strict=True)})


def by_both_paths(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                  ) -> tuple[pa.Table, pa.Table, int]:
    """(as ingested, line by line only, rows the column path gave)."""
    column_rows = 0
    block_batch = jsonl_reader.block_batch

    def counted(*args: Any) -> pa.RecordBatch | None:
        nonlocal column_rows
        batch = block_batch(*args)
        column_rows += 0 if batch is None else batch.num_rows
        return batch

    monkeypatch.setattr(jsonl_reader, "block_batch", counted)
    fast = ingested(path, tmp_path / "fast")
    monkeypatch.setattr(JsonlReader, "__init__",
                        partialmethod(JsonlReader.__init__, block_bytes=0))
    slow = ingested(path, tmp_path / "slow")
    return fast, slow, column_rows


def _ids(paths: list[Path]) -> Iterator[str]:
    return (p.name for p in paths)


@pytest.mark.parametrize("path", SAMPLES, ids=list(_ids(SAMPLES)))
def test_every_sample_ingests_the_same_table(path: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    fast, slow, _ = by_both_paths(path, tmp_path, monkeypatch)
    assert fast.schema == slow.schema
    assert fast.equals(slow)


def test_a_simulator_export_ingests_the_same_table(export_1e5: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    fast, slow, column_rows = by_both_paths(export_1e5, tmp_path, monkeypatch)
    assert fast.num_rows > 90_000
    assert column_rows > fast.num_rows * 0.9  # the comparison is not line path against itself
    assert fast.schema == slow.schema
    assert fast.equals(slow)


HEADER = ('{"tdxray": 1, "trace_id": "t", "td": {"gpaw": 48, "apic_ids": [0, 1], '
          '"ram": [["0x0", "0x80000000"]], "memory": "accepted"}}')
EVENT = ('{"seq": %d, "ts_ns": 7, "vcpu": 0, "kind": "map_gpa", "gpa": "0x1000", '
         '"size": "0x1000", "status": "0x0"%s}')
# What a more lenient JSON reader (DuckDB's yyjson: trailing commas, NaN, keys it drops, a
# string for a number) would take differently: both paths must agree, in the store or in the
# error. A duplicate key keeps its last value in both (orjson and pyarrow).
ACCEPTED = {
    "duplicate key": EVENT % (3, ', "gpa": "0x2000"'),
    "minus zero": EVENT.replace('"ts_ns": 7', '"ts_ns": -0') % (3, ""),
    "NUL escape in text": '{"seq": 3, "ts_ns": 7, "vcpu": 0, "kind": "log", "text": "a\\u0000b"}',
    "key in upper case": EVENT % (3, ', "GPA": "0x2000"'),
}
REFUSED = {
    "trailing comma": (EVENT % (3, ",")).replace(",}", " , }"),
    "NaN": EVENT % (3, ', "level": NaN'),
    "Infinity": EVENT.replace('"size": "0x1000"', '"size": Infinity') % (3, ""),
    "string for a number": EVENT.replace('"seq": %d', '"seq": "%d"') % (3, ""),
    "exponent": EVENT.replace('"ts_ns": 7', '"ts_ns": 7e3') % (3, ""),
    "beyond 64 bits": EVENT.replace('"ts_ns": 7', '"ts_ns": 99999999999999999999') % (3, ""),
}


def _hostile(tmp_path: Path, line: str) -> Path:
    path = tmp_path / "hostile.jsonl"
    events = [EVENT % (1, ""), EVENT % (2, ""), line, EVENT % (4, ""), EVENT % (5, "")]
    path.write_text("\n".join([HEADER, *events]) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_lenient_json_is_read_the_same(name: str, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    fast, slow, _ = by_both_paths(_hostile(tmp_path, ACCEPTED[name]), tmp_path, monkeypatch)
    assert fast.num_rows == 5
    assert fast.equals(slow)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_lenient_json_is_refused_the_same(name: str, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    _refused_the_same(_hostile(tmp_path, REFUSED[name]), tmp_path, monkeypatch)


def _refused_the_same(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ingest of `path` (bad on its line 4) fails as the line path's does, word for word."""
    args = ["ingest", str(path), "-o", str(tmp_path / "store")]
    fast = CliRunner().invoke(cli, args)
    monkeypatch.setattr(JsonlReader, "__init__",
                        partialmethod(JsonlReader.__init__, block_bytes=0))
    slow = CliRunner().invoke(cli, args)
    assert (fast.exit_code, slow.exit_code) == (2, 2)
    assert fast.output == slow.output
    assert f"{path}:4: " in fast.output


# Shapes around the compiled scan's plain shape (jsonl.scan): the ones it takes must give the
# store the other paths give; the ones it declines go to pyarrow's path or the line path, which
# read them as before. Each is one line among plain ones, the scan loaded from the first block.
SCAN_TAKES = {
    "compact separators": EVENT.replace(", ", ",").replace(": ", ":") % (3, ""),
    "another key order": ('{"kind": "map_gpa", "status": "0x0", "gpa": "0x1000", "vcpu": 0, '
                          '"size": "0x1000", "ts_ns": 7, "seq": 3}'),
    "upper-case hex digits": EVENT.replace('"0x1000", "status"', '"0xABCDEF", "status"') % (3, ""),
    "16 hex digits": EVENT.replace('"gpa": "0x1000"', '"gpa": "0xffffffffffffffff"') % (3, ""),
    "text with brackets and braces": ('{"seq": 3, "ts_ns": 7, "vcpu": 0, "kind": "log", '
                                      '"text": "[vda] {x}: ok, \'q\'"}'),
    "escapes in text": ('{"seq": 3, "ts_ns": 7, "vcpu": 0, "kind": "log", '
                        '"text": "comm=\\"systemd\\" a\\\\b\\/c\\td\\ne"}'),
}
SCAN_DECLINES = {
    "space before a colon": EVENT.replace('"seq": ', '"seq" : ') % (3, ""),
    "two spaces after a comma": EVENT.replace(', "vcpu"', ',  "vcpu"') % (3, ""),
    "a tab": EVENT.replace(', "vcpu"', ',\t"vcpu"') % (3, ""),
    "space after the brace": EVENT.replace('{"seq"', '{ "seq"') % (3, ""),
    "space before the end": (EVENT % (3, "")).replace("}", " }"),
    "0X": EVENT.replace('"gpa": "0x1000"', '"gpa": "0X1000"') % (3, ""),
    "17 hex digits": EVENT.replace('"gpa": "0x1000"', '"gpa": "0x00000000000001000"') % (3, ""),
    "minus zero": EVENT.replace('"ts_ns": 7', '"ts_ns": -0') % (3, ""),
    "19 digits": EVENT.replace('"ts_ns": 7', '"ts_ns": 1000000000000000000') % (3, ""),
    "decimal and hex in one column": EVENT.replace('"vcpu": 0', '"vcpu": "0x0"') % (3, ""),
    "duplicate key": EVENT % (3, ', "gpa": "0x2000"'),
    "escape": '{"seq": 3, "ts_ns": 7, "vcpu": 0, "kind": "log", "text": "a\\"b\\u00e9"}',
    "escape near the start": '{"seq": 3, "ts_ns": 7, "vcpu": 0, "kind": "log", "text": "a\\"b"}',
    "escaped backslash, u": ('{"seq": 3, "ts_ns": 7, "vcpu": 0, "kind": "log", '
                             '"text": "abcdef\\\\u"}'),
    "escape in a kind": '{"seq": 3, "ts_ns": 7, "vcpu": 0, "kind": "lo\\/g"}',
    "non-ASCII text": '{"seq": 3, "ts_ns": 7, "vcpu": 0, "kind": "log", "text": "caf\u00e9"}',
    "null in text": '{"seq": 3, "ts_ns": 7, "vcpu": 0, "kind": "log", "text": "nullify"}',
    "a date in text": '{"seq": 3, "ts_ns": 7, "vcpu": 0, "kind": "log", "text": "2020-01-01"}',
    "a null": EVENT % (3, ', "resume_gpa": null'),
    "a key of another kind": EVENT % (3, ', "text": "x"'),
    "an unknown key": EVENT % (3, ', "GPA": "0x2000"'),
    "a nested value": EVENT % (3, ', "x": [1]'),
    "CRLF": (EVENT % (3, "")) + "\r",
}
SCAN_REFUSES = {  # declined by the scan, then refused by the other paths as before
    "leading zero": EVENT.replace('"ts_ns": 7', '"ts_ns": 07') % (3, ""),
    "exponent": EVENT.replace('"ts_ns": 7', '"ts_ns": 1e3') % (3, ""),
    "a fraction": EVENT.replace('"ts_ns": 7', '"ts_ns": 1.0') % (3, ""),
    "true for an integer": EVENT.replace('"vcpu": 0', '"vcpu": true') % (3, ""),
    "invalid UTF-8": '{"seq": 3, "ts_ns": 7, "vcpu": 0, "kind": "log", "text": "\udcff"}',
}


def _scanned_paths(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                   ) -> tuple[pa.Table, pa.Table, int]:
    """(ingested with the scan from the first block, line by line only, rows it scanned)."""
    from tdxray.ingest.jsonl import scanned

    rows = 0
    scan = scanned.scanned_columns

    def counted(block: bytes) -> dict[str, pa.Array] | None:
        nonlocal rows
        columns = scan(block)
        if columns is not None and block.count(b"\n") > 1:  # not the scan's own warm-up
            rows += len(columns["seq"])
        return columns

    monkeypatch.setattr(jsonl_reader, "SCAN_AFTER_BLOCKS", 0)
    monkeypatch.setattr(scanned, "scanned_columns", counted)
    fast, slow, _ = by_both_paths(path, tmp_path, monkeypatch)
    return fast, slow, rows


@pytest.mark.parametrize("name", sorted(SCAN_TAKES) + sorted(SCAN_DECLINES))
def test_shapes_around_the_scan_are_read_the_same(name: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    line = SCAN_TAKES.get(name) or SCAN_DECLINES[name]
    path = _hostile(tmp_path, line)
    fast, slow, scanned_rows = _scanned_paths(path, tmp_path, monkeypatch)
    assert fast.num_rows == 5
    assert fast.equals(slow)
    assert scanned_rows == (5 if name in SCAN_TAKES else 0)


def test_a_missing_final_newline_is_not_scanned(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    path = _hostile(tmp_path, EVENT % (3, ""))
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    fast, slow, scanned_rows = _scanned_paths(path, tmp_path, monkeypatch)
    assert (fast.num_rows, scanned_rows) == (5, 4)  # the last line is read by line
    assert fast.equals(slow)


@pytest.mark.parametrize("name", sorted(SCAN_REFUSES))
def test_shapes_the_scan_declines_are_refused_the_same(name: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path = _hostile(tmp_path, SCAN_REFUSES[name].replace("\udcff", "@"))
    path.write_bytes(path.read_bytes().replace(b'"@"', b'"\xff"'))
    monkeypatch.setattr(jsonl_reader, "SCAN_AFTER_BLOCKS", 0)
    _refused_the_same(path, tmp_path, monkeypatch)


def test_the_export_is_scanned_into_the_same_table(export_1e5: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    fast, slow, scanned_rows = _scanned_paths(export_1e5, tmp_path, monkeypatch)
    # all but the blocks mixing decimal and hex values of a column (pyarrow's path splits them)
    assert scanned_rows > fast.num_rows * 0.8
    assert fast.schema == slow.schema
    assert fast.equals(slow)
