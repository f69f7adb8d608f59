"""The shapes of tracefs output a user may hand us, recorded on Debian's 6.12 and 6.1 cloud
kernels under QEMU (tests/realkernel/record_shapes.py; fixtures in tests/data/real/shapes/):
each is read to exactly its events, or refused with one line that says what to change.

Every fixture holds the same recording: `kexec -l` twice (the probes `kexec_load` and
`kexec_load_ret` make one `kexec` load each) and a `trace_marker` write, dumped with one trace
option or trace_clock changed (kernel/trace/trace_output.c prints them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tdxray.cli.main import cli
from tdxray.ingest.ftrace.shapes import lost_count
from tdxray.ingest.text.sources import detect_source_format
from tdxray.schema.losses import Loss, losses_of
from tdxray.store.read import open_trace

SHAPES = Path(__file__).parent / "data" / "real" / "shapes"
REAL = Path(__file__).parent / "data" / "real"
TD = Path(__file__).parent / "data" / "real" / "qemu" / "td.json"  # -smp 2


def ingest(tmp_path: Path, *files: Path) -> tuple[int, str, list[dict[str, Any]]]:
    """(exit status, stderr, the stored events as (kind, phase, ts_ns, vcpu, line, extra))."""
    store = tmp_path / "store"
    res = CliRunner().invoke(cli, ["ingest", *map(str, files), "-o", str(store), "--td",
                                   str(TD), "--trace-id", "t", "-q"])
    if res.exit_code:
        assert not (store / "t.parquet").exists()
        return res.exit_code, res.stderr, []
    rows = open_trace(store / "t.parquet").read().to_pylist()
    return 0, res.stderr, [{k: v for k, v in r.items() if v is not None and k != "source"}
                           for r in rows]


def loads(*at: tuple[int, int, int]) -> list[dict[str, Any]]:
    return [{"seq": i + 1, "ts_ns": ts, "vcpu": vcpu, "kind": "kexec", "phase": "load",
             "line": line} for i, (ts, vcpu, line) in enumerate(at)]


def marker(seq: int, ts: int, line: int) -> dict[str, Any]:
    # a trace_marker write is kept as an unmodeled event, on its CPU column's vCPU (a guest's
    # trace: the recordings' markers were written on CPU 1)
    return {"seq": seq, "ts_ns": ts, "vcpu": 1, "kind": "tracing_mark_write",
            "extra": json.dumps({"fields": "tdxray shape marker"}), "line": line}


MARK = "              sh-174     [001] .....    18.045615: tracing_mark_write: tdxray mark\n"
LOAD = ("           kexec-145     [000] .....     2.817820: kexec_load: "
        "(machine_kexec_prepare+0x4/0x740) image=0xffff8d87c1b81800\n")
EXIT = ("   CPU 0/KVM-2301     [002] d..1.   141.000001: kvm_exit: vcpu 0 reason HLT rip 0x0 "
        "info1 0x0000000000000000 info2 0x0000000000000000 intr_info 0x00000000 "
        "error_code 0x00000000\n")


@pytest.mark.parametrize("first,vcpu", [(LOAD, 1), (EXIT, 0)])
def test_an_unmodeled_event_is_on_the_guest_cpu_not_a_host_cpu(
        tmp_path: Path, first: str, vcpu: int) -> None:
    """A guest's trace (its probes: ftrace-guest): the CPU column is the vCPU, for the events
    no decoder models as for the probes'. A host's (KVM events): it is a host CPU, so they
    keep vCPU 0."""
    path = tmp_path / "t.trace"
    path.write_text(first + MARK)
    status, err, rows = ingest(tmp_path, path)
    assert (status, err) == (0, "")
    assert [(r["kind"], r["vcpu"]) for r in rows][1:] == [("tracing_mark_write", vcpu)]


# 11.761702 and 16.196556 on CPU 1 (taskset), the marker at 18.045615
KEXEC_612 = [(11_761_702_000, 1), (16_196_556_000, 1)]


def recorded(first: int) -> list[dict[str, Any]]:
    """The 6.12 recording's events when its first event is on line `first`."""
    kexec = loads(*((ts, cpu, first + 2 * i) for i, (ts, cpu) in enumerate(KEXEC_612)))
    return [*kexec, marker(3, 18_045_615_000, first + 4)]


@pytest.mark.parametrize("name,first", [
    ("trace", 13),                # default options
    ("trace-noirq-info", 7),      # no flags column, a shorter header
    ("trace-record-tgid", 13),    # `(-------)` TGID column (the tgid map is empty)
    ("trace-sym-addr", 13),       # `(sym+off/size <ffffffff…>)`, `tracing_mark_write <…>:`
    ("trace-sym-offset", 13),     # `tracing_mark_write+0xdf/0x280:` (kprobes always show it)
    ("per_cpu-cpu1-trace", 13),   # per_cpu/cpu1/trace: the same header, one CPU's events
    ("trace_pipe", 1),            # no header at all
])
def test_trace_options_that_keep_the_line_shape_read_to_the_recorded_events(
        tmp_path: Path, name: str, first: int) -> None:
    assert ingest(tmp_path, SHAPES / "6.12" / name) == (0, "", recorded(first))


@pytest.mark.parametrize("clock,ts,cpu", [
    ("mono", 25_580_829_000, 1), ("boot", 52_115_243_000, 1), ("perf", 63_532_169_000, 0),
    # a later recording of the same script
    ("mono_raw", 66_377_312_000, 1), ("local", 78_979_464_000, 1), ("global", 82_913_228_000, 0)])
def test_clocks_in_nanoseconds_are_read(tmp_path: Path, clock: str, ts: int, cpu: int) -> None:
    assert ingest(tmp_path, SHAPES / "6.12" / f"trace-clock-{clock}") == (
        0, "", loads((ts, cpu, 13)))


COUNT = ("timestamp {} is a count, not seconds: trace_clock counter, uptime or x86-tsc "
         "(echo global > trace_clock, or trace-cmd record -C global)")


@pytest.mark.parametrize("name,line,why", [
    # trace_print_context(): `%12llu` when trace_clocks[].in_ns is 0
    ("trace-clock-x86-tsc", 13, COUNT.format(96815380353)),
    ("trace-clock-counter", 13, COUNT.format(3)),
    ("trace-clock-uptime", 13, COUNT.format(4392)),   # jiffies
    # trace-cmd report's `%12d:` (tracecmd/trace-read.c time_format()) glues a count of 12
    # digits to the CPU column: `[001]134382592624:` (trace-cmd record -C x86-tsc)
    ("trace-cmd-report-C-x86-tsc", 2, COUNT.format(134382592624)),
    ("trace-cmd-report-C-counter", 2, COUNT.format(3)),
    ("trace-latency-format", 19, "latency-format line: its time is microseconds since the "
     "buffer's start, not the trace clock (echo nolatency-format > trace_options)"),
    ("trace-raw", 13, "raw, hex or bin output has no event names (echo noraw > "
     "trace_options, nohex, nobin)"),
    ("trace-hex", 13, "raw, hex or bin output has no event names (echo noraw > "
     "trace_options, nohex, nobin)"),
    ("trace-nocontext-info", 3, "no task, CPU or time before the event (echo context-info > "
     "trace_options)"),
])
def test_shapes_that_lose_the_time_are_refused_with_what_to_change(
        tmp_path: Path, name: str, line: int, why: str) -> None:
    path = SHAPES / "6.12" / name
    assert ingest(tmp_path, path) == (2, f"tdxray: error: {path}:{line}: {why}\n", [])


