"""The Parquet store: atomic writes, seq backstop, version checks, TRACE resolution, summaries."""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tdxray.ingest.jsonl.reader import JsonlReader
from tdxray.ingest.materialize import trace_file_for
from tdxray.schema.build import events_to_batch
from tdxray.schema.errors import InputError
from tdxray.schema.events import META_SCHEMA_VERSION
from tdxray.schema.td import TdConfig, TraceHeader
from tdxray.store.layout import Store
from tdxray.store.read import open_trace
from tdxray.store.summary import trace_summary
from tdxray.store.write import TraceWriter

EXAMPLES = Path(__file__).parent / "spec_examples"
HEADER = TraceHeader("t-1", TdConfig(apic_ids=(0, 1)))


def kexec_events(seqs: list[int], vcpu: int = 0) -> pa.RecordBatch:
    return events_to_batch([{"seq": s, "ts_ns": 10 * s, "vcpu": vcpu, "kind": "kexec",
                             "phase": "boot"} for s in seqs])


def write_trace(path: Path, *batches: pa.RecordBatch, header: TraceHeader = HEADER) -> Path:
    with TraceWriter(path, header) as writer:
        for batch in batches:
            writer.write_batch(batch)
    return path


def example_parquet(tmp_path: Path, name: str = "smp-v1-kexec-clean") -> Path:
    source = EXAMPLES / f"{name}.jsonl"
    with source.open("rb") as fh:
        reader = JsonlReader(fh, str(source), print)
        target = tmp_path / f"{reader.header.trace_id}.parquet"
        with TraceWriter(target, reader.header) as writer:
            for batch in reader.batches():
                writer.write_batch(batch)
    return target


def test_written_trace_reads_back(tmp_path: Path) -> None:
    path = write_trace(tmp_path / "t.parquet", kexec_events([1, 2]), kexec_events([5]))
    trace = open_trace(path)
    assert trace.header == HEADER
    assert trace.num_rows == 3
    assert trace.read(["seq"]).column(0).to_pylist() == [1, 2, 5]


def test_trace_file_gets_ordinary_permissions(tmp_path: Path) -> None:
    path = write_trace(tmp_path / "t.parquet", kexec_events([1]))
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


@pytest.mark.parametrize("batches", [[[1, 3, 2]], [[1, 2], [2, 3]], [[5], [4]]])
def test_writer_refuses_seq_that_does_not_increase(tmp_path: Path,
                                                   batches: list[list[int]]) -> None:
    with pytest.raises(InputError, match="does not increase"):
        write_trace(tmp_path / "t.parquet", *(kexec_events(b) for b in batches))
    assert os.listdir(tmp_path) == []


def test_corrupt_parquet_is_an_input_error(tmp_path: Path) -> None:
    path = example_parquet(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as info:
        open_trace(path)
    assert info.value.path == str(path)


@pytest.mark.parametrize(("version", "words"), [(b"99", "newer"), (b"0", "re-ingest")])
def test_other_schema_version_is_refused(tmp_path: Path, version: bytes, words: str) -> None:
    path = example_parquet(tmp_path)
    table = pq.read_table(path)
    meta = dict(table.schema.metadata)
    meta[META_SCHEMA_VERSION] = version
    pq.write_table(table.replace_schema_metadata(meta), path)
    with pytest.raises(InputError, match=words):
        open_trace(path)


def test_parquet_without_tdxray_metadata_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.parquet"
    pq.write_table(pa.table({"a": [1]}), path)
    with pytest.raises(InputError, match="not a tdxray trace"):
        open_trace(path)


def test_store_lists_traces_and_refuses_bad_ids(tmp_path: Path) -> None:
    store = Store(tmp_path)
    write_trace(store.trace_path("b"), kexec_events([1]), header=TraceHeader("b", TdConfig()))
    write_trace(store.trace_path("a"), kexec_events([1]), header=TraceHeader("a", TdConfig()))
    assert store.trace_ids() == ["a", "b"]
    for bad in ("../x", "a/b", ".hidden", ""):
        with pytest.raises(InputError):
            store.trace_path(bad)


# --- the TRACE argument ------------------------------------------------------------------


def test_trace_file_for_a_parquet_file(tmp_path: Path) -> None:
    path = example_parquet(tmp_path)
    (ref,) = trace_file_for(str(path))
    assert ref.path == path
    assert ref.results_dir == tmp_path / "ex4-smp-v1-kexec-clean.replay"
    assert ref.source == str(path)


def test_trace_file_for_a_store(tmp_path: Path) -> None:
    example_parquet(tmp_path, "smp-v1-kexec-clean")
    example_parquet(tmp_path, "retry-skip")
    with pytest.raises(InputError, match="--trace"):
        trace_file_for(str(tmp_path))
    assert len(trace_file_for(str(tmp_path), allow_many=True)) == 2
    (ref,) = trace_file_for(str(tmp_path), "ex3-retry-skip")
    assert ref.path == tmp_path / "ex3-retry-skip.parquet"
    assert ref.results_dir == tmp_path / "ex3-retry-skip.replay"


def test_trace_file_for_a_jsonl_file_converts_it(tmp_path: Path) -> None:
    source = EXAMPLES / "retry-skip.jsonl"
    work = tmp_path / "work"
    (ref,) = trace_file_for(str(source), workdir=work)
    assert ref.source == str(source)
    assert ref.path.is_relative_to(work) and ref.results_dir.is_relative_to(work)
    trace = open_trace(ref.path)
    assert trace.trace_id == "ex3-retry-skip" and trace.num_rows == 14
    with pytest.raises(InputError, match="not 'other'"):
        trace_file_for(str(source), "other", workdir=work)


def test_trace_file_for_a_missing_path(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        trace_file_for(str(tmp_path / "nope.parquet"))


def test_trace_file_for_a_corrupt_parquet(tmp_path: Path) -> None:
    path = example_parquet(tmp_path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(InputError):
        trace_file_for(str(path))


# --- summary ---------------------------------------------------------------------------------


def test_summary_counts(tmp_path: Path) -> None:
    summary = trace_summary(open_trace(example_parquet(tmp_path)))
    assert summary["events"] == 47
    assert summary["events_by_kind"]["mailbox_write"] == 22
    assert sum(summary["events_by_kind"].values()) == 47
    assert summary["events_by_vcpu"] == {"0": 32, "1": 8, "2": 7}
    assert summary["time"]["first_ns"] == 1000000000
    assert summary["time"]["last_ns"] == 20600000000
    assert summary["td"]["vcpus"] == 3
    assert summary["td"]["ram_bytes"] == 0x80000000 * 2
    assert summary["schema_version"] == 1
    json.dumps(summary)


def test_summary_of_an_empty_trace(tmp_path: Path) -> None:
    text = json.dumps(HEADER.to_json()) + "\n"
    reader = JsonlReader(io.BytesIO(text.encode()), "e.jsonl", print)
    assert list(reader.batches()) == []
    path = write_trace(tmp_path / "e.parquet")
    summary = trace_summary(open_trace(path))
    assert summary["events"] == 0 and summary["events_by_kind"] == {}
    assert summary["time"]["first_ns"] is None
