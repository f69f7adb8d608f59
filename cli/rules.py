"""`tdxray rules`: the divergence catalogue (TDX-KEXEC.md §5) as text or JSON."""

from __future__ import annotations

import json

import click

from tdxray.model.catalogue import RULES, Rule


def _json(rules: list[Rule]) -> str:
    doc = {"tdxray": 1, "rules": [{"id": r.id, "name": r.name, "severity": r.severity,
                                   "summary": r.summary} for r in rules]}
    return json.dumps(doc, indent=2) + "\n"


def _text(rules: list[Rule]) -> str:
    width = max(len(r.name) for r in rules)
    lines = [f"{'ID':<5} {'SEVERITY':<8} {'NAME':<{width}} SUMMARY"]
    lines += [f"{r.id:<5} {r.severity:<8} {r.name:<{width}} {r.summary}" for r in rules]
    return "\n".join(lines) + "\n"


@click.command("rules")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Output format.")
def command(fmt: str) -> None:
    """List the divergence catalogue: rule id, name, severity and what it means."""
    rules = list(RULES.values())
    click.echo(_json(rules) if fmt == "json" else _text(rules), nl=False)