def test_trace_cmd_report_of_a_guest_recording(tmp_path: Path) -> None:
    """`trace-cmd record -e tdxray` in the guest, `trace-cmd report` there (libtraceevent prints
    the probe's print fmt: bare addresses; a kretprobe's `(func <- caller)`, the reverse of the
    kernel's own `(caller+off/size <- func)`); -t prints nanoseconds."""
    assert ingest(tmp_path / "us", SHAPES / "6.12" / "trace-cmd-report") == (
        0, "", loads((114_098_425_000, 0, 2)))
    assert ingest(tmp_path / "ns", SHAPES / "6.12" / "trace-cmd-report-t") == (
        0, "", loads((114_098_424_572, 0, 2)))


def test_trace_cmd_report_of_two_buffers_and_another_clock(tmp_path: Path) -> None:
    """`trace-cmd record -e tdxray -B inst -e tdxray:kexec_load -e tdxray:kexec_load_ret` (two
    loads): report prints the instance's lines after `inst:`, each buffer on its own clock (the
    top one global, set by the recipe; trace-cmd leaves the new instance's local). Each line is
    an event of its buffer; `-C mono` reads as any clock in nanoseconds."""
    both = ((13_673_252_000, 0, 2), (13_719_908_000, 0, 4), (18_126_542_000, 0, 6),
            (18_172_879_000, 0, 8))
    assert ingest(tmp_path / "us", SHAPES / "6.12" / "trace-cmd-report-B") == (
        0, "", loads(*both))
    assert ingest(tmp_path / "ns", SHAPES / "6.12" / "trace-cmd-report-B-t") == (0, "", loads(
        (13_673_251_605, 0, 2), (13_719_907_972, 0, 4), (18_126_541_530, 0, 6),
        (18_172_879_311, 0, 8)))
    assert ingest(tmp_path / "mono", SHAPES / "6.12" / "trace-cmd-report-C-mono") == (
        0, "", loads((35_981_092_000, 1, 2)))


def test_trace_cmd_report_of_an_overflowed_buffer(tmp_path: Path) -> None:
    """`trace-cmd record -b 4 -e tdxray -e kmem` over a `find /sys`: the 4 KiB per-CPU buffer
    drops events, `CPU:0 [301 EVENTS DROPPED]` (cut from 120571 lines): losses, no events; the
    kmem events are kept, the load between them read."""
    path = SHAPES / "6.12" / "trace-cmd-report-overflow"
    status, stderr, rows = ingest(tmp_path, path)
    assert (status, stderr) == (0, "")
    assert [(r["seq"], r["ts_ns"], r["kind"], r["line"]) for r in rows if r["line"] < 9] == [
        (1, 82_393_080_000, "mm_page_alloc", 3), (2, 82_508_686_000, "kfree", 4),
        (3, 82_522_808_000, "kmem_cache_alloc", 6), (4, 93_563_891_000, "kmem_cache_free", 7),
        (5, 94_523_947_000, "kmalloc", 8)]
    assert [r for r in rows if r["kind"] == "kexec"] == [
        event(9, 94_524_156_000, 12, "kexec", phase="load")]
    assert [r["line"] for r in rows] == [3, 4, *range(6, 21), 22]
    assert losses(tmp_path) == (
        Loss(str(path), 2, 0, 301, None, "CPU:0 [301 EVENTS DROPPED]"),
        Loss(str(path), 5, 0, 229, 2, "CPU:0 [229 EVENTS DROPPED]"))


# Debian 6.1: no IBT, so the probe sits at `+0x0`; otherwise the shapes of 6.12
EVENTS_61 = [*loads((12_492_470_000, 0, 13), (18_458_964_000, 1, 15)),
             marker(3, 20_514_764_000, 17)]


@pytest.mark.parametrize("name", ["trace", "trace-sym-addr"])
def test_the_6_1_kernel_reads_the_same(tmp_path: Path, name: str) -> None:
    assert ingest(tmp_path, SHAPES / "6.1" / name) == (0, "", EVENTS_61)


def test_the_6_1_kernel_latency_format_is_refused(tmp_path: Path) -> None:
    path = SHAPES / "6.1" / "trace-latency-format"
    assert ingest(tmp_path, path) == (
        2, f"tdxray: error: {path}:19: latency-format line: its time is microseconds since the "
        "buffer's start, not the trace clock (echo nolatency-format > trace_options)\n", [])


def kept(seq: int, ts: int, line: int, kind: str, fields: str) -> dict[str, Any]:
    return {"seq": seq, "ts_ns": ts, "vcpu": 0, "kind": kind, "line": line,
            "extra": json.dumps({"fields": fields})}


ALLOC = ("call_site=copy_process+0x1ae9/0x2800 ptr=0000000033b6d104 bytes_req=1152 "
         "bytes_alloc=1152 gfp_flags=GFP_KERNEL|__GFP_ZERO node=-1 accounted=true")
ALLOC2 = ("call_site=copy_process+0xfd4/0x2800 ptr=00000000a241dfcf bytes_req=1360 "
          "bytes_alloc=1408 gfp_flags=GFP_KERNEL node=-1 accounted=true")


def losses(tmp_path: Path) -> tuple[Loss, ...]:
    return losses_of(open_trace(tmp_path / "store" / "t.parquet").header)


WRAPPED = SHAPES / "6.12" / "trace-wrapped"
WRAP_HEADER = "# entries-in-buffer/entries-written: 207/270064   #P:2"
LOST_COVERAGE = ("events lost: 269857 events, 1 buffer marker (269857 across the buffer before "
                 f"any event ({WRAPPED}:3)): the ring buffer overwrote events before they were "
                 "read, any rule may have missed its evidence")


def test_a_wrapped_ring_buffer_is_no_event_and_said_in_coverage(tmp_path: Path) -> None:
    """buffer_size_kb 4 with the kmem events on: the `trace` header says 207 of 270064 kept
    (print_event_info(): written minus in-buffer is the overrun); the 6.12 recording, cut.
    A header line is no event (FORMATS.md §2): the loss is in the trace header."""
    assert ingest(tmp_path, WRAPPED) == (0, "", [
        kept(1, 115_464_440_000, 13, "kmem_cache_alloc", ALLOC),
        kept(2, 115_464_455_000, 14, "kmem_cache_alloc", ALLOC2),
        kept(3, 115_464_491_000, 15, "mm_page_alloc", "page=00000000c41b5957 pfn=0x7d34 "
             "order=1 migratetype=0 gfp_flags=GFP_KERNEL_ACCOUNT|__GFP_ZERO")])
    assert losses(tmp_path) == (Loss(str(WRAPPED), 3, None, 270064 - 207, None, WRAP_HEADER),)
    store = str(tmp_path / "store")
    res = CliRunner().invoke(cli, ["check", store])
    assert res.exit_code == 0, res.output
    assert f"  coverage: {LOST_COVERAGE}" in res.output.splitlines()
    res = CliRunner().invoke(cli, ["check", store, "--format", "markdown"])
    assert f"- Coverage: {LOST_COVERAGE}" in res.output.splitlines()
    res = CliRunner().invoke(cli, ["check", store, "--format", "json"])
    [trace] = json.loads(res.stdout)["traces"]
    assert [(d["rule"], d["seq"]) for d in trace["divergences"]
            if d["message"] == LOST_COVERAGE] == [("T003", None)]
    res = CliRunner().invoke(cli, ["sql", "--store", store, "--format", "json",
                                   "SELECT source, line, cpu, lost, after_seq, marker FROM losses"])
    assert json.loads(res.stdout) == [{"source": str(WRAPPED), "line": 3, "cpu": None,
                                       "lost": 269857, "after_seq": None, "marker": WRAP_HEADER}]


