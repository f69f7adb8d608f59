"""What an event is: the Arrow schema, the trace header and the TDX constants."""

from tdxray.schema.events import EVENT_SCHEMA, KIND_FIELDS, KNOWN_KINDS, SCHEMA_VERSION
from tdxray.schema.td import Mailbox, TdConfig, TraceHeader

__all__ = [
    "EVENT_SCHEMA",
    "KIND_FIELDS",
    "KNOWN_KINDS",
    "SCHEMA_VERSION",
    "Mailbox",
    "TdConfig",
    "TraceHeader",
]
