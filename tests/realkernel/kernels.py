"""Debian cloud kernels, downloaded once with `apt-get download` and kept in a cache directory.

The package is found through its meta-package (`linux-image-6.12-cloud-amd64` depends on
`linux-image-6.12.N+deb12-cloud-amd64`; the `-unsigned` one has the same vmlinuz, unsigned).
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

META = {"6.12": "linux-image-6.12-cloud-amd64", "6.1": "linux-image-cloud-amd64"}


class Missing(Exception):
    """A piece the harness needs is not on this machine: the message says what to install."""


@dataclass(frozen=True)
class Kernel:
    package: str
    vmlinuz: Path
    config: Path

    def option(self, name: str) -> str | None:
        m = re.search(rf"^{name}=(.*)$", self.config.read_text(), re.MULTILINE)
        return m[1] if m else None


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "tdxray" / "kernels"
    return Path(os.environ.get("TDXRAY_KERNEL_CACHE", default))


def package_of(series: str) -> str:
    """The exact unsigned image package the meta-package of `series` points at."""
    try:
        out = subprocess.run(["apt-cache", "depends", META[series]], capture_output=True,
                             text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise Missing(f"apt-cache cannot resolve {META[series]}: {exc}") from None
    m = re.search(r"Depends: (linux-image-\S+-cloud-amd64)$", out, re.MULTILINE)
    if m is None:
        raise Missing(f"{META[series]} has no image dependency (apt-get update?)")
    return m[1] + "-unsigned"


def kernel(series: str) -> Kernel:
    """The kernel of `series` ("6.12", "6.1"), downloaded and extracted on first use."""
    root = cache_dir()
    cached = sorted(root.glob(f"linux-image-{series}[.-]*-unsigned/boot/vmlinuz-*"))
    if cached:
        return _found(cached[-1].parent.parent)
    package = package_of(series)
    target = root / package
    debs = root / "deb"
    debs.mkdir(parents=True, exist_ok=True)
    if not list(debs.glob(f"{package}_*.deb")):
        _run(["apt-get", "download", package], debs, f"apt-get download {package}")
    deb = next(debs.glob(f"{package}_*.deb"))
    partial = root / f".{package}.partial"
    _run(["rm", "-rf", str(partial)], root, "rm")
    _run(["dpkg-deb", "-x", str(deb), str(partial)], root, "dpkg-deb -x")
    partial.rename(target)
    return _found(target)


def _found(top: Path) -> Kernel:
    boot = top / "boot"
    return Kernel(top.name, next(boot.glob("vmlinuz-*")), next(boot.glob("config-*")))


def _run(cmd: list[str], cwd: Path, what: str) -> None:
    try:
        subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True)
    except OSError as exc:
        raise Missing(f"{what}: {exc.strerror}") from None
    except subprocess.CalledProcessError as exc:
        raise Missing(f"{what} failed: {exc.stderr.strip()[-300:]}") from None