PIPE_LOST = SHAPES / "6.12" / "trace_pipe-lost"


def test_lost_events_in_trace_pipe_are_losses_on_their_cpu(tmp_path: Path) -> None:
    """The same overrun read through trace_pipe: `CPU:%d [LOST %lu EVENTS]` before the CPU's
    next event (print_trace_line()). No event: a loss on that CPU after the event before it."""
    assert ingest(tmp_path, PIPE_LOST) == (0, "", [
        kept(1, 115_464_440_000, 2, "kmem_cache_alloc", ALLOC),
        kept(2, 115_464_455_000, 3, "kmem_cache_alloc", ALLOC2),
        kept(3, 115_544_096_000, 5, "kfree", "call_site=__vm_area_free+0x19/0x40 "
             "ptr=0000000000000000"),
        kept(4, 115_544_097_000, 6, "kmem_cache_free", "call_site=__vm_area_free+0x29/0x40 "
             "ptr=0000000060883eda name=vma_lock")])
    assert losses(tmp_path) == (
        Loss(str(PIPE_LOST), 1, 1, 111731, None, "CPU:1 [LOST 111731 EVENTS]"),
        Loss(str(PIPE_LOST), 4, 0, 158126, 2, "CPU:0 [LOST 158126 EVENTS]"))


def _without_markers(path: Path, out: Path) -> Path:
    """The same file with every buffer-marker line deleted (the `trace` header's
    entries line included: the header's counts are what say the buffer wrapped)."""
    out.write_bytes(b"".join(x for x in path.read_bytes().splitlines(keepends=True)
                             if lost_count(x.decode()) is None))
    return out


def _exported(tmp_path: Path, source: Path) -> tuple[list[dict[str, Any]], list[str], list[Any]]:
    """(events but their line, the JSONL export's event lines, the check's divergences but the
    loss) of `source` ingested alone."""
    code, err, events = ingest(tmp_path, source)
    assert (code, err) == (0, "")
    store = str(tmp_path / "store")
    export = CliRunner().invoke(cli, ["export", store, "-q"])
    check = CliRunner().invoke(cli, ["check", store, "--format", "json"])
    [trace] = json.loads(check.stdout)["traces"]
    found = [{k: v for k, v in d.items() if k != "source"} for d in trace["divergences"]
             if not d["message"].startswith("events lost: ")]
    return ([{k: v for k, v in e.items() if k != "line"} for e in events],
            export.stdout.splitlines()[1:], found)


@pytest.mark.parametrize("path", [WRAPPED, PIPE_LOST, REAL / "host.trace",
                                  REAL / "host-report.txt"], ids=lambda p: p.name)
def test_markers_change_no_seq_event_export_or_divergence(tmp_path: Path, path: Path) -> None:
    """FORMATS.md §2: a buffer-marker line becomes no event. A trace with markers gives the
    seqs, events, export and divergences of the same trace with the marker lines deleted."""
    bare = _without_markers(path, tmp_path / "bare")
    assert bare.read_bytes() != path.read_bytes()
    with_markers = _exported(tmp_path / "a", path)
    assert with_markers == _exported(tmp_path / "b", bare)
    assert with_markers[0] and with_markers[1]
    assert losses(tmp_path / "a") and not losses(tmp_path / "b")


def log(seq: int, ts: int, line: int, text: str) -> dict[str, Any]:
    return {"seq": seq, "ts_ns": ts, "vcpu": 0, "kind": "log", "text": text, "line": line}


def event(seq: int, ts: int, line: int, kind: str, vcpu: int = 0,
          **values: Any) -> dict[str, Any]:
    return {"seq": seq, "ts_ns": ts, "vcpu": vcpu, "kind": kind, **values, "line": line}


def test_console_without_printk_time(tmp_path: Path) -> None:
    """printk.time=0 at run time (/sys/module/printk/parameters/time): the tp_printk lines have
    no stamp and take the time of the line before."""
    assert ingest(tmp_path, SHAPES / "6.12" / "console-notime.log") == (0, "", [
        log(1, 99_582_910_000, 1, "tdxray-harness: shape notime begin"),
        event(2, 99_582_910_000, 2, "kexec", phase="load"),
        log(3, 103_403_767_000, 4, "tdxray-harness: shape end")])


def test_console_with_syslog_priorities(tmp_path: Path) -> None:
    """console_msg_format=syslog (the kexec'd 6.12 kernel): `<4>` before the stamp of a tp_printk
    line, `<12>` before a /dev/kmsg record, and `<4>` alone with printk.time=0."""
    assert ingest(tmp_path, SHAPES / "6.12" / "console-syslog.log") == (0, "", [
        log(1, 14_940_890_000, 1, "tdxray-harness: shape syslog begin"),
        event(2, 16_909_315_000, 2, "kexec", phase="load"),
        log(3, 17_395_947_000, 4, "tdxray-harness: shape end"),
        log(4, 17_396_595_000, 5, "tdxray-harness: shape syslog-notime begin"),
        event(5, 17_396_595_000, 6, "kexec", phase="load"),
        log(6, 23_485_109_000, 8, "tdxray-harness: shape end")])


def test_an_ftrace_dump_on_the_console_is_kept_as_log_lines(tmp_path: Path) -> None:
    """sysrq-z: ftrace_dump() prints the buffer in the latency format (CPU glued to the flags,
    µs since the buffer's reset): log lines, with one warning naming the first such line."""
    path = SHAPES / "6.12" / "console-sysrq-z.log"
    status, stderr, rows = ingest(tmp_path, path)
    assert (status, stderr) == (0, f"tdxray: warning: {path}:5: an ftrace dump (sysrq-z, "
                                   "ftrace_dump_on_oops) is kept as log lines: its times count "
                                   "from the trace buffer's last reset, not the printk clock "
                                   "(boot with tp_printk: every event is printed at its time)\n")
    assert [(r["kind"], r["line"], r["text"]) for r in rows] == [
        ("log", 1, "tdxray-harness: shape sysrq-z begin"),
        ("log", 2, "sysrq: Dump ftrace buffer"),
        ("log", 3, "Dumping ftrace buffer:"),
        ("log", 4, "---------------------------------"),
        ("log", 5, "   kexec-241       1..... 5634533us : kexec_load: "
                   "(machine_kexec_prepare+0x4/0x740) image=0xff26417f81ae0000"),
        ("log", 6, "   kexec-241       1..... 5665839us : kexec_load_ret: "
                   "(do_kexec_load+0x2a3/0x340 <- machine_kexec_prepare) ret=0"),
        ("log", 7, "---------------------------------"),
        ("log", 8, "tdxray-harness: shape end")]


