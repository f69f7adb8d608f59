"""`tdxray replay` of a stored trace imports only what a replay uses: not dateutil (pyarrow
infers the type of a list of Python strings with it, ~5 ms of imports; tdxray names the type
instead)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from tdxray.cli.main import cli

SAMPLE = Path(__file__).parent.parent / "sample_traces" / "kdump.jsonl"

CODE = """
import sys
from tdxray.cli.main import cli
try:
    cli.main(args=["replay", sys.argv[1], "-o", sys.argv[2], "-q"], prog_name="tdxray")
except SystemExit:
    pass
print(sorted(m for m in sys.modules if m.split(".")[0] in ("dateutil", "six")))
"""


def test_a_replay_does_not_import_dateutil(tmp_path: Path) -> None:
    ingested = CliRunner().invoke(cli, ["ingest", str(SAMPLE), "-o", str(tmp_path / "store")])
    assert ingested.exit_code == 0, ingested.output
    out = subprocess.run([sys.executable, "-c", CODE, str(tmp_path / "store"),
                          str(tmp_path / "out")],
                         capture_output=True, text=True, check=True)
    assert (tmp_path / "out" / "page_history.parquet").exists(), out.stderr
    assert out.stdout == "[]\n"
