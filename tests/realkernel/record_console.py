"""Record the harness's kexec run with more on the kernel command line (by hand).

    .venv/bin/python -m tests.realkernel.record_console 6.12 OUT_DIR 'earlyprintk=ttyS0,keep'

boots the kernel under QEMU (tdxray.mode=kexec, -smp 2) with the extra arguments and writes
OUT_DIR/console.log (serial 0) and OUT_DIR/trace.log (serial 1). The fixture
tests/data/real/shapes/6.12/console-earlyprintk-keep.log is such a console, whole; the suite
never boots this.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.realkernel import initramfs, kernels, qemu


def main(series: str, out: Path, extra: str) -> None:
    kern = kernels.kernel(series)
    run = qemu.boot(kern.vmlinuz, initramfs.build(kern, out / "build"), out,
                    f"{extra} tdxray.mode=kexec")
    print(f"{run.seconds:.1f} s: {run.command}")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), sys.argv[3])
