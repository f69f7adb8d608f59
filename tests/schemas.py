"""Validators for what tdxray writes: its own report schema (as shipped in the package), and
the vendored outside schemas (SARIF 2.1.0, the Jenkins xunit plugin's JUnit XSD)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator, Draft202012Validator

from tdxray.analyses.formats.schema import jsonl_record_schema, report_schema

DATA = Path(__file__).resolve().parent / "data"
SARIF_SCHEMA = DATA / "sarif" / "sarif-schema-2.1.0.json"
JUNIT_XSD = DATA / "junit" / "junit-10.xsd"


@cache
def report_validator() -> Draft202012Validator:
    schema = report_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


@cache
def jsonl_validator() -> Draft202012Validator:
    return Draft202012Validator(jsonl_record_schema())


@cache
def sarif_validator() -> Draft4Validator:
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    Draft4Validator.check_schema(schema)
    return Draft4Validator(schema)


def check_report(doc: Any) -> None:
    """Raise jsonschema.ValidationError unless doc is a valid `--format json` report."""
    report_validator().validate(doc)


def check_jsonl_record(record: Any) -> None:
    jsonl_validator().validate(record)


def check_sarif(log: Any) -> None:
    sarif_validator().validate(log)


def check_junit(xml: str) -> None:
    """Raise xmlschema.XMLSchemaValidationError unless xml is valid for the Jenkins xunit plugin."""
    import xmlschema

    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(xml)