def test_the_6_1_console_of_a_kexec_and_a_power_off(tmp_path: Path) -> None:
    """Debian 6.1 (no TDX guest code, no IBT: `+0x0`): a kexec into a kernel booted with
    console_msg_format=syslog, which then powers off; machine_power_off() stops the AP too
    (native_stop_other_cpus() -> stop_this_cpu()), so a `cpu` stopped ends the trace."""
    text = (SHAPES / "6.1" / "console-kexec.log").read_bytes().decode().splitlines()
    banner, cmdline = (line.split("] ", 1)[1].rstrip("\r") for line in text[6:8])
    assert ingest(tmp_path, SHAPES / "6.1" / "console-kexec.log") == (0, "", [
        event(1, 96_224_202_000, 1, "kexec", phase="load"),
        event(2, 100_871_558_000, 3, "kexec", phase="shutdown"),
        log(3, 100_878_117_000, 4, "kexec_core: Starting new kernel"),
        event(4, 100_879_263_000, 5, "cpu", 1, apic_id=1, action="stopped"),
        event(5, 100_880_344_000, 6, "kexec", phase="jump"),
        log(6, 100_880_344_000, 7, banner),
        event(7, 100_880_344_000, 7, "kexec", phase="boot"),
        log(8, 100_880_344_000, 8, cmdline),
        log(9, 119_099_320_000, 9, "tdxray-harness: shapes kernel up"),
        log(10, 119_123_392_000, 10, "ACPI: PM: Preparing to enter system sleep state S5"),
        log(11, 119_129_765_000, 11, "reboot: Power down"),
        event(12, 119_131_213_000, 12, "cpu", 1, apic_id=1, action="stopped")])


def function(ts: int, line: int, fields: str) -> dict[str, Any]:
    # on CPU 1, as the probe's event after it
    return {"seq": 1, "ts_ns": ts, "vcpu": 1, "kind": "function", "line": line,
            "extra": json.dumps({"fields": fields})}


@pytest.mark.parametrize("name,fields", [
    # trace_fn_trace() (kernel/trace/trace_output.c): the function, ` <-` and its parent when
    # print-parent is on (the default), each `+off/size` with sym-offset
    ("trace-function", "machine_kexec_prepare <-do_kexec_load"),
    ("trace-function-noprint-parent", "machine_kexec_prepare"),
    ("trace-function-sym-offset", "machine_kexec_prepare+0x4/0x740 <-do_kexec_load+0x2a3/0x340"),
])
def test_the_function_tracer_beside_the_probes(tmp_path: Path, name: str, fields: str) -> None:
    """current_tracer function, filtered to machine_kexec_prepare: its lines are kept as
    `function` events, the probes' events read as ever."""
    assert ingest(tmp_path, SHAPES / "6.12" / name) == (0, "", [
        function(143_893_185_000, 13, fields),
        {**loads((143_893_314_000, 1, 14))[0], "seq": 2}])


def test_the_function_graph_tracer_is_refused(tmp_path: Path) -> None:
    path = SHAPES / "6.12" / "trace-function_graph"
    assert ingest(tmp_path, path) == (
        2, f"tdxray: error: {path}:5: function_graph output has no time per event (echo nop > "
        "current_tracer: the probes' events need no tracer)\n", [])


QEMU = SHAPES / "qemu-7.2"  # Debian's QEMU 7.2, -M none, driven over QMP (cont, stop, quit)
QEMU_EVENTS = [  # (kind, fields) in the order logged
    ("monitor_qmp_cmd_in_band", ""), ("monitor_qmp_cmd_in_band", ""),
    ("runstate_set", "current_run_state 6 (prelaunch) new_state 9 (running)"),
    ("vm_state_notify", "running 1 reason 9 (running)"), ("monitor_qmp_cmd_in_band", ""),
    ("runstate_set", "current_run_state 9 (running) new_state 4 (paused)"),
    ("vm_state_notify", "running 0 reason 4 (paused)"), ("monitor_qmp_cmd_in_band", "")]


def qemu_rows(times: list[int]) -> list[dict[str, Any]]:
    return [{"seq": i + 1, "ts_ns": ts, "vcpu": 0, "kind": kind, "line": i + 1,
             "extra": json.dumps({"fields": fields})}
            for i, ((kind, fields), ts) in enumerate(zip(QEMU_EVENTS, times, strict=True))]


def test_a_qemu_log_with_msg_timestamps(tmp_path: Path) -> None:
    """-msg timestamp=on: `%d@%zu.%06zu:%s ` (the log backend, scripts/tracetool/backend/log.py);
    an event whose format is empty still ends in a space."""
    usec = [498836, 498988, 499036, 499038, 499126, 499132, 499135, 499229]
    assert ingest(tmp_path, QEMU / "qemu-msg-timestamp.log") == (
        0, "", qemu_rows([1_796_610_120_000_000_000 + u * 1000 for u in usec]))


def test_a_qemu_log_without_timestamps(tmp_path: Path) -> None:
    """QEMU 7.2's default (-msg timestamp=off): `<event> <fields>`, no time at all (the file's
    name says it is a QEMU log: nothing in its content does)."""
    assert ingest(tmp_path, QEMU / "qemu.log") == (0, "", qemu_rows([0] * 8))


def kept_qemu(seq: int, ts: int, kind: str, fields: str) -> dict[str, Any]:
    return {"seq": seq, "ts_ns": ts, "vcpu": 0, "kind": kind, "line": seq,
            "extra": json.dumps({"fields": fields})}


TCG_WARNING = ("qemu-system-x86_64: warning: TCG doesn't support requested feature: "
               "CPUID.01H:ECX.{}")
CFG_READ = "i440FX 00:00.0 @0x0 -> 0x{}"


@pytest.mark.parametrize("name,at", [
    ("qemu-stderr-msg-timestamp.log", [1_796_633_106_842_874, 1_796_633_106_842_957,
                                       1_796_633_106_911_258, 1_796_633_106_917_098,
                                       1_796_633_106_917_138, 1_796_633_110_742_013,
                                       1_796_633_110_742_134]),
    ("qemu-stderr.log", [0] * 7),
])
def test_a_qemu_trace_on_stderr_between_qemus_messages(tmp_path: Path, name: str,
                                                       at: list[int]) -> None:
    """`qemu-system-x86_64 -trace … 2> F` (no file=): QEMU's own messages (error_report(), a
    `%Y-%m-%dT%H:%M:%S.%06dZ ` UTC stamp first with -msg timestamp=on) are log events on the
    trace's wall clock. A message first made the file a console (its stamp looks like dmesg's
    iso format: every trace line a log line) or unrecognised (without timestamps)."""
    path = tmp_path / "stderr"  # no name hint
    convert = b"kvm_convert_memory start 0x7ff00000 size 0x1000 shared_to_private\n"
    path.write_bytes((QEMU / name).read_bytes()
                     + (b"1739@1796633110.800000:" if at[0] else b"") + convert)
    ts = [u * 1000 for u in at] + [at[-1] and 1_796_633_110_800_000_000]
    assert detect_source_format(path.read_bytes(), "stderr") == "qemu"
    assert ingest(tmp_path, path) == (0, "", [
        log(1, ts[0], 1, TCG_WARNING.format("pcid [bit 17]")),
        log(2, ts[1], 2, TCG_WARNING.format("x2apic [bit 21]")),
        kept_qemu(3, ts[2], "runstate_set", "current_run_state 6 (prelaunch) new_state 9 "
                  "(running)"),
        kept_qemu(4, ts[3], "pci_cfg_read", CFG_READ.format("8086")),
        kept_qemu(5, ts[4], "pci_cfg_read", CFG_READ.format("12378086")),
        log(6, ts[5], 6, "qemu-system-x86_64: terminating on signal 15 from pid "
            f"{1738 if at[0] else 1930} (timeout)"),
        kept_qemu(7, ts[6], "runstate_set", "current_run_state 9 (running) new_state 11 "
                  "(shutdown)"),
        event(8, ts[7], 8, "convert", gpa=0x7FF00000, size=0x1000, to_private=True)])


