"""Boot a kernel under QEMU (TCG): serial 0 is the console, serial 1 the trace-buffer dump."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.realkernel.kernels import Missing

TIMEOUT_S = 300  # a safety net for a loaded machine; a boot takes ~20 s on 2 free cores
APPEND = "console=ttyS0 tp_printk loglevel=8 panic=-1"  # what docs/real-guests.md says


@dataclass(frozen=True)
class Run:
    console: Path
    trace: Path
    seconds: float
    command: str


def boot(vmlinuz: Path, initrd: Path, out: Path, append: str, memory: str = "1G",
         extra: Sequence[str] = ()) -> Run:
    """One VM run until the guest powers off (or TIMEOUT_S: then a failure naming the logs)."""
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is None:
        raise Missing("qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)")
    out.mkdir(parents=True, exist_ok=True)
    console, trace = out / "console.log", out / "trace.log"
    cmd = [qemu, "-accel", "tcg", "-cpu", "max", "-smp", "2", "-m", memory, "-nodefaults",
           "-display", "none", "-no-reboot", "-kernel", str(vmlinuz), "-initrd", str(initrd),
           "-append", f"{APPEND} {append}", "-serial", f"file:{console}",
           "-serial", f"file:{trace}", *extra]
    start = time.monotonic()
    try:
        subprocess.run(cmd, check=True, timeout=TIMEOUT_S, capture_output=True)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"QEMU did not power off within {TIMEOUT_S} s: {console}") from None
    except subprocess.CalledProcessError as exc:
        raise AssertionError(f"QEMU failed ({exc.returncode}): {exc.stderr.decode()[-500:]}") \
            from None
    return Run(console, trace, time.monotonic() - start, shlex.join(cmd))
