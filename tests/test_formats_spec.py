"""Hand-written traces from FORMATS.md's own words and example lines, read to the exact events.

Each fixture in tests/data/formats_spec/ is the smallest text the spec's sentence implies; the
example lines are copied verbatim from FORMATS.md §2 (ftrace, console) and §1 (the header).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tdxray.cli.main import cli
from tdxray.schema.constants import Subfn
from tdxray.store.read import open_trace

DATA = Path(__file__).parent / "data" / "formats_spec"
HEADER = ('{"tdxray": 1, "trace_id": "td-42", "td": {"gpaw": 48, "apic_ids": [0, 1, 2, 3],'
          ' "ram": [["0x0", "0x80000000"], ["0x100000000", "0x180000000"]], "memory": "accepted",'
          ' "mailbox": {"version": 1, "gpa": "0x7fffd000", "reset_vector": "0x7fffe068"}}}\n')


def ingest(tmp_path: Path, path: Path) -> tuple[int, str, list[dict[str, Any]]]:
    """(exit status, stderr without the no---td warning, the stored events without `source`)."""
    store = tmp_path / "store"
    res = CliRunner().invoke(cli, ["ingest", str(path), "-o", str(store), "-q"])
    err = "".join(ln for ln in res.stderr.splitlines(keepends=True) if "no --td" not in ln)
    if res.exit_code:
        assert not list(store.glob("*.parquet"))  # never a half-written output
        return res.exit_code, err, []
    [parquet] = store.glob("*.parquet")
    rows = open_trace(parquet).read().to_pylist()
    return 0, err, [{k: v for k, v in r.items() if v is not None and k != "source"} for r in rows]


def ev(seq: int, ts: int, line: int, kind: str, vcpu: int = 0, **values: Any) -> dict[str, Any]:
    return {"seq": seq, "ts_ns": ts, "vcpu": vcpu, "kind": kind, **values, "line": line}


def kept(seq: int, ts: int, line: int, kind: str, fields: str) -> dict[str, Any]:
    return ev(seq, ts, line, kind, extra=json.dumps({"fields": fields}))


def test_the_real_host_example_lines(tmp_path: Path) -> None:
    # §2 "Real example lines": a 6.12-shape kvm_exit (no requests tail) is kept; the page fault
    # is a mem_access at the address, error_code 0x181 has no write bit (bit 1)
    assert ingest(tmp_path, DATA / "host.trace") == (0, "", [
        kept(1, 140_314_684_000, 1, "kvm_exit",
             "vcpu 0 reason EXCEPTION_NMI rip 0x1 info1 0x0000000000004000 info2"
             " 0x0000000000000000 intr_info 0x80000301 error_code 0x00000000"),
        ev(2, 140_314_706_000, 2, "mem_access", gpa=0x1050, write=False)])


def test_userspace_exits_and_gfn_ranges(tmp_path: Path) -> None:
    # KVM_EXIT_HYPERCALL (3): one MapGPA chunk; KVM_EXIT_SHUTDOWN (8) and a name KVM lacks
    # (`reason 0x28 (40)`) are kept. kvm_vm_set_mem_attributes: gfns, exclusive end, bit 3 =
    # private, trace-cmd's bare `0` and zero-padded start read as gfn 0
    mib2 = 2 << 20
    assert ingest(tmp_path, DATA / "host2.trace") == (0, "", [
        ev(1, 141_000_001_000, 1, "tdvmcall", subfn=Subfn.MAP_GPA, status=0),
        kept(2, 141_000_002_000, 2, "kvm_userspace_exit", "reason KVM_EXIT_SHUTDOWN (8)"),
        kept(3, 141_000_003_000, 3, "kvm_userspace_exit", "reason 0x28 (40)"),
        ev(4, 141_000_004_000, 4, "convert", gpa=0x100000, size=mib2, to_private=True),
        ev(5, 141_000_005_000, 5, "convert", gpa=0, size=mib2, to_private=False),
        ev(6, 141_000_007_000, 6, "convert", gpa=0, size=4096, to_private=True)])


def test_the_guest_buffer_example_line(tmp_path: Path) -> None:
    # `+0x4`: with IBT the probe sits after endbr64; the CPU column [000] is the guest vCPU
    assert ingest(tmp_path, DATA / "guest.trace") == (0, "", [
        ev(1, 2_817_820_000, 1, "kexec", phase="load")])


def test_the_real_tp_printk_console_lines(tmp_path: Path) -> None:
    # the console example of §2, verbatim: the probes' events at the printk clock; the
    # `Starting new kernel` line is kept as a log line and marks no second shutdown, since
    # kernel_kexec already gave one in this generation (§1, last sentence)
    code, err, events = ingest(tmp_path, DATA / "console.log")
    assert (code, err) == (0, "")
    assert [(e["seq"], e["ts_ns"], e["kind"], e.get("phase"), e.get("text"), e["line"])
            for e in events] == [
        (1, 2_840_714_000, "kexec", "load", None, 1),
        (2, 3_144_956_000, "kexec", "shutdown", None, 3),
        (3, 3_147_409_000, "log", None, "kexec_core: Starting new kernel", 4),
        (4, 3_148_083_000, "cpu", None, None, 5),
        (5, 3_148_950_000, "kexec", "jump", None, 6)]
    assert (events[3]["action"], events[3]["vcpu"]) == ("stopped", 0)


def test_the_qemu_log_lines(tmp_path: Path) -> None:
    # §3: `<pid>@<sec>.<usec>:<event> <fields>`; kvm_convert_memory is the conversion the host
    # saw; other lines are kept as unmodeled events
    t = 1_733_526_123_000_000_000
    assert ingest(tmp_path, DATA / "q.log") == (0, "", [
        kept(1, t + 100_000, 1, "kvm_hc_map_gpa_range",
             "gpa 0x100000 size 0x200000 attributes 0x0 flags 0x0"),
        ev(2, t + 200_000, 2, "convert", gpa=0x100000, size=2 << 20, to_private=False),
        kept(3, t + 300_000, 3, "kvm_memory_fault", "start 0x100000 size 0x1000 flags 0x8"),
        ev(4, t + 400_000, 4, "convert", gpa=0x100000, size=2 << 20, to_private=True),
        kept(5, t + 500_000, 5, "kvm_hc_map_gpa_range",
             "gpa 0x100000 size 0x200000 attributes 0x10 flags 0x0"),
        kept(6, t + 600_000, 6, "vfio_region_write", " (0000:00:02.0:region0+0x0, 0x1, 4)")])


def test_jsonl_comments_hex_unknown_kinds_and_a_cut_last_line(tmp_path: Path) -> None:
    # `#` and blank lines skipped, the header is the first other line, a hex string GPA with
    # the shared bit, an unknown kind kept with its fields, ts_ns backwards across vCPUs, and a
    # final line without a newline that does not parse skipped with a warning naming it
    assert ingest(tmp_path, DATA / "cut.jsonl") == (
        0, f"tdxray: warning: {DATA / 'cut.jsonl'}:6: incomplete last line skipped"
           " (no newline, does not parse)\n", [
            ev(1, 5, 4, "map_gpa", gpa=(1 << 46) | 0x100000, size=2 << 20, status=0),
            ev(2, 4, 5, "frob", vcpu=1, extra='{"x":1}')])


@pytest.mark.parametrize(("header", "line", "error"), [
    (HEADER, '{"seq": 1, "ts_ns": 5, "vcpu": 0, "kind": "map_gpa", "gpa": "0x100000",'
     ' "status": "0x0"}\n', "2: field 'size': missing field (kind map_gpa needs it)"),
    (HEADER, '{"seq": 2, "ts_ns": 5, "vcpu": 0, "kind": "log", "text": "a"}\n'
     '{"seq": 2, "ts_ns": 6, "vcpu": 0, "kind": "log", "text": "b"}\n',
     "3: seq 2 does not increase (previous 2)"),
    (HEADER.replace("td-42", "td 42"), "",
     "1: trace_id 'td 42' is not allowed: use 1-128 letters, digits, '.', '_' or '-', not"
     " starting with '.'"),
    (HEADER.replace('"memory"', '"memroy"'), "",
     "1: td: unknown key 'memroy' (known: apic_ids, attributes, gpaw, mailbox, memory, ram,"
     " xfam)"),
    (HEADER, '{"seq": 1, "ts_ns": 5, "vcpu": 0, "kind": "log", "text": "a"\n'
     '{"seq": 2, "ts_ns": 6, "vcpu": 0, "kind": "log", "text": "b"}\n',
     "2: malformed JSON: unexpected end of data: line 1 column 61 (char 60)"),
])
def test_malformed_jsonl_is_one_line_naming_file_and_line(
        tmp_path: Path, header: str, line: str, error: str) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(header + line)
    assert ingest(tmp_path, path) == (2, f"tdxray: error: {path}:{error}\n", [])
