"""A real kernel: Debian's cloud kernels booted under QEMU (TCG) with a busybox initramfs.

The initramfs runs `tdxray probes --script`, then a real `kexec -l`/`-e` into a second kernel,
or a real kdump (`crashkernel=`, `kexec -p`, sysrq `c`); the serial console and the trace buffer
dumped before the jump are what tdxray reads. No TDX hardware is needed to place the probes (the
TDX guest code is built in); the tdx_* probes are placed but do not fire under QEMU.
Needs qemu-system-x86, busybox-static, kexec-tools, cpio and the kernel packages (fetched with
`apt-get download` into ~/.cache/tdxray/kernels): in CI a missing one fails, locally it skips.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from tdxray.cli.main import cli
from tdxray.ingest.kprobe.recipe import INSTRUMENTED, PROBE_BY_EVENT, RECIPE
from tdxray.store.read import open_trace
from tests.realkernel import runs
from tests.realkernel.kernels import Missing

EVENT = re.compile(r"^\[\s*\d+\.\d+\] (\w+): \((\S+?)(?: <- (\S+))?\)(.*)$")
N = len(RECIPE)
TD = Path(__file__).parent / "data" / "real" / "qemu" / "td.json"  # qemu.boot: -smp 2 -m 1G
TD_V1 = TD.with_name("td-v1.json")  # the same TD with a v1 MADT mailbox, as a real TD has


@pytest.fixture(scope="session")
def run_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This session's runs: xdist workers share their session's directory (the parent of
    theirs); a run without xdist keeps its own (never another session's captures)."""
    base = tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "realkernel"


def capture(name: str, root: Path) -> runs.Capture:
    try:
        return runs.capture(name, root)
    except Missing as missing:
        if os.environ.get("CI"):
            pytest.fail(f"real-kernel harness: {missing}")
        pytest.skip(f"real-kernel harness: {missing}")


@pytest.fixture(scope="session")
def kexec612(run_root: Path) -> runs.Capture:
    return capture("6.12-kexec", run_root)


@pytest.fixture(scope="session")
def kdump612(run_root: Path) -> runs.Capture:
    return capture("6.12-kdump", run_root)


@pytest.fixture(scope="session")
def place61(run_root: Path) -> runs.Capture:
    return capture("6.1-place", run_root)


STAMP = re.compile(r"^\[\s*\d+\.\d+\] ")


def lines(path: Path) -> list[str]:
    return path.read_bytes().decode("utf-8", "replace").replace("\r", "").splitlines()


def said(path: Path) -> list[str]:
    """The kernel-log records without their stamps (the harness writes through /dev/kmsg)."""
    return [STAMP.sub("", line, count=1) for line in lines(path)]


def events(path: Path) -> list[str]:
    """The tdxray probe events printed on the console (tp_printk), by name, in order."""
    return [m[1] for line in lines(path) if (m := EVENT.match(line)) and m[1] in PROBE_BY_EVENT]


def harness(path: Path, prefix: str = "tdxray-") -> list[str]:
    return [line for line in said(path) if line.startswith(prefix)]


def test_every_recipe_line_places_on_612_alone_and_in_one_write(kexec612: runs.Capture) -> None:
    said = harness(kexec612.console)
    assert f"tdxray-harness: single write placed {N} of {N}" in said
    assert f"tdxray-probes: placed {N} of {N} probes (0 missing, 0 refused)" in said
    assert not [line for line in said
                if line.startswith(("tdxray-probes: missing ", "tdxray-probes: refused "))]
    assert "tdxray-harness: script exit 0" in said
    assert not [line for line in said if "warning" in line]  # tp_printk and loglevel=8 are on


def test_the_kernel_refuses_what_the_recipe_leaves_out(kexec612: runs.Capture) -> None:
    refused = {line.split()[2].rstrip(":"): line.split(": ", 2)[2]
               for line in harness(kexec612.console, "tdxray-harness: refused ")}
    assert refused == {
        "p:tdxray/mapgpa_call": "Failed to register probe event",      # __tdx_hypercall: noinstr
        "r:tdxray/mapgpa_call_ret": "Failed to register probe event",
        "p:tdxray/accept_call": "Failed to register probe event",      # __tdcall: noinstr
        "r:tdxray/accept_call_ret": "This function returns 'void' type",
        "p:tdxray/cr4": "Failed to register probe event",              # native_write_cr4: notrace
        "p:tdxray/start_secondary": "Failed to register probe event",  # notrace
    }
    assert {f"{'r' if p.ret else 'p'}:tdxray/{p.event}" for p in INSTRUMENTED} == set(refused)


def test_a_real_kexec_prints_its_events_on_the_console(kexec612: runs.Capture) -> None:
    assert events(kexec612.console) == ["kexec_load", "kexec_load_ret", "kernel_kexec",
                                        "stop_cpu", "machine_kexec"]
    said = lines(kexec612.console)
    starting = next(i for i, line in enumerate(said)
                    if line.endswith("] kexec_core: Starting new kernel"))
    banners = [i for i, line in enumerate(said) if "] Linux version 6.12." in line]
    assert len(banners) == 2 and banners[0] < starting < banners[1]
    assert "tdxray-harness: second kernel up" in harness(kexec612.console)
    # Before the jump, trace_pipe's readers still run: the buffer has the same first events.
    assert [m[1] for line in lines(kexec612.trace) if (m := re.search(r": (\w+): \(", line))] == [
        "kexec_load", "kexec_load_ret"]


