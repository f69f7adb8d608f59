"""The wheel ships what an installed tdxray needs: every package and data file of the source
tree (a package missing from pyproject's list works in a checkout and breaks `pip install`),
py.typed (type checkers read the hints) and the `tdxray` command.

Built once, offline, from a copy of the checkout (nothing is written into it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOT_SHIPPED = ("tests/", "docs/", ".ci/")  # of the tree's folders
BUILD_NEEDS = (77, 0)  # setuptools version of pyproject's [build-system]


def source_tree() -> list[str]:
    """The checkout's files, tracked or new (what .gitignore ignores aside)."""
    res = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    return [name for name in res.stdout.splitlines() if (ROOT / name).is_file()]


def _setuptools_version() -> tuple[int, ...]:
    try:
        import setuptools
    except ImportError:
        return (0,)
    return tuple(int(part) for part in setuptools.__version__.split(".")[:2])


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    if _setuptools_version() < BUILD_NEEDS:
        if os.environ.get("CI"):
            pytest.fail("setuptools>=77 is missing (pip install -e '.[dev]' installs it)")
        pytest.skip("needs setuptools>=77 (pip install -e '.[dev]')")
    root = tmp_path_factory.mktemp("wheel")
    for name in source_tree():
        if not name.startswith(NOT_SHIPPED):
            (root / "src" / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, root / "src" / name)
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                          "--no-build-isolation", "--no-index", "-w", str(root / "out"),
                          str(root / "src")], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    (built,) = (root / "out").glob("tdxray-*.whl")
    return zipfile.ZipFile(built)


def shipped_files() -> list[str]:
    """Every file of the source tree an installed tdxray needs, as the wheel names it: the
    modules and data in the package folders, the top-level modules, py.typed."""
    return sorted(f"tdxray/{name}" for name in source_tree()
                  if not name.startswith(NOT_SHIPPED)
                  and ("/" in name or name.endswith(".py") or name == "py.typed"))


def test_wheel_holds_every_package_and_data_file(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    missing = [name for name in shipped_files() if name not in names]
    assert missing == []
    assert "tdxray/analyses/formats/report.schema.json" in names  # tdxray check --schema
    assert not [n for n in names if n.startswith("tdxray/tests/")]


def test_wheel_is_typed_and_has_the_command(wheel: zipfile.ZipFile) -> None:
    assert wheel.read("tdxray/py.typed") == (ROOT / "py.typed").read_bytes()
    (entry_points,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    assert "tdxray = tdxray.cli.main:main" in wheel.read(entry_points).decode()
