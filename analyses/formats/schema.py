"""The JSON Schema of the check report, shipped in the package (report.schema.json)."""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

SCHEMA_FILE = "report.schema.json"


def report_schema_text() -> str:
    """The schema as shipped (`tdxray check --schema` prints it)."""
    return files("tdxray.analyses.formats").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")


def report_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(report_schema_text())
    return schema


def jsonl_record_schema() -> dict[str, Any]:
    """One line of `--format jsonl`: the report schema's `$defs/jsonl_record`."""
    schema = report_schema()
    return {"$schema": schema["$schema"], "$defs": schema["$defs"],
            "$ref": "#/$defs/jsonl_record"}
