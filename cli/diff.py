"""`tdxray diff A B`: two traces of one workload, phase by phase; exit 1 when B is worse."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from tdxray.analyses.diff.run import diff
from tdxray.analyses.diff.text import render_markdown, render_text
from tdxray.analyses.diff.to_json import diff_json
from tdxray.analyses.escape import escape_lines
from tdxray.schema.errors import InputError
from tdxray.store.atomic import atomic_path

FORMATS = ("text", "json", "markdown")


@click.command("diff")
@click.argument("a")
@click.argument("b")
@click.option("--trace-a", help="The trace of A when A is a store holding several.")
@click.option("--trace-b", help="The trace of B when B is a store holding several.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the diff here (atomically) instead of stdout.")
def command(a: str, b: str, trace_a: str | None, trace_b: str | None, fmt: str,
            output: Path | None) -> None:
    """Compare trace A (e.g. kernel before a patch) with trace B (after) phase by phase, per
    generation: boot, I/O, kexec shutdown, jump. Per phase: divergences only in one, MapGPA
    and ACCEPT counts, pages and ranges only in one, the page-state map at the phase's start,
    the mailbox and CPU sequences, and how long it took. A and B are anything `check` takes
    (JSONL or text trace, Parquet trace, store or text directory with --trace-a/--trace-b,
    s3://).

    Exit status 1 when B has a divergence (above info) that A lacks, 0 otherwise, 2 when a
    trace cannot be read.
    """
    result = diff(a, b, trace_a, trace_b)
    if fmt == "json":
        text = json.dumps(diff_json(result), indent=2) + "\n"
    elif fmt == "markdown":
        text = render_markdown(result)
    else:
        text = render_text(result)
    if output is None:
        sys.stdout.write(escape_lines(text) if sys.stdout.isatty() else text)
    else:
        try:
            with atomic_path(output) as tmp:
                tmp.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot write the diff: {exc.strerror or exc}",
                             str(output)) from None
    sys.exit(result.exit_status)
