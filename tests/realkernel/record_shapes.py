"""Record the trace-file, trace_pipe, trace-cmd and console shapes of a real kernel (by hand).

    .venv/bin/python -m tests.realkernel.record_shapes 6.12 OUT_DIR [shapes|tcmd]

boots the kernel under QEMU with tests/realkernel/shapes.sh (tdxray.mode=shapes) and writes
OUT_DIR/console.log (serial 0) and OUT_DIR/<shape>.trace for each `@@@ shape NAME` section of
serial 1. The fixtures under tests/data/real/shapes/ are cut from such a recording; the suite
never boots this (it reads the fixtures).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from tests.realkernel import initramfs, kernels, qemu

SHAPES = Path(__file__).with_name("shapes.sh")
TCMD = Path(__file__).with_name("tcmd.sh")


def image(kern: kernels.Kernel, work: Path) -> Path:
    """The harness's image, with the kernel in both images (the second kernel loads it too),
    shapes.sh, and trace-cmd with its libraries when the host has it."""
    root = work / "root"
    shutil.rmtree(root, ignore_errors=True)
    initramfs._tree(root)
    shutil.copy(SHAPES, root / "shapes.sh")
    shutil.copy(TCMD, root / "tcmd.sh")
    shutil.copy(kern.vmlinuz, root / "vmlinuz")
    trace_cmd = shutil.which("trace-cmd")
    if trace_cmd:
        shutil.copy(trace_cmd, root / "usr/bin/trace-cmd")
        for lib in initramfs._libraries(trace_cmd):
            dest = root / lib.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(lib, dest)
    small = work / "small.cpio"
    initramfs._cpio(root, small)
    shutil.copy(small, root / "initrd.img")
    out = work / "initramfs.cpio"
    initramfs._cpio(root, out)
    return out


def split(trace: Path, out: Path) -> list[str]:
    names, current = [], None
    for line in trace.read_bytes().splitlines(keepends=True):
        if line.startswith(b"@@@ shape "):
            name = line[10:].strip().decode()
            current = None if name == "end" else (out / f"{name}.trace").open("wb")
            names.append(name)
            continue
        if current is not None:  # the guest's tty turned each \n into \r\n (ONLCR)
            current.write(line.replace(b"\r\n", b"\n"))
    return names


def main(series: str, out: Path, mode: str = "shapes") -> None:
    kern = kernels.kernel(series)
    run = qemu.boot(kern.vmlinuz, image(kern, out / "build"), out,
                    f"tdxray.mode={mode} printk.devkmsg=on", memory="1G")
    print(f"{run.seconds:.1f} s; shapes: {' '.join(split(run.trace, out))}")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), *sys.argv[3:4])
