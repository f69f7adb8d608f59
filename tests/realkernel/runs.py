"""The harness's VM runs, each booted once per test session and shared by the xdist workers.

A run is a directory with `console.log` (serial 0) and `trace.log` (the trace buffer dumped
before the jump, serial 1). The first worker to need it boots it under a file lock; the others
wait and read the same files. Whatever is missing raises `Missing`, naming what to install.

A run is checked before it is used: its console must end with the harness's last line for its
mode and trace.log must hold every line the guest said it dumped. A run that falls short (a
loaded machine once gave an empty kdump capture) is booted once more, then is a failure that
says what was missing, never a test reading half a capture.
"""

from __future__ import annotations

import fcntl
import re
from dataclasses import dataclass
from pathlib import Path

from tests.realkernel import initramfs, kernels, qemu

# printk.devkmsg=on: the harness's /dev/kmsg lines are not rate-limited away.
RUNS = {
    "6.12-kexec": ("6.12", "tdxray.mode=kexec printk.devkmsg=on"),
    "6.12-kdump": ("6.12", "tdxray.mode=kdump crashkernel=160M printk.devkmsg=on"),
    "6.1-place": ("6.1", "tdxray.mode=place printk.devkmsg=on"),
}
LAST_LINE = {"6.12-kexec": "second kernel up", "6.12-kdump": "capture kernel up",
             "6.1-place": "script exit"}
DUMPED = re.compile(r"tdxray-harness: trace dumped (\d+) lines")
BOOTS = 2


@dataclass(frozen=True)
class Capture:
    name: str
    kernel: kernels.Kernel
    console: Path
    trace: Path
    command: str


def capture(name: str, root: Path) -> Capture:
    """The run `name`, booted under `root` on first use (root: shared by the session's workers)."""
    series, append = RUNS[name]
    kern = kernels.kernel(series)
    out = root / name
    out.mkdir(parents=True, exist_ok=True)
    with (root / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = out / "command"
        if not done.exists():
            image = initramfs.build(kern, out / "build")
            why = None
            for boot in range(1, BOOTS + 1):
                run = qemu.boot(kern.vmlinuz, image, out, append)
                (out / "seconds").write_text(f"{run.seconds:.1f} (boot {boot})\n")
                why = shortfall(name, run.console, run.trace)
                if why is None:
                    break
            if why is not None:
                raise AssertionError(f"{name}: {why} after {BOOTS} boots ({out})")
            done.write_text(run.command + "\n")
    return Capture(name, kern, out / "console.log", out / "trace.log", done.read_text().strip())


def shortfall(name: str, console: Path, trace: Path) -> str | None:
    """What a finished run lacks (None: complete)."""
    text = console.read_bytes().decode("utf-8", "replace")
    last = f"tdxray-harness: {LAST_LINE[name]}"
    if last not in text:
        return f"the console has no {last!r} line"
    said = DUMPED.search(text)
    if said is not None:
        got = sum(1 for line in trace.read_bytes().splitlines() if line.strip(b"\r"))
        if got != int(said[1]):
            return f"trace.log has {got} of the {said[1]} lines the guest dumped"
    return None
