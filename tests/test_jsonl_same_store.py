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
    path = _hostile(tmp_path, REFUSED[name])
    args = ["ingest", str(path), "-o", str(tmp_path / "store")]
    fast = CliRunner().invoke(cli, args)
    monkeypatch.setattr(JsonlReader, "__init__",
                        partialmethod(JsonlReader.__init__, block_bytes=0))
    slow = CliRunner().invoke(cli, args)
    assert (fast.exit_code, slow.exit_code) == (2, 2)
    assert fast.output == slow.output
    assert f"{path}:4: " in fast.output
