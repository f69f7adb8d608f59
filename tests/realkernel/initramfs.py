"""A busybox initramfs: busybox-static, kexec (with its libraries), the probes and /init.

The image for the first kernel also carries the kernel and a copy of the small image (as
/initrd.img) for the kexec'd or capture kernel, whose /init only says it is up.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from tdxray.ingest.kprobe.recipe import INSTRUMENTED, kprobe_events_text
from tdxray.ingest.kprobe.script import probe_script
from tests.realkernel.kernels import Kernel, Missing

INIT = Path(__file__).with_name("init.sh")
TOOLS = {"busybox": ("/bin/busybox", "busybox-static"), "kexec": ("/usr/sbin/kexec", "kexec-tools"),
         "cpio": ("/usr/bin/cpio", "cpio")}


def tool(name: str) -> str:
    path, package = TOOLS[name]
    found = shutil.which(name) or (path if Path(path).exists() else None)
    if found is None:
        raise Missing(f"{name} is not installed (apt-get install {package})")
    return found


def build(kern: Kernel, work: Path) -> Path:
    """The first kernel's initramfs (uncompressed newc cpio), built under `work`."""
    root = work / "root"
    shutil.rmtree(root, ignore_errors=True)
    _tree(root)
    small = work / "small.cpio"
    _cpio(root, small)
    shutil.copy(small, root / "initrd.img")
    shutil.copy(kern.vmlinuz, root / "vmlinuz")
    image = work / "initramfs.cpio"
    _cpio(root, image)
    return image


def _tree(root: Path) -> None:
    busybox = tool("busybox")
    if _libraries(busybox):
        raise Missing(f"{busybox} is not static (apt-get install busybox-static)")
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "lib64"):
        (root / d).mkdir(parents=True, exist_ok=True)
    shutil.copy(busybox, root / "bin/busybox")
    for applet in ("sh", "mount", "cat", "grep", "sed", "head", "poweroff", "echo", "sleep",
                   "taskset", "timeout", "devmem"):
        (root / "bin" / applet).symlink_to("busybox")
    kexec = tool("kexec")
    shutil.copy(kexec, root / "usr/sbin/kexec")
    for lib in _libraries(kexec):
        dest = root / lib.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(lib, dest)
    shutil.copy(INIT, root / "init")
    (root / "init").chmod(0o755)
    (root / "probes.sh").write_text(probe_script())
    (root / "probes.txt").write_text(kprobe_events_text())
    (root / "unprobeable.txt").write_text("".join(f"{p.line()}\n" for p in INSTRUMENTED))


def _libraries(binary: str) -> list[str]:
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=False).stdout
    return re.findall(r"(/\S+) \(0x", out)


def _cpio(root: Path, out: Path) -> None:
    names = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    with out.open("wb") as fh:
        subprocess.run([tool("cpio"), "-o", "-H", "newc", "--quiet"], cwd=root, check=True,
                       input="\n".join(names).encode() + b"\n", stdout=fh)
