"""`tdxray probes --script` run by busybox sh against a tracefs stand-in (the real kernel's
answers are in tests/test_real_kernel.py): what it writes, skips, warns and records."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from tdxray.cli.main import cli
from tdxray.ingest.kprobe.recipe import RECIPE, UNPROBEABLE
from tdxray.ingest.kprobe.script import probe_script

BUSYBOX = shutil.which("busybox") or "/bin/busybox"


def busybox() -> str:
    if not Path(BUSYBOX).exists():
        if os.environ.get("CI"):
            pytest.fail("busybox is missing (apt-get install busybox-static)")
        pytest.skip("busybox is missing (apt-get install busybox-static)")
    return BUSYBOX


def tracefs(tmp: Path, functions: list[str], cmdline: str, printk: str) -> dict[str, str]:
    t, proc = tmp / "tracing", tmp / "proc"
    (t / "events" / "tdxray").mkdir(parents=True)
    (proc / "sys" / "kernel").mkdir(parents=True)
    for name in ("kprobe_events", "error_log", "tracing_on", "trace_clock", "events/tdxray/enable"):
        (t / name).write_text("")
    (t / "available_filter_functions").write_text(
        "".join(f"{f}\n" if i % 2 else f"{f} [vmlinux]\n" for i, f in enumerate(functions)))
    (proc / "cmdline").write_text(cmdline + "\n")
    (proc / "sys" / "kernel" / "printk").write_text(printk + "\n")
    (proc / "sys" / "kernel" / "tracepoint_printk").write_text("1\n")
    (tmp / "kmsg").write_text("")
    return {"TRACEFS": str(t), "TDXRAY_PROC": str(proc), "TDXRAY_KMSG": str(tmp / "kmsg"),
            "PATH": os.environ["PATH"]}


def run(tmp: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = tmp / "probes.sh"
    script.write_text(probe_script())
    return subprocess.run([busybox(), "sh", str(script)], env=env, capture_output=True,
                          text=True, timeout=60, check=False)


def test_places_each_line_alone_skips_missing_functions_and_warns(tmp_path: Path) -> None:
    functions = [p.symbol for p in RECIPE if p.symbol != "tdx_kexec_begin"]
    env = tracefs(tmp_path, functions, "console=ttyS0 quiet", "4 4 1 7")
    done = run(tmp_path, env)
    assert done.returncode == 0, done.stdout + done.stderr
    written = (tmp_path / "tracing" / "kprobe_events").read_text().splitlines()
    assert written == [p.line() for p in RECIPE if p.symbol != "tdx_kexec_begin"]
    out = done.stdout.splitlines()
    assert ("tdxray-probes: missing tdx_kexec_begin: not in available_filter_functions (not "
            "built in, inlined or notrace): kexec_begin skipped; the trace will not see the end "
            "of conversions (kexec begin)") in out
    assert any(line.startswith("tdxray-probes: warning: tp_printk is not on the kernel command "
                               "line") for line in out)
    assert any(line.startswith("tdxray-probes: warning: console loglevel 4 hides the events")
               for line in out)
    summary = (f"tdxray-probes: placed {len(RECIPE) - 1} of {len(RECIPE)} probes "
               "(1 missing, 0 refused)")
    assert summary in out
    kmsg = (tmp_path / "kmsg").read_text().splitlines()
    assert kmsg[0] == summary
    assert kmsg[1] == "tdxray-probes: not seen: the end of conversions (kexec begin)"
    assert all(symbol in kmsg[2] for symbol in UNPROBEABLE)
    assert (tmp_path / "tracing" / "events" / "tdxray" / "enable").read_text() == "1\n"
    assert (tmp_path / "tracing" / "trace_clock").read_text() == "global\n"


def test_no_warning_when_the_console_shows_the_events(tmp_path: Path) -> None:
    env = tracefs(tmp_path, [p.symbol for p in RECIPE], "console=ttyS0 tp_printk loglevel=8",
                  "8 4 1 7")
    done = run(tmp_path, env)
    assert done.returncode == 0
    assert "warning" not in done.stdout
    assert f"placed {len(RECIPE)} of {len(RECIPE)} probes (0 missing, 0 refused)" in done.stdout


def test_a_refused_line_is_reported_and_the_others_still_placed(tmp_path: Path) -> None:
    env = tracefs(tmp_path, [p.symbol for p in RECIPE], "tp_printk", "8 4 1 7")
    events = tmp_path / "tracing" / "kprobe_events"
    events.unlink()
    events.mkdir()  # writable, yet every write fails, as a refused line does
    done = run(tmp_path, env)
    assert done.returncode == 1
    first = RECIPE[0]
    assert (f"tdxray-probes: refused {first.event}: the write failed (no error_log): "
            f"{first.line()}") in done.stdout.splitlines()
    assert f"placed 0 of {len(RECIPE)} probes (0 missing, {len(RECIPE)} refused)" in done.stdout


def test_no_tracefs_is_one_clear_error(tmp_path: Path) -> None:
    env = {"TRACEFS": str(tmp_path / "nope"), "PATH": os.environ["PATH"]}
    done = run(tmp_path, env)
    assert done.returncode == 1
    assert done.stdout.startswith(
        f"tdxray-probes: error: no writable {tmp_path}/nope/kprobe_events")


def test_cli_prints_the_script() -> None:
    result = CliRunner().invoke(cli, ["probes", "--script"])
    assert result.exit_code == 0
    assert result.output == probe_script()
    assert result.output.startswith("#!/bin/sh\n")
