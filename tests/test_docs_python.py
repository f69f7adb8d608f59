"""docs/python.md runs as written: each ```python block, in order, in one namespace, in a
directory holding demo-store (the 16 samples ingested) and sample_traces/; where an output
block follows, the block's last expression prints exactly that (its repr), or raises the
exception the output names (`module.Error: message`)."""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner

from tdxray.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "python.md"
STEP = re.compile(r"```python\n(.*?)```\n(?:```\n(.*?)```\n)?", re.S)
RAISED = re.compile(r"^([\w.]+(?:Error|Exception)): (.*)$", re.S)


def steps() -> list[tuple[str, str | None]]:
    return [(m.group(1), m.group(2)) for m in STEP.finditer(DOC.read_text(encoding="utf-8"))]


def run_step(code: str, ns: dict[str, Any]) -> str:
    """Execute code; the repr of its last expression ('' when it ends with a statement)."""
    tree = ast.parse(code)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    exec(compile(tree, str(DOC), "exec"), ns)
    if last is None:
        return ""
    return repr(eval(compile(ast.Expression(last.value), str(DOC), "eval"), ns))


def shown(code: str, ns: dict[str, Any], want: str) -> str:
    """What the step shows: its output, or `module.Error: message` when want names one."""
    if RAISED.match(want.strip()) is None:
        return run_step(code, ns)
    try:
        run_step(code, ns)
    except Exception as exc:  # the doc shows which one; compared below
        kind = type(exc)
        return f"{kind.__module__}.{kind.__qualname__}: {exc}"
    return "(nothing raised)"


@pytest.fixture
def reader_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "sample_traces", tmp_path / "sample_traces")
    for sample in sorted((tmp_path / "sample_traces").glob("*.jsonl")):
        res = CliRunner().invoke(cli, ["ingest", str(sample), "-o",
                                       str(tmp_path / "demo-store"), "-q"])
        assert res.exit_code == 0, res.output
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_python_doc_runs_and_prints_what_it_says(reader_dir: Path) -> None:
    ns: dict[str, Any] = {"__name__": "docs_python"}
    compared = 0
    try:
        for code, want in steps():
            if want is None:
                run_step(code, ns)
                continue
            assert shown(code, ns, want).strip() == want.strip(), code
            compared += 1
    finally:
        pl.Config.restore_defaults()
        store = ns.get("store")
        if store is not None:
            store.close()
    assert compared >= 10
