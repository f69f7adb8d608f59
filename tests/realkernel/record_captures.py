"""Record a console the way a user captures one, on a real kernel with many vCPUs (by hand).

    .venv/bin/python -m tests.realkernel.record_captures 6.12 OUT_DIR [VCPUS]

boots the kernel under QEMU (tdxray.mode=wide: place the probes, kexec -l on CPU 13 with
trace_marker lines around it, dump the buffer to serial 1, kexec -e from CPU 11) with serial 0
on QEMU's stdio, run under util-linux `script` (OUT_DIR/script.log: its header, the tty's line
ends, its footer) whose output also goes through moreutils `ts` (OUT_DIR/ts.log, a wall-clock
stamp before each line). Serial 1 is OUT_DIR/trace.log. The fixtures under
tests/data/real/captures/ are cut from such a recording; the suite never boots this.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.realkernel import initramfs, kernels, qemu

TS_FORMAT = "%b %d %H:%M:%.S"  # moreutils ts's own default is "%b %d %H:%M:%S"


def main(series: str, out: Path, vcpus: int) -> None:
    kern = kernels.kernel(series)
    out.mkdir(parents=True, exist_ok=True)
    image = initramfs.build(kern, out / "build")
    vm = ["qemu-system-x86_64", "-accel", "tcg", "-cpu", "max", "-smp", str(vcpus), "-m", "1G",
          "-nodefaults", "-display", "none", "-no-reboot", "-kernel", str(kern.vmlinuz),
          "-initrd", str(image), "-append",
          f"{qemu.APPEND} tdxray.mode=wide printk.devkmsg=on", "-serial", "stdio",
          "-serial", f"file:{out / 'trace.log'}"]
    for tool in ("script", "ts"):
        if shutil.which(tool) is None:
            raise kernels.Missing(f"{tool} is not installed (util-linux, moreutils)")
    start = time.monotonic()
    with (out / "ts.log").open("wb") as stamped:
        script = subprocess.Popen(["script", "-q", "-e", "-c", shlex.join(vm),
                                   str(out / "script.log")], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE)
        ts = subprocess.run(["ts", TS_FORMAT], stdin=script.stdout, stdout=stamped, check=True)
        script.wait(qemu.TIMEOUT_S)
    print(f"{time.monotonic() - start:.1f} s; script exit {script.returncode}, ts {ts.returncode}")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 16)
