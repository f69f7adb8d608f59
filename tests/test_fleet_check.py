"""`tdxray check --workers N / --scheduler`: a real Dask LocalCluster (2 workers, loopback)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from tdxray.cli.main import cli
from tdxray.fleet import cluster
from tdxray.tests.support import need_modules

SAMPLES = Path(__file__).resolve().parent.parent / "sample_traces"
NAMES = ("kdump", "cr4-mce-cleared", "mailbox-misuse", "single-vcpu-kexec")


@pytest.fixture
def store(tmp_path: Path) -> Path:
    need_modules("distributed", install="dask[distributed]")
    out = tmp_path / "store"
    for name in NAMES:
        res = CliRunner().invoke(cli, ["ingest", str(SAMPLES / f"{name}.jsonl"), "-o", str(out)])
        assert res.exit_code == 0, res.output
    return out


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["check", *args])


def test_workers_give_the_sequential_report_and_results_beside_each_trace(store: Path) -> None:
    files = sorted(str(p) for p in store.glob("*.parquet"))
    assert len(files) == len(NAMES)
    sequential = run(*files, "--format", "json")
    for rdir in store.glob("*.replay"):
        for f in rdir.iterdir():
            f.unlink()
        rdir.rmdir()
    fleet = run(str(store), "--workers", "2", "--format", "json")
    assert fleet.exit_code == sequential.exit_code == 1
    assert fleet.stdout.replace(str(store) + "/", "") == \
        sequential.stdout.replace(str(store) + "/", "")
    assert "tdxray: 4/4 traces replayed on the cluster" in fleet.stderr
    ids = sorted(p.stem for p in store.glob("*.parquet"))
    assert sorted(p.name[: -len(".replay")] for p in store.glob("*.replay")) == ids
    for trace_id in ids:
        assert (store / f"{trace_id}.replay" / "divergences.parquet").is_file()


def test_a_corrupt_trace_is_named_and_the_others_are_reported(store: Path) -> None:
    (store / "zz-corrupt.parquet").write_bytes(b"PAR1 this is not parquet")
    res = run(str(store), "--workers", "2", "--format", "text")
    assert res.exit_code == 2
    errors = [line for line in res.stderr.splitlines() if line.startswith("tdxray: error:")]
    assert len(errors) == 1
    assert str(store / "zz-corrupt.parquet") in errors[0]
    assert "not a readable Parquet file" in errors[0]
    assert "tdxray: 4/5 traces replayed on the cluster" in res.stderr
    for name in NAMES:
        assert name in res.stdout
    quiet = run(str(store), "--workers", "2", "--format", "text", "-q")
    assert quiet.exit_code == 2 and quiet.stdout == res.stdout
    assert quiet.stderr.splitlines() == errors  # -q: the failed trace named, nothing else
    res_json = run(str(store), "--workers", "2", "--format", "json", "-q")
    assert res_json.stdout.startswith("{"), (res_json.stdout[:300], res_json.stderr[:300])
    doc = json.loads(res_json.stdout)
    assert (doc["verdict"], doc["exit_status"]) == ("error", 2)  # not "pass", 0
    assert doc["unreadable"] == [errors[0].removeprefix("tdxray: error: ")]
    assert sorted(t["trace_id"] for t in doc["traces"]) == sorted(
        p.stem for p in store.glob("*.parquet") if p.stem != "zz-corrupt")


def test_an_unreachable_scheduler_is_one_line_and_exit_2(store: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 2)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    res = run(str(store), "--scheduler", f"tcp://127.0.0.1:{port}")
    assert res.exit_code == 2
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"tdxray: error: tcp://127.0.0.1:{port}: cannot reach the Dask "
                               "scheduler")


def test_workers_must_be_positive(store: Path) -> None:
    res = run(str(store), "--workers", "0")
    assert res.exit_code == 2
    assert "--workers" in res.stderr


def test_a_corrupt_trace_among_1000_is_named_and_the_999_others_are_reported(
        tmp_path: Path) -> None:
    """Issue 15's bad-input case at its size: copies of one small trace (150 events) and one
    file that is not Parquet, on a 2-worker cluster."""
    need_modules("distributed", install="dask[distributed]")
    out = tmp_path / "store"
    res = CliRunner().invoke(cli, ["ingest", str(SAMPLES / "single-vcpu-kexec.jsonl"),
                                   "-o", str(out)])
    assert res.exit_code == 0, res.output
    (original,) = out.glob("*.parquet")
    data = original.read_bytes()
    for i in range(998):
        (out / f"copy-{i:03}.parquet").write_bytes(data)
    bad = out / "copy-500x.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    report = tmp_path / "report.json"
    res = run(str(out), "--workers", "2", "--format", "json", "-o", str(report))
    assert res.exit_code == 2
    errors = [line for line in res.stderr.splitlines() if line.startswith("tdxray: error:")]
    assert len(errors) == 1  # pyarrow's own reason follows the prefix
    assert errors[0].startswith(f"tdxray: error: {bad}: not a readable Parquet file: ")
    assert "tdxray: 999/1000 traces replayed on the cluster" in res.stderr
    sources = sorted(t["source"] for t in json.loads(report.read_text())["traces"])
    assert sources == sorted([str(original), *(str(out / f"copy-{i:03}.parquet")
                                               for i in range(998))])
    assert len(list(out.glob("*.replay"))) == 999  # results beside every good trace
