"""The harness's VM runs, each booted once per test session and shared by the xdist workers.

A run is a directory with `console.log` (serial 0) and `trace.log` (the trace buffer dumped
before the jump, serial 1). The first worker to need it boots it under a file lock; the others
wait and read the same files. Whatever is missing raises `Missing`, naming what to install.
"""

from __future__ import annotations

import fcntl
from dataclasses import dataclass
from pathlib import Path

from tests.realkernel import initramfs, kernels, qemu

# printk.devkmsg=on: the harness's /dev/kmsg lines are not rate-limited away.
RUNS = {
    "6.12-kexec": ("6.12", "tdxray.mode=kexec printk.devkmsg=on"),
    "6.12-kdump": ("6.12", "tdxray.mode=kdump crashkernel=160M printk.devkmsg=on"),
    "6.1-place": ("6.1", "tdxray.mode=place printk.devkmsg=on"),
}


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
            run = qemu.boot(kern.vmlinuz, image, out, append)
            done.write_text(run.command + "\n")
    return Capture(name, kern, out / "console.log", out / "trace.log", done.read_text().strip())
