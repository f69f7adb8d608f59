"""The headless core imports and runs without Textual (the TUI sits on top of it)."""

from __future__ import annotations

import subprocess
import sys

HEADLESS = ("tdxray.schema", "tdxray.ingest", "tdxray.model", "tdxray.analyses", "tdxray.store",
            "tdxray.simulator", "tdxray.analyses.state_at", "tdxray.analyses.page_history",
            "tdxray.model.replay", "tdxray.ingest.materialize", "tdxray.cli.main")


def test_headless_packages_do_not_import_textual() -> None:
    code = "\n".join([
        "import importlib, sys",
        *(f"importlib.import_module({name!r})" for name in HEADLESS),
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))",
        "assert not bad, bad",
        "print('ok')",
    ])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
