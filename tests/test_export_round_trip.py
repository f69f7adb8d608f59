"""`tdxray export --format TEXT` is honest about what one source can hold: every sample × text
format is refused with the events the format cannot hold named (exit 2, no file); `--partial`
writes the rest and names the same events on stderr; the host, guest and console renderings of
each sample, ingested together with the `--td-json` the export wrote, replay to the JSONL's
exact divergences. A trace a format holds whole exports silently and reads back the same."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tdxray.cli.main import cli
from tdxray.model.replay import replay_trace

SAMPLES = sorted((Path(__file__).parent.parent / "sample_traces").glob("*.jsonl"))
REAL = Path(__file__).parent / "data" / "real"
TEXT = ("ftrace-host", "ftrace-guest", "qemu", "console")
SOURCE = {"ftrace-host": "host ftrace", "ftrace-guest": "guest ftrace", "qemu": "QEMU log",
          "console": "console log"}
HELD = {  # what each format writes: never named as dropped
    "ftrace-host": {"mem_access", "convert"},
    "ftrace-guest": {"map_gpa", "accept", "cr4_write", "kexec jump", "kexec load",
                     "kexec begin", "kexec finish", "kexec crash"},
    "qemu": {"convert"},
    "console": {"log", "kexec shutdown", "kexec boot"},
}


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def export(tmp_path: Path, sample: Path, fmt: str, *more: str) -> tuple[Result, Path]:
    out = tmp_path / f"{sample.stem}.{fmt}"
    return run("export", str(sample), "--format", fmt, "-o", str(out), "-q", *more), out


def dropped(line: str) -> dict[str, int]:
    listed = re.search(r" \(([^)]*)\)", line)
    assert listed is not None, line
    return {name: int(n) for n, name in (item.split(" ", 1)
                                          for item in listed.group(1).split(", "))}


def events(sample: Path) -> int:
    return len(sample.read_text().splitlines()) - 1


@pytest.mark.parametrize("fmt", TEXT)
@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_a_text_format_refuses_what_it_cannot_hold(tmp_path: Path, sample: Path,
                                                   fmt: str) -> None:
    result, out = export(tmp_path, sample, fmt)
    assert result.exit_code == 2 and not out.exists()
    (line,) = result.stderr.splitlines()
    name, total = json.loads(sample.read_text().splitlines()[0])["trace_id"], events(sample)
    if fmt == "qemu":  # no sample converts memory through QEMU
        assert line == (f"tdxray: error: {name}: a QEMU log holds none of its {total} events; "
                        "--format jsonl keeps them all")
        return
    assert line.startswith(f"tdxray: error: {name}: a {SOURCE[fmt]} cannot hold ")
    refused = dropped(line)
    one_kernel = ("; a guest's ftrace buffer holds one kernel: --format console --tp-printk "
                  "holds every kernel's probe events")
    past_kexec = "kexec boot of a next kernel" in refused
    assert past_kexec == (fmt == "ftrace-guest" and "kexec jump" not in refused
                          and sample.stem not in ("mailbox-misuse", "unfixed-kernel",
                                                  "cr4-mce-cleared"))
    assert line.endswith(f"){one_kernel if past_kexec else ''}; --format jsonl keeps them all, "
                         "--partial writes the rest")
    assert not set(refused) & HELD[fmt]
    assert f"cannot hold {sum(refused.values())} of its {total} events" in line
    partial, out = export(tmp_path, sample, fmt, "--partial")
    assert partial.exit_code == 0 and out.exists()
    (warning,) = partial.stderr.splitlines()
    assert warning.startswith(f"tdxray: warning: {name}: dropped {sum(refused.values())} of "
                              f"{total} events a {SOURCE[fmt]} cannot hold (")
    assert dropped(warning) == refused


def test_the_unfixed_kernel_names_what_each_format_drops(tmp_path: Path) -> None:
    unfixed = next(s for s in SAMPLES if s.stem == "unfixed-kernel")
    lines = {fmt: export(tmp_path, unfixed, fmt)[0].stderr for fmt in TEXT}
    head = "tdxray: error: sample-unfixed-kernel: a"
    end = "; --format jsonl keeps them all, --partial writes the rest\n"
    assert lines == {
        "ftrace-host": (f"{head} host ftrace cannot hold 22 of its 150 events (7 accept, 5 log, "
                        "5 map_gpa, 1 cr4_write, 1 kexec boot, 1 kexec jump, 1 kexec load, "
                        "1 kexec shutdown)" + end),
        "ftrace-guest": (f"{head} guest ftrace cannot hold 135 of its 150 events (124 tdvmcall, "
                         "5 log, 4 mem_access, 1 kexec boot, 1 kexec shutdown)" + end),
        "qemu": (f"{head} QEMU log holds none of its 150 events; --format jsonl keeps them "
                 "all\n"),
        "console": (f"{head} console log cannot hold 143 of its 150 events (124 tdvmcall, "
                    "7 accept, 5 map_gpa, 4 mem_access, 1 cr4_write, 1 kexec jump, "
                    "1 kexec load)" + end),
    }


def test_a_guest_ftrace_past_a_kexec_points_at_the_console_with_tp_printk(tmp_path: Path) -> None:
    sample = next(s for s in SAMPLES if s.stem == "single-vcpu-kexec")
    lost = ("cannot hold 99 of its 150 events (79 tdvmcall, 9 log, 8 mem_access, 1 kexec boot, "
            "1 kexec boot of a next kernel, 1 kexec shutdown); a guest's ftrace buffer holds one "
            "kernel: --format console --tp-printk holds every kernel's probe events")
    refused, _ = export(tmp_path, sample, "ftrace-guest")
    assert refused.stderr == (f"tdxray: error: sample-single-vcpu-kexec: a guest ftrace {lost}"
                              "; --format jsonl keeps them all, --partial writes the rest\n")
    result, _ = export(tmp_path, sample, "ftrace-guest", "--partial")
    assert result.stderr == ("tdxray: warning: sample-single-vcpu-kexec: dropped 99 of 150 "
                             "events a guest ftrace " + lost.replace("cannot hold 99 of its 150 "
                                                                     "events ", "cannot hold ")
                             + ", or read it with the console\n")


def _above_info(trace: Path) -> list[tuple[str, str]]:
    return sorted((d.rule, d.fingerprint) for d in replay_trace(trace).divergences
                  if d.severity != "info")


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_host_guest_and_console_together_replay_like_the_jsonl(tmp_path: Path,
                                                               sample: Path) -> None:
    td = tmp_path / "td.json"
    files = []
    for fmt in ("ftrace-host", "ftrace-guest", "console"):
        result, out = export(tmp_path, sample, fmt, "--partial", "--td-json", str(td))
        assert result.exit_code == 0, result.output
        files.append(str(out))
    header = json.loads(sample.read_text().splitlines()[0])
    assert json.loads(td.read_text()) == header["td"]
    result = run("ingest", *files, "-o", str(tmp_path / "s"), "--trace-id", "re", "--td", str(td),
                 "-q")
    assert result.exit_code == 0, result.output
    assert run("ingest", str(sample), "-o", str(tmp_path / "s"), "--trace-id", "jsonl",
               "-q").exit_code == 0
    expected = _above_info(tmp_path / "s" / "jsonl.parquet")
    assert _above_info(tmp_path / "s" / "re.parquet") == expected


def test_a_trace_the_console_holds_whole_exports_silently_and_reads_back(tmp_path: Path) -> None:
    assert run("ingest", str(REAL / "serial.log"), "-o", str(tmp_path / "s"), "--trace-id", "con",
               "-q").exit_code == 0
    out = tmp_path / "con.log"
    result = run("export", str(tmp_path / "s"), "--format", "console", "-o", str(out), "-q")
    assert result.exit_code == 0 and result.stderr == ""
    assert run("ingest", str(out), "-o", str(tmp_path / "s"), "--trace-id", "back",
               "-q").exit_code == 0
    a, b = (run("export", str(tmp_path / "s"), "--trace", t).stdout.splitlines()[1:]
            for t in ("con", "back"))
    assert [json.loads(x) | {"source": None} for x in a] == [json.loads(x) | {"source": None}
                                                             for x in b]


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_the_console_with_tp_printk_replays_like_the_jsonl(tmp_path: Path, sample: Path) -> None:
    """Every guest probe event and log line in one text, across kernels: only the host's
    events are lost (kdump-shared-read's A001 is a host page fault); with the host ftrace
    beside it, every divergence is back."""
    td = tmp_path / "td.json"
    console, out = export(tmp_path, sample, "console", "--tp-printk", "--partial", "--td-json",
                          str(td))
    assert console.exit_code == 0, console.output
    assert not set(dropped(console.stderr)) - {"tdvmcall", "mem_access", "mailbox_write",
                                                "mailbox_read", "cpu woken"}
    host, host_out = export(tmp_path, sample, "ftrace-host", "--partial")
    assert host.exit_code == 0, host.output
    for trace_id, files in (("tp", [out]), ("both", [out, host_out])):
        result = run("ingest", *map(str, files), "-o", str(tmp_path / "s"), "--trace-id",
                     trace_id, "--td", str(td), "-q")
        assert result.exit_code == 0, result.output
    assert run("ingest", str(sample), "-o", str(tmp_path / "s"), "--trace-id", "jsonl",
               "-q").exit_code == 0
    expected = _above_info(tmp_path / "s" / "jsonl.parquet")
    host_only = [("A001", "09436e2e0e0644ab")] if sample.stem == "kdump-shared-read" else []
    assert _above_info(tmp_path / "s" / "tp.parquet") == sorted(set(expected) - set(host_only))
    assert _above_info(tmp_path / "s" / "both.parquet") == expected


def test_tp_printk_is_for_the_console(tmp_path: Path) -> None:
    result, out = export(tmp_path, SAMPLES[0], "qemu", "--tp-printk")
    assert result.exit_code == 2 and not out.exists()
    assert result.stderr.splitlines()[-1] == "Error: --tp-printk is for --format console"


def test_the_host_export_prints_a_tds_exits_as_a_616_host_does(tmp_path: Path) -> None:
    """FORMATS.md §2: a TD runs on a 6.16+ host, whose kvm_exit has the `requests` tail, and KVM
    cannot read a TD's registers: kvm_exit and kvm_page_fault print `rip 0x0`."""
    unfixed = next(s for s in SAMPLES if s.stem == "unfixed-kernel")
    result, out = export(tmp_path, unfixed, "ftrace-host", "--partial")
    assert result.exit_code == 0, result.output
    fields = [line.split(": ", 1)[1] for line in out.read_text().splitlines()]
    exits = [f for f in fields if f.startswith("kvm_exit: ")]
    faults = [f for f in fields if f.startswith("kvm_page_fault: ")]
    assert (len(exits), len(faults)) == (124, 4)
    assert exits[0] == ("kvm_exit: vcpu 0 reason EPT_MISCONFIG rip 0x0 info1 0x0000000000000000 "
                        "info2 "
                        "0x0000000000000000 intr_info 0x00000000 error_code 0x00000000 "
                        "requests 0x0000000000000000")
    shape = re.compile(r"kvm_exit: vcpu \d+ reason (CPUID|HLT|IO_INSTRUCTION|MSR_READ|MSR_WRITE"
                       r"|EPT_MISCONFIG) rip 0x0 info1 0x0{16} info2 0x0{16} intr_info 0x0{8} "
                       r"error_code 0x0{8} requests 0x0{16}")
    assert [f for f in exits if not shape.fullmatch(f)] == []
    assert [f for f in faults if not re.fullmatch(
        r"kvm_page_fault: vcpu \d+ rip 0x0 address 0x[0-9a-f]{16} error_code 0x[02]", f)] == []
