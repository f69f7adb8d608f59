"""Failures from outside a command's own checks end in one line and exit 2 (or a quiet 141 for a
closed pipe), never a traceback, and leave no half file: a full disk (RLIMIT_FSIZE, what
`ulimit -f` sets), an output under a file, damaged or truncated compressed input."""

from __future__ import annotations

import gzip
import lzma
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard
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


@pytest.mark.parametrize("command", ["export", "ingest"])
def test_unwritable_outputs_are_one_line(tmp_path: Path, command: str) -> None:
    (tmp_path / "afile").write_text("")
    (tmp_path / "adir").mkdir()
    name = "accept-misuse.jsonl" if command == "export" else "sample-accept-misuse.parquet"
    cases = {tmp_path / "afile" / "sub" / name: f"{tmp_path / 'afile' / 'sub'}: cannot make "
             f"this directory for {name}: a file is in the way"}
    if command == "export":
        cases[tmp_path / "adir"] = f"{tmp_path / 'adir'}: is a directory: name a file to write"
    for target, message in cases.items():
        out = str(target) if command == "export" else str(target.parent)
        result = CliRunner().invoke(cli, [command, str(SAMPLE), "-o", out, "-q"])
        assert (result.exit_code, result.stderr) == (2, f"tdxray: error: {message}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "afile"]
    assert list((tmp_path / "adir").iterdir()) == []


def _compressed(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]


DAMAGE: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "cut.jsonl.gz": (lambda b: gzip.compress(b)[:1500], "damaged gzip input: it ends early "
                     "(truncated?)"),
    "bad.jsonl.gz": (lambda b: b"\x1f\x8b\x09" + b, "damaged gzip input: Unknown compression "
                     "method"),
    "flipped.jsonl.gz": (lambda b: _flip(gzip.compress(b), 200), "damaged gzip input: Error -3 "
                         "while decompressing data: invalid distance too far back"),
    "cut.jsonl.xz": (lambda b: lzma.compress(b)[:1000], "damaged xz input: it ends early "
                     "(truncated?)"),
    "flipped.jsonl.xz": (lambda b: _flip(lzma.compress(b), 40), "damaged xz input: Corrupt "
                         "input data"),
    "cut.jsonl.zst": (lambda b: zstandard.compress(b)[:1000], "damaged zstd input: it ends "
                      "early (truncated?)"),
    "flipped.jsonl.zst": (lambda b: _flip(_flip(zstandard.compress(b), 20), 40),
                          "damaged zstd input: zstd decompressor error: Data corruption "
                          "detected"),
}


@pytest.mark.parametrize("name", sorted(DAMAGE))
def test_damaged_compressed_input_is_named(tmp_path: Path, name: str) -> None:
    damage, words = DAMAGE[name]
    path = _compressed(tmp_path, name, damage(SAMPLE.read_bytes()))
    for args in (["ingest", path, "-o", str(tmp_path / "store")], ["check", path]):
        result = CliRunner().invoke(cli, args)
        assert (result.exit_code, result.stderr) == (2, f"tdxray: error: {path}: {words}\n")
    assert not (tmp_path / "store").exists() or list((tmp_path / "store").iterdir()) == []


def test_whole_compressed_input_reads_as_the_plain_one(tmp_path: Path) -> None:
    """Two zstd frames one after the other (what `cat a.zst b.zst` gives) are one stream."""
    text = SAMPLE.read_bytes()
    half = text.index(b"\n", len(text) // 2) + 1
    path = _compressed(tmp_path, "two.jsonl.zst", zstandard.compress(text[:half]) +
                       zstandard.compress(text[half:]))
    for name, args in (("plain", [str(SAMPLE)]), ("zst", [path])):
        result = CliRunner().invoke(cli, ["ingest", *args, "-o", str(tmp_path / name), "-q"])
        assert result.exit_code == 0, result.stderr
    export = [CliRunner().invoke(cli, ["export", str(tmp_path / name)]).stdout.splitlines()[1:]
              for name in ("plain", "zst")]
    assert export[0] == export[1] and len(export[0]) == 150


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "tdxray", "sql", "--store", str(tmp_path),
                             "--format", "csv", "SELECT * FROM range(100000000)"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline() == b"range\n"
    proc.stdout.close()
    assert proc.wait(timeout=PATIENCE) == 141
    assert proc.stderr.read() == b""
