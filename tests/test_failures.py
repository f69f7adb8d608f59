"""Failures from outside a command's own checks end in one line and exit 2 (or a quiet 141 for a
closed pipe), never a traceback, and leave no half file: a full disk (RLIMIT_FSIZE, what
`ulimit -f` sets), an output under a file, damaged or truncated compressed input."""

from __future__ import annotations

import gzip
import lzma
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tdxray.cli.main import cli

SAMPLE = Path(__file__).resolve().parents[1] / "sample_traces" / "accept-misuse.jsonl"
PATIENCE = 120.0


def tdxray(*args: str, file_limit: int | None = None) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        if file_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))
    return subprocess.run([sys.executable, "-m", "tdxray", *args], capture_output=True,
                          text=True, timeout=PATIENCE, preexec_fn=limit, check=False)


def assert_one_line(stderr: str, words: str) -> None:
    assert stderr.startswith("tdxray: error: ") and words in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr


@pytest.mark.parametrize("name", ["big.parquet", "big.jsonl"])
def test_a_full_disk_is_one_line_and_leaves_nothing(tmp_path: Path, name: str) -> None:
    done = tdxray("simulate", "--events", "200000", "-o", str(tmp_path / name),
                  file_limit=64 * 1024)
    assert done.returncode == 2
    assert_one_line(done.stderr, "File too large")
    assert list(tmp_path.iterdir()) == []


def test_export_to_a_full_disk(tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert tdxray("ingest", str(SAMPLE), "-o", str(store)).returncode == 0
    out = tmp_path / "out"
    out.mkdir()
    done = tdxray("export", str(store), "-o", str(out / "t.jsonl"), file_limit=4096)
    assert done.returncode == 2
    assert_one_line(done.stderr, "File too large")
    assert list(out.iterdir()) == []


def test_an_output_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    result = CliRunner().invoke(cli, ["simulate", "-o", str(tmp_path / "afile" / "t.parquet")])
    assert result.exit_code == 2
    assert_one_line(result.stderr, "afile")


def _compressed(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize(("name", "damage", "words"), [
    ("cut.jsonl.gz", lambda b: gzip.compress(b)[:1500], "damaged compressed input: it ends"),
    ("cut.jsonl.xz", lambda b: lzma.compress(b)[:1000], "damaged compressed input: it ends"),
    ("bad.jsonl.gz", lambda b: b"\x1f\x8b\x09" + b, "Unknown compression method"),
])
def test_damaged_compressed_input(tmp_path: Path, name: str, damage: object,
                                  words: str) -> None:
    data = damage(SAMPLE.read_bytes())  # type: ignore[operator]
    result = CliRunner().invoke(cli, ["ingest", _compressed(tmp_path, name, data), "-o",
                                      str(tmp_path / "store")])
    assert result.exit_code == 2
    assert_one_line(result.stderr, words)
    assert [p.name for p in (tmp_path / "store").glob(".*")] == []


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "tdxray", "sql", "--store", str(tmp_path),
                             "--format", "csv", "SELECT * FROM range(100000000)"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline() == b"range\n"
    proc.stdout.close()
    assert proc.wait(timeout=PATIENCE) == 141
    assert proc.stderr.read() == b""
