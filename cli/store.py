"""`tdxray store list|compact|check STORE`: the manifest of a store of many traces."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from typing import Any

import click

from tdxray.analyses.escape import escape_control
from tdxray.store.fs import is_url
from tdxray.store.leftovers import (
    DEFAULT_AGE,
    Temporary,
    remove,
    scratch_temporaries,
    store_temporaries,
)
from tdxray.store.manifest import (
    MANIFEST_DIR,
    ManifestDir,
    file_row,
    header_row,
    trace_sizes,
)
from tdxray.store.read import open_trace

COLUMNS = ("trace_id", "events", "size", "kernel_version", "td_config_hash", "ingested_at",
           "replayed")


@click.group("store")
def command() -> None:
    """The manifest of STORE (a directory or s3://bucket/prefix): one row per trace with its
    source files, size, events, kernel version (console banner), TD config hash, ingest time
    and replay stamp, kept as small Parquet parts under STORE/_manifest/."""


def _rows(store: str) -> list[dict[str, Any]]:
    return ManifestDir(store).read().to_pylist()


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value is not None else "-"


def _replayed(stamp: str | None) -> str:
    return "yes" if stamp else "no"


@command.command("list")
@click.argument("store")
@click.option("--json", "as_json", is_flag=True, help="One JSON document (a list of rows).")
def list_(store: str, as_json: bool) -> None:
    """One line per trace of STORE's manifest."""
    rows = _rows(store)
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    table = [[str(r["trace_id"]), f"{r['events'] or 0:,}", f"{r['size'] or 0:,}",
              r["kernel_version"] or "-", r["td_config_hash"] or "-", _when(r["ingested_at"]),
              _replayed(r["replay_stamp"])] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in table)) for i, c in enumerate(COLUMNS)]
    for row in [list(COLUMNS), *table]:
        click.echo(escape_control("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True))
                                  .rstrip()))
    click.echo(f"{len(rows)} traces", err=True)


def _unlisted_rows(store: str) -> list[dict[str, Any]]:
    """Manifest rows for trace files the manifest does not list (a store from before manifests),
    from each file's header: its ingest provenance gives the sources and the time; and the
    header of a listed trace whose rows lack it (written before headers were kept)."""
    from tdxray.ingest.materialize import trace_file_for

    listed = {r["trace_id"]: r for r in _rows(store)}
    rows = []
    for tid, size in trace_sizes(store).items():
        if tid in listed and listed[tid]["header"] is not None:
            continue
        (ref,) = trace_file_for(f"{store.rstrip('/')}/{tid}.parquet", results=False)
        trace = open_trace(ref.path)
        rows.append(header_row(trace, tid) if tid in listed else file_row(trace, tid, size))
    return rows


@command.command("compact")
@click.argument("store")
def compact(store: str) -> None:
    """Merge the manifest's parts into one (the latest value of every column per trace); trace
    files the manifest does not list yet are added from their headers."""
    ManifestDir(store).append(_unlisted_rows(store))
    parts, traces = ManifestDir(store).compact()
    if parts <= 1:
        click.echo(f"tdxray: {store}: manifest already compact ({parts} part, {traces} traces)",
                   err=True)
        return
    click.echo(f"tdxray: {store}: {parts} manifest parts compacted into 1 ({traces} traces)",
               err=True)


def findings(store: str) -> list[str]:
    """What is wrong between the store's trace files and its manifest, one line each."""
    files = trace_sizes(store)
    rows = {r["trace_id"]: r for r in _rows(store)}
    out = [f"{tid}: trace file not in the manifest (tdxray store compact adds it)"
           for tid in files if tid not in rows]
    out += [f"{tid}: in the manifest, no trace file" for tid in rows if tid not in files]
    out += [f"{tid}: size {files[tid]:,} bytes, the manifest says {rows[tid]['size']:,}"
            for tid in files if tid in rows and rows[tid]["size"] not in (None, files[tid])]
    return out


def leftovers(store: str, older_than: float) -> list[Temporary]:
    """Temporaries of killed runs: in the store, and, for a local store, tdxray's temporary
    directories on this machine (store/leftovers.py)."""
    now = time.time()
    found = store_temporaries(store) + ([] if is_url(store) else scratch_temporaries())
    return [t for t in found if t.leftover(older_than, now)]


@command.command("check")
@click.argument("store")
@click.option("--clean", is_flag=True,
              help="Remove the leftover temporaries found (never a live run's).")
@click.option("--older-than", "older_than", type=click.IntRange(min=0), default=DEFAULT_AGE,
              show_default=True, metavar="SECONDS",
              help="Age from which a temporary whose owner cannot be checked (no pid in its "
                   "name, an s3:// store) counts as a leftover.")
def check(store: str, clean: bool, older_than: int) -> None:
    """Compare STORE's trace files with its manifest and look for leftover temporaries: those
    of killed runs in the store and, for a local store, in this machine's temporary directory.
    A temporary named with a pid is a leftover once that process is gone; a running one's is
    never reported.

    Exit status: 0 when they agree (and --clean removed every leftover), 1 when something is
    listed."""
    found = findings(store)
    for line in found:
        click.echo(escape_control(f"{store}: {line}"))
    now = time.time()
    left = leftovers(store, older_than)
    for temporary in left:
        if clean:
            remove(temporary, store)
        said = "removed leftover temporary" if clean else "leftover temporary"
        click.echo(escape_control(f"{store}: {said}: {temporary.path} ({temporary.why(now)})"))
    problems = len(found) + (0 if clean else len(left))
    count = len(trace_sizes(store))
    said = "consistent" if not problems else f"{problems} problem{'s' if problems > 1 else ''}"
    click.echo(f"tdxray: {store}: {count} traces, manifest under {MANIFEST_DIR}/: {said}",
               err=True)
    sys.exit(1 if problems else 0)
