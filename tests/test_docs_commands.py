"""Every shell command of the user docs (README.md, docs/*.md) runs as written.

The convention the docs follow:
- a ```sh block holds commands; each is run, in the order of the doc, in one temporary directory
  per doc that holds what a reader would have (the bundled samples, a store of them, a `traces/`
  directory of them in a git checkout);
- the `run:` steps and `script:` lines of a ```yaml workflow are commands too;
- a block a test cannot run (a real guest, a terminal, the network) has the line
  `<!-- not run by the docs test: WHY -->` right before it; each such block is listed below with
  the reason, so that a new exception is a decision made here;
- a usage synopsis is a ```text block; any other block with a `tdxray` command line is a mistake.

A command passes when it exits 0, or 1 for `tdxray check` (divergences found, as the faulty
samples have), and prints no traceback.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from junitparser import JUnitXml

from tdxray.cli.main import cli
from tdxray.tests.schemas import check_jsonl_record, check_report, check_sarif

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
USER_DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARKER = re.compile(r"<!-- not run by the docs test: (.+?) -->\n$")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
TRACES = ("unfixed-kernel", "kdump", "smp-v1-kexec")  # the samples in traces/

# (doc, first line of the block) -> why it is not run
NOT_RUN = {
    ("README.md", "make demo"): "make test runs this suite; make demo builds a venv",
    ("README.md", "tdxray tui"): "interactive (tests/test_tui.py drives the TUI); real sources",
    ("sql.md", "tdxray sql --store"): "the interactive prompt needs a terminal",
    ("real-guests.md", "qemu-system-x86_64"): "a TD boot: the real-kernel harness does it",
    ("real-guests.md", "tdxray probes"): "its second line runs in the guest",
    ("real-guests.md", "kexec -l"): "runs in the guest (tests/test_docs_real_guests.py)",
    ("real-guests.md", "tdxray ingest console.log"): "a real guest's console and trace buffer",
    ("real-guests.md", "trace-cmd record"): "a TDX host with trace-cmd",
    ("real-guests.md", "trace-cmd report"): "a TDX host's recordings",
    ("fleet.md", "dask scheduler --host 127.0.0.1 --port 8786 --no-dashboard &"):
        "an S3 server and a Dask cluster: tests/test_docs_fleet.py runs these as written",
}
# workflow lines that install tdxray from the network (the suite runs the tdxray it tests)
NOT_RUN_LINE = re.compile(r'^pip install "tdxray @ git\+https://')


@dataclass(frozen=True)
class Block:
    doc: str
    line: int
    lang: str
    body: str
    skip_reason: str | None

    @property
    def first(self) -> str:
        return self.body.splitlines()[0] if self.body else ""


def blocks(doc: Path) -> list[Block]:
    text = doc.read_text(encoding="utf-8")
    out = []
    for m in FENCE.finditer(text):
        before = text[:m.start()]
        marker = MARKER.search(before)
        out.append(Block(doc.name, before.count("\n") + 1, m.group(1), m.group(2),
                         marker.group(1) if marker else None))
    return out


def joined(body: str) -> list[str]:
    """Command lines of a shell block: continuations joined, blank lines dropped."""
    return [c.strip() for c in body.replace("\\\n", " ").splitlines() if c.strip()]


def yaml_commands(body: str) -> list[str]:
    found = re.findall(r"^\s*(?:run: |- (?!uses:|name:)(?=\S+ ))(.+)$", body, re.M)
    return [c for c in found if not NOT_RUN_LINE.match(c)]


def commands(doc: Path) -> list[str]:
    out: list[str] = []
    for block in blocks(doc):
        if block.skip_reason is not None:
            continue
        if block.lang == "sh":
            out.extend(joined(block.body))
        elif block.lang == "yaml":
            out.extend(yaml_commands(block.body))
    return out


def _listed_as(block: Block) -> tuple[str, str]:
    """The NOT_RUN key of a marked block (its doc and the start of its first line)."""
    keys = [(doc, start) for doc, start in NOT_RUN
            if doc == block.doc and block.first.startswith(start)]
    return keys[0] if keys else (block.doc, block.first)


def test_every_unrun_block_is_listed_with_its_reason() -> None:
    marked = [b for doc in USER_DOCS for b in blocks(doc) if b.skip_reason is not None]
    assert sorted(_listed_as(b) for b in marked) == sorted(NOT_RUN)


def test_no_command_hides_in_an_untagged_block() -> None:
    hidden = [f"{b.doc}:{b.line}" for doc in USER_DOCS for b in blocks(doc)
              if b.lang not in ("sh", "yaml", "text") and b.skip_reason is None
              and re.search(r"^(\$ )?tdxray ", b.body, re.M)]
    assert hidden == []


@pytest.fixture(scope="module")
def reader_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What a reader has: the samples, demo-store (all of them ingested), traces/ in a git
    checkout, docs/jsonl-format.md's example saved as it says."""
    root = tmp_path_factory.mktemp("reader")
    shutil.copytree(ROOT / "sample_traces", root / "sample_traces")
    (root / "traces").mkdir()
    for name in TRACES:
        shutil.copy(ROOT / "sample_traces" / f"{name}.jsonl", root / "traces")
    for sample in sorted((root / "sample_traces").glob("*.jsonl")):
        res = CliRunner().invoke(cli, ["ingest", str(sample), "-o", str(root / "demo-store"),
                                       "-q"])
        assert res.exit_code == 0, res.output
    (example,) = [b.body for b in blocks(ROOT / "docs" / "jsonl-format.md") if b.lang == "jsonl"]
    (root / "my-first-trace.jsonl").write_text(example)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def allowed(command: str, status: int) -> bool:
    return status == 0 or (status == 1 and command.startswith("tdxray check")
                           and "--write-baseline" not in command)


