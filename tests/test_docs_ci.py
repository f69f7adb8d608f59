"""The user docs of the CI gate and the trace format run as written: docs/jsonl-format.md's
example, docs/report-format.md's commands; no user doc points at a file users do not have."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tdxray.schema.events import KIND_FIELDS
from tdxray.tests.schemas import check_report

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
BIN = Path(sys.executable).parent
USER_DOCS = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


def blocks(doc: Path, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", doc.read_text(), re.S)


def shell(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a documented command line with this venv's tdxray first on PATH."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def needs(tool: str) -> None:
    if shutil.which(tool) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is missing (.ci/run installs it)")
        pytest.skip(f"needs {tool} (apt-get install {tool})")


def test_no_user_doc_cites_the_internal_spec() -> None:
    cited = [f"{doc.name}: {m}" for doc in USER_DOCS
             for m in re.findall(r"(?:FORMATS|TDX-KEXEC)\.md", doc.read_text())]
    assert cited == []


def test_jsonl_doc_example_checks_as_described(tmp_path: Path) -> None:
    doc = DOCS / "jsonl-format.md"
    (example,) = blocks(doc, "jsonl")
    (tmp_path / "my-first-trace.jsonl").write_text(example)
    (command,) = [c.strip() for c in blocks(doc, "sh") if "my-first-trace" in c]
    assert command == "tdxray check my-first-trace.jsonl"
    res = shell(command, tmp_path)
    assert res.returncode == 1, res.stderr
    assert "K001 leaked-shared-memory" in res.stdout and "K004 kexec-finish-missing" in res.stdout
    assert "[0x100000, 0x102000) 2 pages · seq 3" in res.stdout
    assert "caused by seq 2" in res.stdout
    doc_json = json.loads(shell(f"{command} --format json", tmp_path).stdout)
    found = {d["rule"] for d in doc_json["traces"][0]["divergences"] if d["severity"] != "info"}
    assert found == {"K001", "K004"}


def test_jsonl_doc_lists_every_event_kind_and_field() -> None:
    text = (DOCS / "jsonl-format.md").read_text()
    table = {m[0]: m[1] for m in re.findall(r"^\| `(\w+)` \| (.*) \|$", text, re.M)}
    for kind, (required, optional) in KIND_FIELDS.items():
        assert kind in table, kind
        for name in (*required, *optional):
            assert f"`{name}`" in table[kind], f"{kind}.{name}"


def test_report_doc_commands_run_as_written(tmp_path: Path) -> None:
    needs("jq")
    doc = DOCS / "report-format.md"
    shutil.copytree(ROOT / "sample_traces", tmp_path / "sample_traces")
    commands = [line for block in blocks(doc, "sh") for line in block.splitlines() if line]
    assert len(commands) == 3
    schema = shell(commands[0], tmp_path)
    assert schema.returncode == 0 and json.loads(
        (tmp_path / "tdxray-report.schema.json").read_text())["title"].startswith("tdxray")
    summary = shell(commands[1], tmp_path)
    assert json.loads(summary.stdout)["fatal"] == 1
    fatal = shell(commands[2], tmp_path)
    assert fatal.stdout.startswith("sample-unfixed-kernel C001 sample_traces/unfixed-kernel.jsonl:")


def test_report_doc_python_example_validates(tmp_path: Path) -> None:
    doc = DOCS / "report-format.md"
    (code,) = blocks(doc, "python")
    report = shell(f"tdxray check {ROOT / 'sample_traces' / 'kdump.jsonl'} --format json "
                   "-o report.json", tmp_path)
    assert report.returncode in (0, 1), report.stderr
    check_report(json.loads((tmp_path / "report.json").read_text()))  # made in a subprocess
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
