"""`tdxray report TRACE… -o report.html`: one self-contained HTML report to share."""

from __future__ import annotations

from pathlib import Path

import click

from tdxray.ingest.materialize import trace_file_for
from tdxray.schema.errors import InputError
from tdxray.store.atomic import atomic_path


@click.command("report")
@click.argument("traces", nargs=-1, required=True, metavar="TRACE...")
@click.option("--trace", "trace_id", metavar="ID", help="In a store directory, only this trace.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The HTML file to write (atomically).")
def command(traces: tuple[str, ...], trace_id: str | None, output: Path) -> None:
    """Replay each TRACE and write one self-contained HTML file: the verdict, the divergences
    with their causes and the events around them, the memory map at each jump, shared pages
    over time, conversion latency, per-vCPU mailbox and CPU timelines, coverage. No network:
    plots are inline SVG, nothing is fetched. TRACE is anything `check` takes (JSONL or text
    trace, Parquet trace, store: all its traces or --trace, text directory, s3://)."""
    from tdxray.report.page import report_html

    refs = [ref for arg in traces for ref in trace_file_for(arg, trace_id, allow_many=True)]
    page = report_html(refs)
    try:
        with atomic_path(output) as tmp:
            tmp.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write the report: {exc.strerror or exc}", str(output)) from None
    click.echo(f"tdxray: report written to {output} ({len(page.encode()) // 1024} KiB)", err=True)