def test_the_6_1_console_with_syslog_priorities(tmp_path: Path) -> None:
    assert ingest(tmp_path, SHAPES / "6.1" / "console-syslog.log") == (0, "", [
        log(1, 7_088_411_000, 1, "tdxray-harness: shape syslog begin"),
        event(2, 13_464_300_000, 2, "kexec", phase="load"),
        log(3, 15_356_444_000, 4, "tdxray-harness: shape end"),
        log(4, 15_384_740_000, 5, "tdxray-harness: shape syslog-notime begin"),
        event(5, 15_384_740_000, 6, "kexec", phase="load"),
        log(6, 19_384_417_000, 8, "tdxray-harness: shape end")])


def test_the_6_1_trace_cmd_report(tmp_path: Path) -> None:
    assert ingest(tmp_path, SHAPES / "6.1" / "trace-cmd-report") == (
        0, "", loads((118_647_200_000, 0, 2)))


@pytest.mark.parametrize("name,line,why", [
    ("trace-clock-x86-tsc", 1, COUNT.format(96815380353)),
    ("trace-latency-format", 1, "latency-format line: its time is microseconds since the "
     "buffer's start, not the trace clock (echo nolatency-format > trace_options)")])
def test_a_headerless_capture_of_such_shapes_is_still_ftrace(
        tmp_path: Path, name: str, line: int, why: str) -> None:
    """trace_pipe has no header: its event lines alone say it is ftrace, so that the refusal
    says what to change (not "cannot tell the format")."""
    path = tmp_path / "capture"
    path.write_bytes(b"".join(x for x in (SHAPES / "6.12" / name).read_bytes()
                              .splitlines(keepends=True) if not x.startswith(b"#")))
    assert ingest(tmp_path, path) == (2, f"tdxray: error: {path}:{line}: {why}\n", [])


def test_a_console_starting_with_an_ftrace_dump_is_a_console() -> None:
    head = (SHAPES / "6.12" / "console-sysrq-z.log").read_bytes().splitlines(keepends=True)
    dump = b"".join(head[4:6]).replace(b"us : ", b"us#: ")  # the mark of a long delta
    assert detect_source_format(dump, "capture") == "console"


def test_a_lost_marker_of_a_host_cpu_is_no_vcpu(tmp_path: Path) -> None:
    """A host trace's `CPU:7 [LOST 12 EVENTS]` on a two-vCPU TD: coverage says it, and no
    T004 (vCPU 7 is not in the TD) follows from a host CPU number."""
    path = tmp_path / "host.trace"
    path.write_text("CPU:7 [LOST 12 EVENTS]\n"
                    + (SHAPES / "6.12" / "trace").read_text().splitlines()[12] + "\n")
    assert ingest(tmp_path, path)[0] == 0
    res = CliRunner().invoke(cli, ["check", str(tmp_path / "store"), "--format", "json"])
    assert res.exit_code == 0, res.output
    [trace] = json.loads(res.stdout)["traces"]
    assert [(d["rule"], d["vcpu"], d["seq"]) for d in trace["divergences"]
            if d["rule"] != "T003" or "lost" in d["message"]] == [("T003", None, None)]


DMESG = SHAPES / "dmesg"  # kmsg.txt (the 6.12 syslog console's first 4 lines), rendered by
# util-linux 2.38's `dmesg -F kmsg.txt` with TZ=UTC and each of these options
WALL_S = 1_796_598_278  # 2026-12-06T23:04:38Z: -T and iso add the recording host's boot time


@pytest.mark.parametrize("name,times", [
    ("dmesg-x.log", (14_940_890_000, 16_909_315_000, 17_395_947_000)),  # `kern  :warn  : [ …]`
    ("dmesg-d.log", (14_940_890_000, 16_909_315_000, 17_395_947_000)),  # `[ … <  delta>]`
    ("dmesg-r.log", (14_940_890_000, 16_909_315_000, 17_395_947_000)),  # `<4>[ …]`
    ("dmesg-t.log", (0, 0, 0)),                                          # no time
    ("dmesg-x-t.log", (0, 0, 0)),                                        # `kern  :warn  : `
    ("dmesg-T.log", tuple((WALL_S + s) * 10**9 for s in (0, 2, 3))),     # ctime, seconds
    ("dmesg-iso.log", ((WALL_S + 0) * 10**9 + 940_890_000, (WALL_S + 2) * 10**9 + 909_315_000,
                       (WALL_S + 3) * 10**9 + 395_947_000)),             # --time-format iso
])
def test_dmesg_renderings_of_a_real_kernel_log(tmp_path: Path, name: str,
                                               times: tuple[int, int, int]) -> None:
    assert ingest(tmp_path, DMESG / name) == (0, "", [
        log(1, times[0], 1, "tdxray-harness: shape syslog begin"),
        event(2, times[1], 2, "kexec", phase="load"),
        log(3, times[2], 4, "tdxray-harness: shape end")])


@pytest.mark.parametrize("name", [
    "trace-cmd-report-l",        # -l: the CPU glued to latency flags, `0.....`, absolute time
    "trace-cmd-report-R",        # -R: raw fields, `__probe_ip=ffffffff8cc91204 image=0x…`
    "trace-cmd-report-ts-diff",  # --ts-diff: `(+871)` after the time, spaces on the first line
    "trace-cmd-report-N",        # -N: no plugins (the same lines for kprobes)
])
def test_trace_cmd_report_options(tmp_path: Path, name: str) -> None:
    """A later recording of the same script: trace-cmd 3.1.6's report options on one trace.dat
    (`trace-cmd record -e tdxray` in the guest)."""
    path = SHAPES / "6.12" / name
    assert detect_source_format(path.read_bytes(), "capture") == "ftrace-guest"
    assert ingest(tmp_path, path) == (0, "", loads((102_420_678_000, 0, 2)))


def test_the_stacktrace_option(tmp_path: Path) -> None:
    """stacktrace: a `<stack trace>` event after each event, its frames as ` => sym` lines
    (trace_stack_print()): a `kernel_stack` event each, the frames not kept."""
    stack = {"vcpu": 0, "kind": "kernel_stack", "extra": json.dumps({"fields": ""})}
    assert ingest(tmp_path, SHAPES / "6.12" / "trace-stacktrace") == (0, "", [
        *loads((121_787_107_000, 0, 13)),
        {"seq": 2, "ts_ns": 121_790_633_000, **stack, "line": 14},
        {"seq": 3, "ts_ns": 121_793_928_000, **stack, "line": 21}])


