"""`tdxray info TRACE|STORE`: the TD, event counts, time span, sizes and provenance of traces."""

from __future__ import annotations

import json
from typing import Any

import click

from tdxray.analyses.escape import escape_lines
from tdxray.ingest.materialize import trace_file_for
from tdxray.store.read import open_trace
from tdxray.store.summary import trace_summary


@click.command("info")
@click.argument("trace")
@click.option("--trace", "trace_id", help="Only this trace of a store.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document (a list of traces).")
def command(trace: str, trace_id: str | None, as_json: bool) -> None:
    """Summarise TRACE (Parquet file, JSONL file) or every trace of a STORE directory."""
    refs = trace_file_for(trace, trace_id, allow_many=True, results=False)
    summaries = []
    for ref in refs:
        summary = trace_summary(open_trace(ref.path))
        summary["source"] = ref.source
        if ref.remote is not None:  # not the local mirror's temporary copy
            summary["path"] = ref.remote
        summaries.append(summary)
    if as_json:
        click.echo(json.dumps(summaries, indent=2))
        return
    click.echo(escape_lines("\n\n".join(format_summary(s) for s in summaries)))


def format_summary(summary: dict[str, Any]) -> str:
    """Plain aligned text of one trace summary."""
    td = summary["td"]
    time = summary["time"]
    rows: list[tuple[str, str]] = [
        ("trace", summary["trace_id"]),
        ("source", summary["source"]),
        ("schema version", str(summary["schema_version"])),
        ("gpaw", f"{td['gpaw']} (shared bit {td['shared_bit']})"),
        ("vcpus", f"{td['vcpus']} (APIC ids {', '.join(map(str, td['apic_ids']))})"),
        ("ram", f"{_ranges(td['ram'])} = {_bytes(td['ram_bytes'])}"),
        ("memory", td["memory"]),
        ("mailbox", _mailbox(td.get("mailbox"))),
    ]
    for key in ("attributes", "xfam"):
        if key in td:
            rows.append((key, td[key]))
    rows += [
        ("events", f"{summary['events']:,}"),
        ("time", _span(time)),
        ("row groups", str(summary["row_groups"])),
        ("file", f"{_bytes(summary['file_bytes'])} ({summary['bytes_per_event']} bytes/event)"),
        ("expected rules", _rules(summary["expected_rules"])),
    ]
    lines = _aligned(rows)
    lines += _section("events by kind", summary["events_by_kind"])
    lines += _section("events by vcpu", summary["events_by_vcpu"])
    lines.append("provenance:")
    lines += ["  " + line for line in json.dumps(summary["provenance"], indent=2).splitlines()]
    return "\n".join(lines)


def _aligned(rows: list[tuple[str, str]], indent: str = "") -> list[str]:
    width = max(len(key) for key, _ in rows)
    return [f"{indent}{key + ':':<{width + 1}} {value}" for key, value in rows]


def _section(title: str, counts: dict[str, int]) -> list[str]:
    if not counts:
        return [f"{title}: none"]
    return [f"{title}:", *_aligned([(str(k), f"{v:>12,}") for k, v in counts.items()], "  ")]


def _ranges(ram: list[list[str]]) -> str:
    return ", ".join(f"[{start}, {end})" for start, end in ram)


def _mailbox(mailbox: dict[str, Any] | None) -> str:
    if mailbox is None:
        return "none (no multiprocessor wakeup structure)"
    text = f"version {mailbox['version']} at {mailbox['gpa']}"
    if "reset_vector" in mailbox:
        text += f", reset vector {mailbox['reset_vector']}"
    return text


def _span(time: dict[str, int | None]) -> str:
    if time["first_ns"] is None:
        return "no events"
    text = f"first {time['first_ns']} ns, last {time['last_ns']} ns"
    duration = time["duration_ns"] or 0
    return text + f", span {duration / 1e9:.6f} s (min {time['min_ns']}, max {time['max_ns']})"


def _bytes(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    value = float(count)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024:
            return f"{value:.1f} {unit}"
    return f"{value / 1024:.1f} TiB"


def _rules(rules: list[str] | None) -> str:
    if rules is None:
        return "not given"
    return ", ".join(rules) if rules else "none"
