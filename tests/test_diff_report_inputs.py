"""`tdxray diff A B` and `tdxray report TRACE…` take every TRACE `check` takes (opened by the
same code): JSONL, text traces, a Parquet file, a store with --trace-a/--trace-b (diff) or
--trace (report), a directory of text traces, gzip, s3://. Each form gives what the JSONL
gives."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tdxray.cli.main import cli
from tdxray.tests.s3server import S3Server
from tests.test_html_report import divergence_rows

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_traces"
UNFIXED, FIXED = SAMPLES / "unfixed-kernel.jsonl", SAMPLES / "single-vcpu-kexec.jsonl"
IDS = ("sample-unfixed-kernel", "sample-single-vcpu-kexec")


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def diff_json(*args: str) -> tuple[int, dict[str, object]]:
    """Exit status and the JSON diff without its two sides' names (source as given)."""
    run = invoke("diff", *args, "--format", "json")
    assert run.exit_code in (0, 1), run.output
    out = json.loads(run.stdout)
    for side in ("a", "b"):
        out[side] = {k: v for k, v in out[side].items() if k != "source"}
    return run.exit_code, out


@pytest.fixture(scope="module")
def pair_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = tmp_path_factory.mktemp("forms") / "store"
    run = invoke("ingest", str(UNFIXED), str(FIXED), "-o", str(store), "-q")
    assert run.exit_code == 0, run.output
    return store


@pytest.fixture(scope="module")
def guest_text(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The unfixed kernel as the guest's ftrace would have recorded it."""
    path = tmp_path_factory.mktemp("text") / "unfixed.trace"
    run = invoke("export", str(UNFIXED), "--format", "ftrace-guest", "--partial", "-o", str(path),
                 "-q")
    assert run.exit_code == 0, run.output
    return path


def test_diff_of_a_store_s_two_traces_is_the_jsonl_pair_s(pair_store: Path) -> None:
    want = diff_json(str(UNFIXED), str(FIXED))
    assert want[0] == 0 and want[1]["summary"] == {"phases": 6, "phases_differing": 4,
                                                   "only_a": 4, "only_b": 0, "new_in_b": 0}
    assert diff_json(str(pair_store), str(pair_store), "--trace-a", IDS[0],
                     "--trace-b", IDS[1]) == want
    assert diff_json(str(pair_store / f"{IDS[0]}.parquet"),
                     str(pair_store / f"{IDS[1]}.parquet")) == want
    gz = pair_store.parent / "fixed.jsonl.gz"
    gz.write_bytes(gzip.compress(FIXED.read_bytes()))
    assert diff_json(str(UNFIXED), str(gz)) == want


def test_diff_of_a_text_trace_and_its_ingested_copy_is_the_same_everywhere(
        guest_text: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert invoke("ingest", str(guest_text), "-o", str(store), "-q").exit_code == 0
    status, out = diff_json(str(guest_text), str(store))
    assert status == 0 and out["a"] == out["b"] == {"trace_id": "unfixed", "events": 16,
                                                      "generations": 1}
    assert out["summary"] == {"phases": 3, "phases_differing": 0, "only_a": 0, "only_b": 0,
                              "new_in_b": 0}
    # the text trace against the fixed kernel: exactly the unfixed text's divergences go
    status, out = diff_json(str(guest_text), str(FIXED))
    gone = sorted(d["rule"] for p in out["phases"] for d in p["divergences"]["only_a"])
    assert (status, gone) == (0, ["C001", "K001", "K001", "K004"])


def test_diff_names_its_own_options_for_a_store_of_several(pair_store: Path) -> None:
    names = ", ".join(sorted(IDS))
    run = invoke("diff", str(pair_store), str(UNFIXED))
    assert (run.exit_code, run.stderr) == (2, f"tdxray: error: {pair_store}: holds 2 traces; "
                                              f"pick one with --trace-a ({names})\n")
    run = invoke("diff", str(UNFIXED), str(pair_store))
    assert (run.exit_code, run.stderr) == (2, f"tdxray: error: {pair_store}: holds 2 traces; "
                                              f"pick one with --trace-b ({names})\n")


def report_rows(tmp_path: Path, *args: str) -> list[tuple[str, str, str, str]]:
    out = tmp_path / "report.html"
    run = invoke("report", *args, "-o", str(out))
    assert run.exit_code == 0, run.output
    return divergence_rows(out.read_text())


UNFIXED_ROWS = [("fatal", "C001", "150", ""),
                ("error", "K001", "149", "[0x4000000, 0x4007000)"),
                ("error", "K001", "149", "[0x1f600000, 0x1fe00000)"),
                ("error", "K004", "149", "")]


def test_report_of_each_form_holds_the_jsonl_s_divergences(
        pair_store: Path, guest_text: Path, tmp_path: Path) -> None:
    assert report_rows(tmp_path, str(UNFIXED)) == UNFIXED_ROWS
    assert report_rows(tmp_path, str(pair_store), "--trace", IDS[0]) == UNFIXED_ROWS
    assert report_rows(tmp_path, str(pair_store)) == UNFIXED_ROWS  # the fixed kernel has none
    assert report_rows(tmp_path, str(pair_store / f"{IDS[0]}.parquet")) == UNFIXED_ROWS
    text = report_rows(tmp_path, str(guest_text))
    assert text == [("fatal", "C001", "16", ""),
                    ("error", "K001", "14", "[0x4000000, 0x4007000)"),
                    ("error", "K001", "14", "[0x1f600000, 0x1fe00000)"),
                    ("error", "K004", "14", "")]
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "unfixed.trace").write_bytes(guest_text.read_bytes())
    assert report_rows(tmp_path, str(folder)) == text


def test_diff_and_report_of_an_s3_store(pair_store: Path, s3: S3Server,
                                        monkeypatch: pytest.MonkeyPatch,
                                        tmp_path: Path) -> None:
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    url = s3.bucket("tdxray-forms") + "/store"
    run = invoke("ingest", str(UNFIXED), str(FIXED), "-o", url, "-q")
    assert run.exit_code == 0, run.output
    assert diff_json(url, url, "--trace-a", IDS[0], "--trace-b", IDS[1]) == diff_json(
        str(UNFIXED), str(FIXED))
    assert report_rows(tmp_path, url, "--trace", IDS[0]) == UNFIXED_ROWS