DOCS_WITH_COMMANDS = [doc for doc in USER_DOCS if commands(doc)]


@pytest.mark.parametrize("doc", DOCS_WITH_COMMANDS, ids=[d.name for d in DOCS_WITH_COMMANDS])
def test_doc_commands_run_as_written(doc: Path, reader_dir: Path, tmp_path: Path) -> None:
    if any(c.split()[0] == "jq" or "| jq" in c for c in commands(doc)) and not shutil.which("jq"):
        if os.environ.get("CI"):
            pytest.fail("jq is missing (.ci/run installs it)")
        pytest.skip("needs jq (apt-get install jq)")
    cwd = tmp_path / "reader"
    shutil.copytree(reader_dir, cwd, symlinks=True)
    env = {k: v for k, v in os.environ.items()
           if k not in ("GITHUB_STEP_SUMMARY", "TDXRAY_STORE")}
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    failed = []
    for command in commands(doc):
        res = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=cwd, env=env,
                             stdin=subprocess.DEVNULL, capture_output=True, text=True,
                             timeout=120)
        if not allowed(command, res.returncode) or "Traceback" in res.stderr:
            failed.append(f"{command}\n  exit {res.returncode}: {res.stderr.strip()[-500:]}")
        elif not re.search(r"[|>]| -o ", command):
            check_printed(command, res.stdout)
    assert failed == []
    check_written(cwd)


def check_printed(command: str, out: str) -> None:
    """A report a command prints is valid for its schema (the suite checks every one)."""
    if re.search(r"--format json\b", command):
        check_report(json.loads(out))
    elif re.match(r"tdxray check .*--format jsonl\b", command):
        for line in out.splitlines():
            check_jsonl_record(json.loads(line))
    elif "--format sarif" in command:
        check_sarif(json.loads(out))


def check_written(cwd: Path) -> None:
    """The reports the commands wrote into files are valid too."""
    for sarif in cwd.glob("*.sarif"):
        check_sarif(json.loads(sarif.read_text()))
    for path in cwd.glob("*.json"):
        doc = json.loads(path.read_text())
        if isinstance(doc, dict) and "verdict" in doc and "traces" in doc:
            check_report(doc)
    for junit in cwd.glob("*junit*.xml"):
        assert [case.name for suite in JUnitXml.fromfile(str(junit)) for case in suite]
