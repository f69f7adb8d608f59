"""`tdxray shrink` takes every TRACE `check` takes (opened by the same code): text traces (the
samples exported, the readers' real fixtures), a store, a Parquet file, s3://. The reproducer is
JSONL that `check` reports with that divergence. A read-back that fails is one line, exit 3."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tdxray.cli.main import cli
from tdxray.tests.s3server import S3Server

ROOT = Path(__file__).resolve().parent.parent
UNFIXED = ROOT / "sample_traces" / "unfixed-kernel.jsonl"
REAL = ROOT / "tests" / "data" / "real"
QEMU = REAL / "qemu"


def shrunk(tmp_path: Path, *args: str) -> tuple[str, list[dict[str, object]]]:
    """Shrink (exit 0), then check the reproducer: it reveals the rule and fingerprint the
    summary names. The summary's head and the reproducer's events."""
    out = tmp_path / "min.jsonl"
    run = CliRunner().invoke(cli, ["shrink", *args, "-o", str(out), "-q"])
    assert run.exit_code == 0, run.output
    rule, fingerprint = run.stdout.split(":")[0].split()
    check = CliRunner().invoke(cli, ["check", str(out), "--format", "json", "-q"])
    found = {(d["rule"], d["fingerprint"]) for t in json.loads(check.stdout)["traces"]
             for d in t["divergences"]}
    assert (rule, fingerprint) in found
    lines = out.read_text().splitlines()
    assert json.loads(lines[0])["tdxray"] == 1
    return run.stdout.split(", ")[0], [json.loads(line) for line in lines[1:]]


def exported(tmp_path: Path, fmt: str) -> Path:
    path = tmp_path / f"unfixed.{fmt}"
    run = CliRunner().invoke(cli, ["export", str(UNFIXED), "--format", fmt, "--partial", "-o",
                                   str(path), "-q"])
    assert run.exit_code == 0, run.output
    return path


def test_the_unfixed_kernel_exported_as_guest_ftrace(tmp_path: Path) -> None:
    head, events = shrunk(tmp_path, str(exported(tmp_path, "ftrace-guest")), "--rule", "K004")
    assert head == "K004 3141cba4413b2289: 16 -> 2 events (12.5%)"  # the JSONL's fingerprint
    assert events == [
        {"seq": 1, "ts_ns": 1081336000, "vcpu": 0, "kind": "map_gpa", "gpa": "0x800004003000",
         "size": "0x4000", "status": "0x0"},
        {"seq": 2, "ts_ns": 4232001000, "vcpu": 0, "kind": "kexec", "phase": "jump"}]


def test_the_unfixed_kernel_exported_as_host_ftrace(tmp_path: Path) -> None:
    head, events = shrunk(tmp_path, str(exported(tmp_path, "ftrace-host")), "--rule", "A002")
    assert head == "A002 a5b3d8f2d467ed01: 128 -> 1 events (0.8%)"
    assert events == [{"seq": 1, "ts_ns": 1081335000, "vcpu": 0, "kind": "mem_access",
                       "gpa": "0x800004000000", "write": True}]


def test_a_real_guest_ftrace(tmp_path: Path) -> None:
    head, events = shrunk(tmp_path, str(REAL / "guest.trace"), "--rule", "K001")
    assert head == "K001 84a3b74c06fe84d6: 17 -> 2 events (11.8%)"
    assert events == [
        {"seq": 1, "ts_ns": 500100000, "vcpu": 0, "kind": "map_gpa", "gpa": "0x80007de00000",
         "size": "0x2000000", "status": "0x0"},
        {"seq": 2, "ts_ns": 40000400000, "vcpu": 0, "kind": "kexec", "phase": "jump"}]


def test_a_real_qemu_log_keeps_its_unmodeled_event(tmp_path: Path) -> None:
    head, events = shrunk(tmp_path, str(REAL / "qemu.log"), "--rule", "T002")
    assert head == "T002 123d45aeae140f02: 5 -> 1 events (20.0%)"
    assert events == [{"seq": 1, "ts_ns": 1732540800000300000, "vcpu": 0,
                       "kind": "kvm_run_exit", "fields": "cpu_index 0, reason 2"}]


@pytest.mark.parametrize(("name", "rule", "head", "event"), [
    ("host-report.txt", "T002", "T002 ed6fc54424a5aaae: 3 -> 1 events (33.3%)",
     {"seq": 1, "ts_ns": 141000002000, "vcpu": 0, "kind": "kvm_entry",
      "fields": "vcpu 0, rip 0xffffffff8107f3e4"}),  # trace-cmd report of a real host: its
    # `[n EVENTS DROPPED]` marker is no event (5c05ae6)
    ("dmesg-caller.log", "T004", "T004 1c7a16ad325c1463: 5 -> 1 events (20.0%)",
     {"seq": 1, "ts_ns": 1500000000, "vcpu": 1, "kind": "log",
      "text": "clocksource: timekeeping watchdog on CPU1"}),  # a console with caller ids
])
def test_a_real_trace_cmd_report_and_console(tmp_path: Path, name: str, rule: str, head: str,
                                             event: dict[str, object]) -> None:
    assert shrunk(tmp_path, str(REAL / name), "--rule", rule) == (head, [event])


@pytest.fixture(scope="module")
def real_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real 6.12 kexec and kdump guests (console + guest ftrace), ingested with td.json."""
    store = tmp_path_factory.mktemp("real") / "store"
    for name in ("kexec", "kdump"):
        run = CliRunner().invoke(cli, [
            "ingest", str(QEMU / f"6.12-{name}" / "console.log"),
            str(QEMU / f"6.12-{name}" / "trace.log"), "-o", str(store), "--trace-id", name,
            "--td", str(QEMU / "td.json"), "-q"])
        assert run.exit_code == 0, run.output
    return store


