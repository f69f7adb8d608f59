"""What an event is: the Arrow schema, the trace header and the TDX constants.

The names below load on first use (PEP 562): `tdxray.schema.escape` and `tdxray.schema.errors`
stay importable without pyarrow, so `tdxray --help` and `tdxray rules` start quickly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tdxray.schema.events import EVENT_SCHEMA, KIND_FIELDS, KNOWN_KINDS, SCHEMA_VERSION
    from tdxray.schema.td import Mailbox, TdConfig, TraceHeader

_WHERE = {
    "EVENT_SCHEMA": "tdxray.schema.events",
    "KIND_FIELDS": "tdxray.schema.events",
    "KNOWN_KINDS": "tdxray.schema.events",
    "SCHEMA_VERSION": "tdxray.schema.events",
    "Mailbox": "tdxray.schema.td",
    "TdConfig": "tdxray.schema.td",
    "TraceHeader": "tdxray.schema.td",
}

__all__ = [
    "EVENT_SCHEMA",
    "KIND_FIELDS",
    "KNOWN_KINDS",
    "SCHEMA_VERSION",
    "Mailbox",
    "TdConfig",
    "TraceHeader",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'tdxray.schema' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
