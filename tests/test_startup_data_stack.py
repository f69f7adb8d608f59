"""`tdxray --help` and `tdxray rules` start without the data stack: no pyarrow, numpy, DuckDB,
Polars, Dask or Textual is imported (pyarrow and numpy alone cost 0.3-1 s before anything is
printed). tests/test_startup.py covers a small check (no Textual, numba, Polars, DuckDB)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("pyarrow", "numpy", "duckdb", "polars", "dask", "distributed", "pandas", "textual")

# Runs the real command group, then prints what it printed and which heavy packages it loaded.
RUN = """
import contextlib, io, json, sys
{pre}
out = io.StringIO()
code = 0
with contextlib.redirect_stdout(out):
    from tdxray.cli.main import cli  # main() itself ends the process (cli/failures.exit_now)
    try:
        cli({args!r}, prog_name="tdxray")
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


def test_check_help_imports_no_data_stack() -> None:
    """`check --help` needs only its option choices (analyses/choices), not the check path."""
    result = _run("check", "--help")
    assert result["code"] == 0
    assert "--fail-on [fatal|error|warning]" in str(result["out"])
    assert result["loaded"] == []


def test_a_small_check_imports_no_textual_polars_or_dask() -> None:
    sample = Path(__file__).resolve().parent.parent / "sample_traces" / "retry-skip.jsonl"
    result = _run("check", "-q", "--format", "json", str(sample))
    assert result["code"] in (0, 1)
    assert json.loads(str(result["out"]))["traces"][0]["trace_id"]
    loaded = {name.split(".")[0] for name in result["loaded"]}  # type: ignore[attr-defined]
    assert loaded.isdisjoint({"textual", "polars", "dask", "distributed", "pandas", "duckdb"})
    assert "pyarrow" in loaded  # the probe sees what the replay needs


def test_the_check_choices_are_the_formats_and_levels() -> None:
    from tdxray.analyses.choices import FAIL_ON_LEVELS, FORMAT_NAMES, WANT_LINES
    from tdxray.analyses.formats import FORMATS

    assert tuple(FORMATS) == FORMAT_NAMES
    assert set(FORMAT_NAMES) >= WANT_LINES
    assert FAIL_ON_LEVELS == ("fatal", "error", "warning")
