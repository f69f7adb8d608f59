"""`tdxray rules [ID]`: the divergence catalogue as text, JSON or Markdown; one rule's help."""

from __future__ import annotations

import difflib
import json

import click

from tdxray.analyses.rule_help import help_text, help_uri, rules_markdown
from tdxray.model.catalogue import RULES, Rule
from tdxray.schema.errors import InputError


def _json(rules: list[Rule]) -> str:
    doc = {"tdxray": 1, "rules": [{"id": r.id, "name": r.name, "severity": r.severity,
                                   "summary": r.summary} for r in rules]}
    return json.dumps(doc, indent=2) + "\n"


def _text(rules: list[Rule]) -> str:
    width = max(len(r.name) for r in rules)
    lines = [f"{'ID':<5} {'SEVERITY':<8} {'NAME':<{width}} SUMMARY"]
    lines += [f"{r.id:<5} {r.severity:<8} {r.name:<{width}} {r.summary}" for r in rules]
    return "\n".join(lines) + "\n"


def _find(name: str) -> Rule:
    """A rule by id (any case) or by name."""
    wanted = name.strip()
    for rule in RULES.values():
        if wanted.upper() == rule.id or wanted.lower() == rule.name:
            return rule
    keys = [*RULES, *(r.name for r in RULES.values())]
    close = difflib.get_close_matches(wanted.upper() if wanted[:1].isalpha()
                                      and wanted[1:].isdigit() else wanted.lower(), keys, n=1)
    hint = f"; did you mean {close[0]}?" if close else " (tdxray rules lists them)"
    raise InputError(f"no rule {name!r}{hint}")


@click.command("rules")
@click.argument("rule", required=False, metavar="[ID]")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text",
              show_default=True, help="Output format of the catalogue (markdown: docs/rules.md).")
def command(rule: str | None, fmt: str) -> None:
    """List the divergence catalogue: rule id, name, severity and what it means.

    With an ID (K001, or a name such as leaked-shared-memory): that rule's help, what a correct
    kernel does and an example.
    """
    if rule is not None:
        found = _find(rule)
        click.echo(f"{help_text(found)}\nMore: {help_uri(found)}")
        return
    rules = list(RULES.values())
    out = {"json": _json, "text": _text}[fmt](rules) if fmt != "markdown" else rules_markdown()
    click.echo(out, nl=False)