MAILBOX_JUMP = [
    {"seq": 1, "ts_ns": 6983112000, "vcpu": 1, "kind": "cpu", "apic_id": 1, "action": "stopped"},
    {"seq": 2, "ts_ns": 6984436000, "vcpu": 0, "kind": "kexec", "phase": "jump"}]


def test_a_store_of_real_guests_with_trace_and_its_parquet_file(real_store: Path,
                                                                tmp_path: Path) -> None:
    head, events = shrunk(tmp_path, str(real_store), "--trace", "kexec", "--rule", "M008")
    assert head == "M008 fd2f135c98af9881: 765 -> 2 events (0.3%)" and events == MAILBOX_JUMP
    first = (tmp_path / "min.jsonl").read_text()
    header = json.loads(first.splitlines()[0])
    assert header["td"]["apic_ids"] == [0, 1] and header["trace_id"] == "kexec"  # td.json's
    assert shrunk(tmp_path, str(real_store / "kexec.parquet"), "--rule", "M008") == (
        head, events)
    assert (tmp_path / "min.jsonl").read_text() == first


def test_a_store_of_several_without_trace_is_check_s_line(real_store: Path,
                                                          tmp_path: Path) -> None:
    out = tmp_path / "min.jsonl"
    run = CliRunner().invoke(cli, ["shrink", str(real_store), "--rule", "M008", "-o", str(out)])
    assert (run.exit_code, run.stderr) == (2, f"tdxray: error: {real_store}: store holds 2 "
                                              "traces; pick one with --trace (kdump, kexec)\n")
    assert not out.exists()


def test_an_s3_store(s3: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    url = s3.bucket("tdxray-shrink") + "/store"
    run = CliRunner().invoke(cli, ["ingest", str(UNFIXED), "-o", url, "-q"])
    assert run.exit_code == 0, run.output
    local = shrunk(tmp_path, str(UNFIXED), "--rule", "K004")
    assert local[0] == "K004 3141cba4413b2289: 150 -> 2 events (1.3%)"
    assert shrunk(tmp_path, url, "--trace", "sample-unfixed-kernel", "--rule", "K004") == local
    header = json.loads((tmp_path / "min.jsonl").read_text().splitlines()[0])
    assert header["provenance"]["ingest"][0]["sources"] == [str(UNFIXED)]  # the store's header


def test_a_reproducer_that_fails_its_read_back_is_an_internal_error_exit_3(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from tdxray.analyses.shrink import run as shrink_run

    monkeypatch.setattr(shrink_run, "replay_lines", lambda *_args: [])  # it reveals nothing
    out = tmp_path / "min.jsonl"
    run = CliRunner().invoke(cli, ["shrink", str(UNFIXED), "--rule", "K004", "-o", str(out),
                                   "-q"])
    assert (run.exit_code, run.stdout) == (3, "")
    assert run.stderr == (
        f"tdxray: internal error: shrink of {UNFIXED}, rule K004 3141cba4413b2289: the 2-event "
        "reproducer read back does not reveal it; nothing written. Please report this bug "
        "with the trace.\n")
    assert list(tmp_path.iterdir()) == []


def test_reading_the_trace_counts_in_the_time_and_the_budget(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import time
    import types

    from tdxray.cli import shrink as shrink_cli

    # the command began 1000 s before the trace was read: the 600 s budget is spent
    clock = types.SimpleNamespace(monotonic=lambda: time.monotonic() - 1000.0)
    monkeypatch.setattr(shrink_cli, "time", clock)
    out = tmp_path / "min.jsonl"
    run = CliRunner().invoke(cli, ["shrink", str(UNFIXED), "--rule", "K004", "-o", str(out),
                                   "-q", "--seconds", "600"])
    assert run.exit_code == 0, run.output
    head, tail = run.stdout.split(", 0 replays, ")
    assert head == "K004 3141cba4413b2289: 150 -> 150 events (100.0%)"
    assert float(tail.split(" s ")[0]) >= 1000.0 and tail.endswith(
        " s (budget reached: best so far)\n")


def test_gzip_and_stdin_give_the_plain_file_s_reproducer(tmp_path: Path) -> None:
    plain = shrunk(tmp_path, str(UNFIXED), "--rule", "K004")
    text = (tmp_path / "min.jsonl").read_text()
    assert plain == ("K004 3141cba4413b2289: 150 -> 2 events (1.3%)", [
        {"seq": 1, "ts_ns": 1081336000, "vcpu": 0, "kind": "map_gpa", "gpa": "0x800004003000",
         "size": "0x4000", "status": "0x0"},
        {"seq": 2, "ts_ns": 4232001000, "vcpu": 0, "kind": "kexec", "phase": "jump"}])
    packed = tmp_path / "unfixed.jsonl.gz"
    packed.write_bytes(gzip.compress(UNFIXED.read_bytes()))
    assert shrunk(tmp_path, str(packed), "--rule", "K004") == plain
    assert (tmp_path / "min.jsonl").read_text() == text
    out = tmp_path / "stdin.jsonl"
    run = CliRunner().invoke(cli, ["shrink", "-", "--rule", "K004", "-o", str(out), "-q"],
                             input=UNFIXED.read_bytes())
    assert run.exit_code == 0, run.output
    assert run.stdout.startswith(plain[0]) and out.read_text() == text