def test_the_verbose_latency_format_is_refused(tmp_path: Path) -> None:
    path = SHAPES / "6.12" / "trace-latency-verbose"
    assert ingest(tmp_path, path) == (
        2, f"tdxray: error: {path}:10: latency-format line: its time is microseconds since the "
        "buffer's start, not the trace clock (echo nolatency-format > trace_options)\n", [])


JOURNAL = SHAPES / "journalctl"  # kmsg.txt's records as journal entries (kmsg.export, made
# into a journal by systemd-journal-remote 252), rendered by journalctl 252 -k with TZ=UTC
MONO = (14_940_890_000, 16_909_315_000, 17_395_947_000)
WALL_US = tuple((WALL_S + s) * 10**9 + us for s, us in ((0, 940_890_000), (2, 909_315_000),
                                                         (3, 395_947_000)))


@pytest.mark.parametrize("output,times", [
    ("short-monotonic", MONO), ("short-delta", MONO),
    ("short-iso", tuple((WALL_S + s) * 10**9 for s in (0, 2, 3))),
    ("short-full", tuple((WALL_S + s) * 10**9 for s in (0, 2, 3))),
    ("short-iso-precise", WALL_US), ("short-unix", WALL_US)])
def test_journalctl_outputs(tmp_path: Path, output: str, times: tuple[int, int, int]) -> None:
    path = JOURNAL / f"journalctl-{output}.log"
    assert detect_source_format(path.read_bytes(), "capture") == "console"
    assert ingest(tmp_path, path) == (0, "", [
        log(1, times[0], 1, "tdxray-harness: shape syslog begin"),
        event(2, times[1], 2, "kexec", phase="load"),
        log(3, times[2], 4, "tdxray-harness: shape end")])


@pytest.mark.parametrize("output", ["short", "short-precise"])
def test_journalctl_short_has_no_year_and_is_refused(tmp_path: Path, output: str) -> None:
    """`Dec 06 23:04:40 td kernel: …`: no year, no zone; not a time to merge on."""
    path = JOURNAL / f"journalctl-{output}.log"
    assert ingest(tmp_path, path) == (
        2, f"tdxray: error: {path}:1: journalctl's short time has no year (and no time zone): "
        "export with journalctl -k -o short-monotonic (or short-iso-precise)\n", [])


def test_losses_survive_export_and_re_ingest(tmp_path: Path) -> None:
    """The losses are in the header: a JSONL export carries them (provenance.losses), and a
    store made from that export, or from the Parquet trace itself, has them again."""
    assert ingest(tmp_path, PIPE_LOST)[0] == 0
    first = losses(tmp_path)
    exported = tmp_path / "t.jsonl"
    res = CliRunner().invoke(cli, ["export", str(tmp_path / "store"), "-o", str(exported), "-q"])
    assert res.exit_code == 0, res.output
    assert json.loads(exported.read_text().splitlines()[0])["provenance"]["losses"] == [
        loss.to_json() for loss in first]
    for again, source in (("jsonl", exported), ("parquet", tmp_path / "store" / "t.parquet")):
        res = CliRunner().invoke(cli, ["ingest", str(source), "-o", str(tmp_path / again), "-q"])
        assert res.exit_code == 0, res.output
        assert losses_of(open_trace(tmp_path / again / "t.parquet").header) == first


def test_a_loss_follows_the_last_event_of_its_own_source(tmp_path: Path) -> None:
    """Merged with a console: the marker on line 4 comes after the trace's seq 2, though a
    console line (seq 3) lies between its neighbours in time; the console adds no loss."""
    console = tmp_path / "console.log"
    console.write_text("[  115.500000] between the two reads\n")
    code, err, events = ingest(tmp_path, PIPE_LOST, console)
    assert (code, err) == (0, "")
    assert [(e["seq"], e["kind"], e["line"]) for e in events] == [
        (1, "kmem_cache_alloc", 2), (2, "kmem_cache_alloc", 3), (3, "log", 1), (4, "kfree", 5),
        (5, "kmem_cache_free", 6)]
    assert [(x.source, x.line, x.after_seq) for x in losses(tmp_path)] == [
        (str(PIPE_LOST), 1, None), (str(PIPE_LOST), 4, 2)]


# printk.time=0 on a CONFIG_PRINTK_CALLER kernel: info_print_prefix() in kernel/printk/printk.c
# prints the syslog priority (console_msg_format=syslog), then `[%6s]` of `T<pid>`/`C<cpu>`, then
# a space. Debian's kernels are built without CONFIG_PRINTK_CALLER: the lines follow the source.
CALLER_NOTIME = (b"[    T0] Linux version 6.12.0 (builder@host) #1 SMP\r\n"
                 b"[  T145] kexec_load: (machine_kexec_prepare+0x4/0x740) "
                 b"image=0xff26417f81ba1c00\r\n"
                 b"[  T145] kexec_load_ret: (do_kexec_load+0x2a3/0x340 <- machine_kexec_prepare)"
                 b" ret=0\r\n"
                 b"<4>[    C1] stop_cpu: (stop_this_cpu+0x4/0xc0)\r\n"
                 b"[  T145] kexec_core: Starting new kernel\r\n")


def test_a_console_with_caller_ids_and_no_printk_time(tmp_path: Path) -> None:
    """The caller id is no text: the banner is the boot, the tp_printk lines are probe events, a
    `[    C1]` caller names the CPU; CRLF line ends (a serial capture) change nothing."""
    path = tmp_path / "serial.log"
    path.write_bytes(CALLER_NOTIME)
    assert ingest(tmp_path, path) == (0, "", [
        log(1, 0, 1, "Linux version 6.12.0 (builder@host) #1 SMP"),
        event(2, 0, 1, "kexec", phase="boot"),
        event(3, 0, 2, "kexec", phase="load"),
        event(4, 0, 4, "cpu", vcpu=1, apic_id=1, action="stopped"),
        log(5, 0, 5, "kexec_core: Starting new kernel"),
        event(6, 0, 5, "kexec", phase="shutdown")])


def test_a_capture_starting_at_a_caller_id_is_a_console() -> None:
    assert detect_source_format(CALLER_NOTIME.split(b"\r\n", 1)[1], "capture") == "console"
    assert detect_source_format(b"<4>" + CALLER_NOTIME.split(b"\r\n", 1)[1], "x") == "console"


GUEST = "           kexec-145     [001] .....     2.81782{}: {}\n"


def test_probe_arguments_in_the_kernels_default_type_are_read(tmp_path: Path) -> None:
    """A fetch arg without `:type` is u64, printed in decimal (DEFAULT_FETCH_TYPE in
    kernel/trace/trace_probe.h): the same MapGPA as with `:x64`."""
    path = tmp_path / "guest.trace"
    path.write_text(GUEST.format(0, "map_gpa: (tdx_map_gpa+0x4/0x1d0) start=4096 end=12288 enc=1")
                    + GUEST.format(1, "map_gpa_ret: (set_memory_decrypted+0x40/0x100 <- "
                                      "tdx_map_gpa) ret=1"))
    status, stderr, rows = ingest(tmp_path, path)
    assert (status, stderr) == (0, "")
    assert [(r["kind"], r["gpa"], r["size"], r["line"]) for r in rows] == [
        ("map_gpa", 0x1000, 0x2000, 2)]


