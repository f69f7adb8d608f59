"""Record QEMU's `-d guest_errors` lines from a real guest (by hand).

    .venv/bin/python -m tests.realkernel.record_guest_errors OUT_DIR

boots the 6.12 kernel under QEMU (tdxray.mode=devmem: /init reads and writes unassigned MMIO with
busybox devmem) with `-D OUT_DIR/qemu-d.log -d cpu_reset,guest_errors,unimp -msg timestamp=on
-trace runstate_set`. The fixture tests/data/real/shapes/qemu-7.2/qemu-d-guest-errors.log is such
a log, whole; the suite never boots this.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.realkernel import initramfs, kernels, qemu


def main(out: Path) -> None:
    kern = kernels.kernel("6.12")
    log = out / "qemu-d.log"
    run = qemu.boot(kern.vmlinuz, initramfs.build(kern, out / "build"), out, "tdxray.mode=devmem",
                    extra=["-D", str(log), "-d", "cpu_reset,guest_errors,unimp",
                           "-msg", "timestamp=on", "-trace", "runstate_set"])
    print(f"{run.seconds:.1f} s: {run.command}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