def test_a_real_kdump_prints_the_crash_and_the_jump(kdump612: runs.Capture) -> None:
    assert events(kdump612.console) == ["kexec_load", "kexec_load_ret", "crash_kexec",
                                        "machine_kexec"]
    log = said(kdump612.console)
    assert "tdxray-harness: kexec -p exit 0" in log
    assert "Kernel panic - not syncing: sysrq triggered crash" in log
    assert "tdxray-harness: capture kernel up" in log


def test_61_says_which_functions_are_missing_and_what_goes_unseen(place61: runs.Capture) -> None:
    assert place61.kernel.option("CONFIG_INTEL_TDX_GUEST") is None
    probes = harness(place61.console, "tdxray-probes: ")
    missing = [line.split()[2].rstrip(":") for line in probes
               if line.startswith("tdxray-probes: missing ")]
    assert missing == ["tdx_map_gpa", "tdx_map_gpa", "tdx_accept_memory", "tdx_accept_memory",
                       "acpi_mp_cpu_die", "acpi_mp_cpu_die", "acpi_mp_play_dead",
                       "acpi_mp_stop_this_cpu", "tdx_kexec_begin", "tdx_kexec_finish"]
    assert f"tdxray-probes: placed {N - 10} of {N} probes (10 missing, 0 refused)" in probes
    assert "tdxray-harness: script exit 0" in said(place61.console)


def typed_events(capture: runs.Capture, tmp_path: Path) -> list[tuple[str, str]]:
    store = tmp_path / "store"
    result = CliRunner().invoke(cli, ["ingest", str(capture.console), str(capture.trace),
                                      "-o", str(store), "--trace-id", "real", "--td", str(TD)])
    assert result.exit_code == 0, result.output
    rows = open_trace(store / "real.parquet").read().to_pylist()
    return [(r["kind"], r["phase"] or r["action"], Path(r["source"]).name) for r in rows
            if r["kind"] != "log"]


def test_the_live_kexec_reads_as_five_typed_events_after_boot(kexec612: runs.Capture,
                                                              tmp_path: Path) -> None:
    assert typed_events(kexec612, tmp_path) == [
        ("kexec", "boot", "console.log"), ("kexec", "load", "trace.log"),
        ("kexec", "shutdown", "console.log"), ("cpu", "stopped", "console.log"),
        ("kexec", "jump", "console.log"), ("kexec", "boot", "console.log")]
    result = CliRunner().invoke(cli, ["check", str(tmp_path / "store")])
    assert result.exit_code == 0, result.output
    # QEMU has no MADT mailbox: the AP stops in kernel code, lost on a TD so configured.
    assert result.output.count("WARNING M008 cpu-not-parked") == 1
    assert "0 fatal, 0 errors, 1 warning" in result.output


def test_the_live_kdump_reads_as_crash_and_jump(kdump612: runs.Capture, tmp_path: Path) -> None:
    assert typed_events(kdump612, tmp_path) == [
        ("kexec", "boot", "console.log"), ("kexec", "load", "trace.log"),
        ("kexec", "crash", "console.log"), ("kexec", "jump", "console.log"),
        ("kexec", "boot", "console.log")]


def test_a_short_capture_is_booted_again_not_read(tmp_path: Path) -> None:
    """runs.shortfall: what makes the harness boot a run once more (then fail, naming it)."""
    console, trace = tmp_path / "console.log", tmp_path / "trace.log"
    console.write_bytes(b"[    7.7] tdxray-harness: trace dumped 2 lines\r\n")
    trace.write_bytes(b"# tracer: nop\r\n")
    assert runs.shortfall("6.12-kdump", console, trace) == (
        "the console has no 'tdxray-harness: capture kernel up' line")
    with console.open("ab") as fh:
        fh.write(b"[    7.3] tdxray-harness: capture kernel up\r\n")
    assert runs.shortfall("6.12-kdump", console, trace) == (
        "trace.log has 1 of the 2 lines the guest dumped")
    trace.write_bytes(b"# tracer: nop\r\n\r\n  kexec-145 [000] ...\r\n")
    assert runs.shortfall("6.12-kdump", console, trace) is None


def test_the_live_kexec_replays_clean_on_a_v1_mailbox_td(kexec612: runs.Capture,
                                                         tmp_path: Path) -> None:
    """Done when: nothing above info on a TD with a v1 mailbox (the AP parks), and coverage
    says what a distro guest cannot show instead of reporting it clean."""
    store, report = tmp_path / "store", tmp_path / "r.json"
    runner = CliRunner()
    result = runner.invoke(cli, ["ingest", str(kexec612.console), str(kexec612.trace), "-o",
                                 str(store), "--trace-id", "real", "--td", str(TD_V1), "-q"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["check", str(store), "--format", "json", "-o", str(report)])
    assert result.exit_code == 0, result.output
    [checked] = json.loads(report.read_text())["traces"]
    assert [d["rule"] for d in checked["divergences"] if d["severity"] != "info"] == []
    assert {s["rule"]: s["why"].split(":")[0] for s in checked["rules_skipped"]} == {
        "K006": "no MapGPA RETRY events", "G001": "no MapGPA RETRY events",
        "G002": "no MapGPA RETRY events", "G006": "no TDX status of an ACCEPT",
        "C001": "no cr4_write events",
        "C002": "no cr4_write events", "A001": "no mem_access events",
        "A002": "no mem_access events", "A003": "no mem_access events"}