def test_unnamed_probe_arguments_are_refused_with_the_definition_to_write(
        tmp_path: Path) -> None:
    """`p:tdxray/map_gpa tdx_map_gpa %di %si %dx` names its arguments arg1..arg3
    (generate_probe_arg_name() in kernel/trace/trace_probe.c): their meaning is unknown."""
    path = tmp_path / "guest.trace"
    path.write_text(GUEST.format(0, "map_gpa: (tdx_map_gpa+0x4/0x1d0) arg1=0x1000 arg2=0x3000 "
                                    "arg3=0x1"))
    assert ingest(tmp_path, path) == (2, (
        f"tdxray: error: {path}:1: map_gpa: expected arguments start, end, enc, got arg1=0x1000 "
        "arg2=0x3000 arg3=0x1; define the probe as `p:tdxray/map_gpa tdx_map_gpa start=%di:x64 "
        "end=%si:x64 enc=%dx:u8` (`tdxray probes` prints the set)\n"), [])


def exec_of(seq: int, ts: int, line: int, filename: str, pid: int) -> dict[str, Any]:
    # on CPU 1 in the recording: a guest's CPU column is the vCPU, unmodeled events too
    return {"seq": seq, "ts_ns": ts, "vcpu": 1, "kind": "sched_process_exec",
            "extra": json.dumps({"fields": f"filename={filename} pid={pid} old_pid={pid}"}),
            "line": line}


def test_trace_instances_read_to_their_own_events(tmp_path: Path) -> None:
    """instances/a and instances/b of a real 6.12 guest (tests/realkernel/shapes.sh): each
    buffer has its own tracing_on, so a (off for the first `kexec -l`) holds the second load
    only; b also records sched_process_exec, interleaved and kept as unmodeled events, one with
    the `<...>` comm of a task whose name was not saved and one with the need-resched flag."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert ingest(tmp_path / "a", SHAPES / "6.12" / "trace-instance-a") == (0, "", [
        event(1, 92_856_327_000, 13, "kexec", vcpu=1, phase="load")])
    assert ingest(tmp_path / "b", SHAPES / "6.12" / "trace-instance-b") == (0, "", [
        exec_of(1, 88_831_192_000, 13, "/usr/sbin/kexec", 259),
        event(2, 90_447_826_000, 14, "kexec", vcpu=1, phase="load"),
        exec_of(3, 91_143_057_000, 16, "/usr/sbin/kexec", 260),
        exec_of(4, 91_201_621_000, 17, "/usr/sbin/kexec", 261),
        event(5, 92_856_448_000, 18, "kexec", vcpu=1, phase="load"),
        exec_of(6, 93_646_582_000, 20, "/usr/sbin/kexec", 262),
        exec_of(7, 93_710_053_000, 21, "/proc/self/exe", 263),
        exec_of(8, 93_728_076_000, 22, "/proc/self/exe", 264)])


def test_cpu_numbers_past_nine_in_the_trace_and_on_the_console(tmp_path: Path) -> None:
    """A 16-vCPU guest: the trace's `[%03d]` CPU column names vCPUs 10 and 15; on the console
    (tp_printk names no CPU) the k-th AP to stop is vCPU k, past 9 too."""
    td = tmp_path / "td.json"
    td.write_text(json.dumps({"gpaw": 48, "apic_ids": list(range(16)),
                              "ram": [["0x0", "0x40000000"]], "memory": "accepted"}))
    trace = tmp_path / "guest.trace"
    trace.write_text("".join(
        f"          <idle>-0       [{cpu:03d}] d..1.     5.00000{i}: stop_cpu: "
        "(stop_this_cpu+0x4/0xc0)\n" for i, cpu in enumerate((10, 15))))
    console = tmp_path / "console.log"
    console.write_text("".join(f"[    5.{i:06d}] stop_cpu: (stop_this_cpu+0x4/0xc0)\n"
                               for i in range(1, 16)))
    for path, want in ((trace, [(10, 1), (15, 2)]), (console, [(k, k) for k in range(1, 16)])):
        store = tmp_path / path.stem
        res = CliRunner().invoke(cli, ["ingest", str(path), "-o", str(store), "--td", str(td),
                                       "--trace-id", "t", "-q"])
        assert (res.exit_code, res.stderr) == (0, "")
        rows = open_trace(store / "t.parquet").read().to_pylist()
        assert [(r["kind"], r["action"]) for r in rows] == [("cpu", "stopped")] * len(want)
        assert [(r["vcpu"], r["line"]) for r in rows] == want


@pytest.mark.parametrize("fields,why", [
    ("kvm_exit: vcpu 0 reason HLT rip 0x0",
     "kvm_exit: fields do not match the kernel's format `vcpu %u reason %s rip 0x%lx info1 "
     "0x%016llx info2 0x%016llx intr_info 0x%08x error_code 0x%08x[ requests 0x%016llx]`: keep "
     "the kernel's print format (not the raw/hex/bin trace options, nor trace-cmd report -R), "
     "or pass --skip-bad-lines"),
    ('kexec_load: (machine_kexec_prepare+0x4/0x740) image="vmlinuz"',
     "kexec_load: not a kprobe event line ((site) name=value …); define the probe as "
     "`p:tdxray/kexec_load machine_kexec_prepare image=%di:x64` (`tdxray probes` prints the "
     "set)"),
])
def test_a_line_off_the_kernels_format_says_what_to_change(tmp_path: Path, fields: str,
                                                          why: str) -> None:
    path = tmp_path / "t.trace"
    path.write_text(GUEST.format(0, fields))
    assert ingest(tmp_path, path) == (2, f"tdxray: error: {path}:1: {why}\n", [])


@pytest.mark.parametrize("ret", ["-95", "4294967201", "0xffffffa1", "18446744073709551521"])
def test_an_int_return_reads_the_same_in_any_fetch_type(tmp_path: Path, ret: str) -> None:
    """`ret=$retval` without `:s32` prints the u64 rax (`return -EOPNOTSUPP` leaves 0xffffffa1
    in it), `:x32` prints hex: each is acpi_wakeup_cpu's -EOPNOTSUPP (no mailbox: no write)."""
    path = tmp_path / "guest.trace"
    path.write_text(GUEST.format(0, "wakeup_cpu: (acpi_wakeup_cpu+0x4/0x100) apicid=1 "
                                    "start_ip=0x9a000")
                    + GUEST.format(1, f"wakeup_cpu_ret: (do_boot_cpu+0x1/0x2 <- acpi_wakeup_cpu) "
                                      f"ret={ret}")
                    + GUEST.format(2, "wakeup_cpu: (acpi_wakeup_cpu+0x4/0x100) apicid=1 "
                                      "start_ip=0x9a000")
                    + GUEST.format(3, "wakeup_cpu_ret: (do_boot_cpu+0x1/0x2 <- acpi_wakeup_cpu) "
                                      "ret=0"))
    status, stderr, rows = ingest(tmp_path, path)
    assert (status, stderr) == (0, "")
    assert [(r["kind"], r["field"], r["value"], r["line"]) for r in rows] == [
        ("mailbox_write", "apic_id", 1, 4), ("mailbox_write", "wakeup_vector", 0x9a000, 4),
        ("mailbox_write", "command", 1, 4), ("mailbox_read", "command", 0, 4)]


