"""QEMU trace log and console log readers: line shapes, phase markers, bad input, robustness."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tdxray.cli.main import cli
from tdxray.ingest.bad_lines import BadLines
from tdxray.ingest.console.reader import looks_like_console, read_console
from tdxray.ingest.qemu.reader import looks_like_qemu, read_qemu
from tdxray.ingest.text.source import SourceContext
from tdxray.schema.errors import InputError
from tdxray.schema.events import EVENT_SCHEMA
from tdxray.schema.td import TdConfig

REAL = Path(__file__).parent / "data" / "real"
READERS = {"qemu": read_qemu, "console": read_console}


def read(kind: str, data: bytes | str, warnings: list[str] | None = None,
         skip: bool = False) -> list[dict[str, Any]]:
    raw = data.encode() if isinstance(data, str) else data
    sink = warnings if warnings is not None else []
    ctx = SourceContext(TdConfig(), BadLines("f.log", sink.append, skip))
    table = pa.Table.from_batches(list(READERS[kind](io.BytesIO(raw), "f.log", ctx)),
                                  schema=EVENT_SCHEMA)
    return [{k: v for k, v in row.items() if v is not None} for row in table.to_pylist()]


def test_qemu_log_with_and_without_stamps() -> None:
    events = read("qemu", (REAL / "qemu.log").read_bytes())
    assert [e["kind"] for e in events] == ["kvm_hc_map_gpa_range", "convert", "kvm_memory_fault",
                                           "kvm_run_exit", "convert"]
    convert = events[1]
    assert (convert["gpa"], convert["size"], convert["to_private"]) == (0x7DE00000, 0x200000,
                                                                        False)
    assert convert["ts_ns"] == 1732540800_000150000
    assert events[4]["ts_ns"] == events[3]["ts_ns"] and events[4]["to_private"] is True


def test_qemu_threads_out_of_time_order(tmp_path: Path) -> None:
    """Each QEMU thread takes its stamp before qemu_log() takes the log's lock, so two threads'
    lines can land out of time order: the later line keeps the time of the line above, and
    `check` reports no T001 (a QEMU log names no vCPU; it failed --fail-on warning)."""
    log = ("1289@1.000010:kvm_convert_memory start 0x100000 size 0x1000 private_to_shared\n"
           "1290@1.000004:kvm_convert_memory start 0x200000 size 0x1000 private_to_shared\n"
           "1290@1.000020:kvm_convert_memory start 0x300000 size 0x1000 private_to_shared\n")
    assert [(e["gpa"], e["ts_ns"]) for e in read("qemu", log)] == [
        (0x100000, 1_000_010_000), (0x200000, 1_000_010_000), (0x300000, 1_000_020_000)]
    (tmp_path / "q.log").write_text(log)
    (tmp_path / "td.json").write_text('{"gpaw": 48, "apic_ids": [0], "memory": "accepted", '
                                      '"ram": [["0x0", "0x80000000"]]}')
    res = CliRunner().invoke(cli, ["check", str(tmp_path / "q.log"), "--td",
                                   str(tmp_path / "td.json"), "--format", "json",
                                   "--fail-on", "warning"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert [d["rule"] for d in report["traces"][0]["divergences"] if d["rule"] != "T003"] == []


def test_console_names_a_tdx_map_gpa_that_never_returned() -> None:
    """A crash stops an AP inside tdx_map_gpa, or the capture ends: its entry line has no
    return line. It makes no event (what it converted is unknown), and ingest says so; a call
    that returned makes no warning."""
    warnings: list[str] = []
    events = read("console", "[    1.000000] map_gpa: (tdx_map_gpa+0x4/0x1d0) start=0x100000 "
                  "end=0x102000 enc=0\n[    1.000100] map_gpa_ret: (tdx_enc_status_changed+0x4a/"
                  "0x90 <- tdx_map_gpa) ret=1\n[    5.000000] map_gpa: (tdx_map_gpa+0x4/0x1d0) "
                  "start=0x300000 end=0x301000 enc=0\n", warnings)
    assert [e["kind"] for e in events] == ["map_gpa"]
    assert warnings == ["f.log:3: tdx_map_gpa [0x300000, 0x301000) never returned (the capture "
                        "ends, or a crash stopped its CPU): it makes no event, so what it "
                        "converted is unknown"]


@pytest.mark.parametrize("bad", ["kvm_convert_memory start 0x7de size 0x200000\n",
                                 "@@ kvm_convert_memory start 0x1\n",
                                 "12@1.5:kvm_convert_memory start 0x1 size 0x1 "
                                 "shared_to_private\n"])
def test_qemu_bad_lines(bad: str) -> None:
    with pytest.raises(InputError) as info:
        read("qemu", "kvm_run_exit cpu_index 0, reason 2\n" + bad)
    assert info.value.line == 2


def test_qemus_own_messages_are_log_events() -> None:
    """error_report() on the stderr the trace shares (no -trace file=): a log line, not a
    bad line (tests/test_reader_shapes.py has the real recordings)."""
    events = read("qemu", "kvm_run_exit cpu_index 0, reason 2\n"
                  "qemu-system-x86_64: warning: host doesn't support requested feature\n")
    assert [(e["kind"], e.get("text")) for e in events] == [
        ("kvm_run_exit", None),
        ("log", "qemu-system-x86_64: warning: host doesn't support requested feature")]


def test_console_stamps_caller_ids_and_markers() -> None:
    events = read("console", (REAL / "console.log").read_bytes())
    assert [e["kind"] for e in events][:2] == ["log", "kexec"]
    assert events[0]["text"].startswith("Linux version 6.12.0")
    shutdown = [i for i, e in enumerate(events) if e.get("phase") == "shutdown"]
    assert len(shutdown) == 1
    before = events[shutdown[0] - 1]
    assert before["text"] == "kexec_core: Starting new kernel"
    assert events[shutdown[0]]["ts_ns"] == before["ts_ns"] == 39_990_000_000
    caller = read("console", (REAL / "dmesg-caller.log").read_bytes())
    assert caller[3]["vcpu"] == 1 and caller[3]["text"].startswith("clocksource")
    assert caller[4]["text"] == "\ttab-indented message"


def test_console_without_stamps_keeps_every_line() -> None:
    events = read("console", (REAL / "serial.log").read_bytes())
    logs = [e for e in events if e["kind"] == "log"]
    assert len(logs) == 5 and all(e["ts_ns"] == 0 for e in events)
    assert [e["phase"] for e in events if e["kind"] == "kexec"] == ["boot", "shutdown"]


def test_console_garbage_is_an_error_unless_skipped() -> None:
    text = "[    1.000000] ok\n\x00\x00\x01\x02\n[    2.000000] ok\n"
    with pytest.raises(InputError) as info:
        read("console", text)
    assert info.value.line == 2
    warnings: list[str] = []
    assert len(read("console", text, warnings, skip=True)) == 2
    assert warnings == ["f.log: skipped 1 bad line (line 2)"]


def test_detection() -> None:
    assert looks_like_console((REAL / "console.log").read_bytes())
    assert looks_like_qemu((REAL / "qemu.log").read_bytes())
    assert not looks_like_qemu((REAL / "console.log").read_bytes())


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.sampled_from(sorted(READERS)), st.binary(max_size=1500))
def test_random_bytes_give_events_or_a_clean_error(kind: str, data: bytes) -> None:
    try:
        read(kind, data)
    except InputError as exc:
        assert exc.path == "f.log"


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.sampled_from(["qemu.log", "console.log", "serial.log"]), st.data())
def test_mutated_lines_give_events_or_a_clean_error(name: str, data: st.DataObject) -> None:
    raw = bytearray((REAL / name).read_bytes())
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at:at + data.draw(st.integers(0, 5))] = data.draw(st.binary(max_size=6))
    try:
        read("qemu" if name == "qemu.log" else "console", bytes(raw))
    except InputError as exc:
        assert exc.path == "f.log"
