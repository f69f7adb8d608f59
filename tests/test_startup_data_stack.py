"""`tdxray --help` and `tdxray rules` start without the data stack: no pyarrow, numpy, DuckDB,
Polars, Dask or Textual is imported (pyarrow and numpy alone cost 0.3-1 s before anything is
printed). tests/test_startup.py covers a small check (no Textual, numba, Polars, DuckDB)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("pyarrow", "numpy", "duckdb", "polars", "dask", "distributed", "pandas", "textual")

# Runs the real entry point, then prints what it printed and which heavy packages it loaded.
RUN = """
import contextlib, io, json, sys
{pre}
out = io.StringIO()
code = 0
with contextlib.redirect_stdout(out):
    from tdxray.cli.main import main
    sys.argv = ["tdxray", *{args!r}]
    try:
        main()
    except SystemExit as exc:
        code = exc.code or 0
heavy = {heavy!r}
loaded = sorted(m for m in sys.modules if m.split(".")[0] in heavy)
print(json.dumps({{"code": code, "out": out.getvalue(), "loaded": loaded}}))
"""


def _run(*args: str, pre: str = "") -> dict[str, object]:
    code = RUN.format(args=list(args), heavy=HEAVY, pre=pre)
    proc = subprocess.run([sys.executable, "-c", code],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, object] = json.loads(proc.stdout.splitlines()[-1])
    return result


@pytest.mark.parametrize(("args", "shown"), [
    (("--help",), "Replay a trace against the TDX kexec model"),
    (("rules",), "leaked-shared-memory"),
    (("rules", "K001"), "enc_kexec_finish"),
    (("--version",), "tdxray, version"),
])
def test_light_commands_do_not_import_the_data_stack(args: tuple[str, ...], shown: str) -> None:
    result = _run(*args)
    assert result["code"] == 0
    assert shown in str(result["out"])
    assert result["loaded"] == []


def test_the_probe_sees_a_heavy_import() -> None:
    """The check above can fail: numpy loaded before the command is reported."""
    result = _run("--help", pre="import numpy")
    assert result["code"] == 0
    loaded = result["loaded"]
    assert isinstance(loaded, list)
    assert "numpy" in loaded