@pytest.mark.parametrize("ret,status", [("0", 1 << 63), ("0xffff8d8700000000", 1 << 63),
                                        ("0xffff8d8700000001", 0)])
def test_a_bool_return_is_its_low_byte(tmp_path: Path, ret: str, status: int) -> None:
    """`ret=$retval` without `:u8` prints all of rax; tdx_map_gpa returns a bool, whose bits
    above %al the ABI leaves undefined: false (INVALID_OPERAND) stays false."""
    path = tmp_path / "guest.trace"
    path.write_text(GUEST.format(0, "map_gpa: (tdx_map_gpa+0x4/0x1d0) start=0x1000 end=0x3000 "
                                    "enc=1")
                    + GUEST.format(1, "map_gpa_ret: (set_memory_decrypted+0x40/0x100 <- "
                                      f"tdx_map_gpa) ret={ret}"))
    status_, stderr, rows = ingest(tmp_path, path)
    assert (status_, stderr) == (0, "")
    assert [(r["kind"], r["status"], r["gpa"], r["size"]) for r in rows] == [
        ("map_gpa", status, 0x1000, 0x2000)]


def test_a_qemu_log_with_register_dumps(tmp_path: Path) -> None:
    """`-D F -d cpu_reset,guest_errors,unimp -msg timestamp=on -trace runstate_set` (QEMU 7.2,
    TCG, -smp 2, the Debian 6.12 kernel booted to its power-off): each vCPU reset writes `CPU
    Reset (CPU N)` (cpu_reset(), hw/core/cpu-common.c) and 27 lines of registers
    (x86_cpu_dump_state(), target/i386/cpu-dump.c), unstamped, before the first trace line:
    each is a log event, at the time of the line before. Before, the file was "cannot tell the
    format", and with --format qemu it was refused at line 1."""
    path = tmp_path / "d-log"  # no name hint: the first line says it
    path.write_bytes((QEMU / "qemu-d-cpu-reset.log").read_bytes())
    lines = path.read_text().splitlines()
    assert detect_source_format(path.read_bytes(), "d-log") == "qemu"
    status, err, rows = ingest(tmp_path, path)
    running, shutdown = 1_796_646_163_346_480_000, 1_796_646_174_198_452_000
    assert (status, err) == (0, "")
    assert [r["line"] for r in rows] == list(range(1, 171))
    assert [r["kind"] for r in rows if r["kind"] != "log"] == ["runstate_set"] * 2
    assert rows[112] == kept_qemu(113, running, "runstate_set", "current_run_state 6 "
                                  "(prelaunch) new_state 9 (running)")
    assert rows[169] == kept_qemu(170, shutdown, "runstate_set", "current_run_state 9 "
                                  "(running) new_state 11 (shutdown)")
    resets = [(r["line"], r["text"]) for r in rows if r.get("text", "").startswith("CPU Reset")]
    assert resets == [(1, "CPU Reset (CPU 0)"), (29, "CPU Reset (CPU 1)"),
                      (57, "CPU Reset (CPU 0)"), (85, "CPU Reset (CPU 1)"),
                      (114, "CPU Reset (CPU 1)"), (142, "CPU Reset (CPU 1)")]
    assert rows[1] == log(2, 0, 2, "EAX=00000000 EBX=00000000 ECX=00000000 EDX=00000000")
    assert rows[114] == log(115, running, 115, lines[114])  # after a stamp: at its time
    assert [r["text"] for r in rows if r["kind"] == "log"] == [
        ln for ln in lines if "runstate_set" not in ln]


GUEST_ERRORS = ["Invalid read at addr 0xFEB00000, size 4, region '(null)', reason: rejected",
                "Invalid write at addr 0xFEB00004, size 1, region '(null)', reason: rejected",
                "Invalid read at addr 0xFED40000, size 4, region '(null)', reason: rejected"]


def test_a_qemu_log_with_guest_errors(tmp_path: Path) -> None:
    """`-D F -d cpu_reset,guest_errors,unimp -msg timestamp=on -trace runstate_set` (QEMU 7.2,
    TCG, -smp 2, the Debian 6.12 kernel, whose /init ran busybox `devmem` on unassigned MMIO:
    reads of 0xfeb00000 and 0xfed40000, a byte write of 0xfeb00004): memory_region_access_valid()
    logs each refused access, unstamped (`Invalid read at addr …, size N, region '…', reason:
    rejected`). Each is a log event at the time of the line before. Before, the file was refused
    at its line 170 ("not a QEMU trace line")."""
    path = tmp_path / "d-log"
    path.write_bytes((QEMU / "qemu-d-guest-errors.log").read_bytes())
    status, err, rows = ingest(tmp_path, path)
    running = 1_796_653_298_118_091_000
    assert (status, err) == (0, "")
    assert [r["line"] for r in rows] == list(range(1, 174))
    assert [r["kind"] for r in rows if r["kind"] != "log"] == ["runstate_set"] * 2
    assert rows[169:172] == [log(170 + i, running, 170 + i, text)
                             for i, text in enumerate(GUEST_ERRORS)]
    assert rows[172] == kept_qemu(173, 1_796_653_300_882_870_000, "runstate_set",
                                  "current_run_state 9 (running) new_state 11 (shutdown)")


def test_a_qemu_log_that_starts_with_guest_errors(tmp_path: Path) -> None:
    """`-D F -d guest_errors` alone: the file holds only refused accesses (the first three of
    the recording's lines), so nothing but them says it is QEMU's."""
    path = tmp_path / "d-log"
    path.write_text("".join(f"{text}\n" for text in GUEST_ERRORS))
    assert detect_source_format(path.read_bytes(), "d-log") == "qemu"
    assert ingest(tmp_path, path) == (0, "", [log(i + 1, 0, i + 1, text)
                                              for i, text in enumerate(GUEST_ERRORS)])


@pytest.mark.parametrize("bad", [
    "Invalid read at addr 0xfeb00000, size 4, region '(null)', reason: rejected\n",
    "Invalid read at addr 0xFEB00000, size 4, region '(null)', reason: lost\n",
    "Invalid read at addr 0xFEB00000, size 4, region '(null)'\n"])
def test_a_garbled_guest_error_is_a_bad_line(tmp_path: Path, bad: str) -> None:
    """Only memory_region_access_valid()'s shapes (HWADDR_PRIX: upper-case hex; the reasons
    rejected, unaligned, invalid size) are guest errors; anything else stays a bad line."""
    path = tmp_path / "d.qemu.log"
    path.write_text(GUEST_ERRORS[0] + "\n" + bad)
    status, err, _ = ingest(tmp_path, path)
    assert status == 2 and f"{path}:2: not a QEMU trace line" in err, err


@pytest.mark.parametrize("bad", ["CPU Reset (CPU 0\n", "eax=00000000\n", "EAX\n"])
def test_a_garbled_register_dump_line_is_a_bad_line(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "d.qemu.log"
    path.write_text("CPU Reset (CPU 0)\nEAX=00000000 EBX=00000000\n" + bad)
    status, err, _ = ingest(tmp_path, path)
    assert status == 2 and f"{path}:3: not a QEMU trace line" in err, err
