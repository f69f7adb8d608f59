"""One trace from the text sources of one TD: header, coverage provenance, merged events.

Text sources carry no TD configuration: it comes from --td FILE.json (an object like the JSONL
header's `td`) or defaults, announced in a warning. The trace id comes from --trace-id or the
first file's name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pyarrow as pa

from tdxray.ingest.bad_lines import BadLines, Warn
from tdxray.ingest.text.source import SourceContext
from tdxray.ingest.text.sources import SOURCE_FORMATS
from tdxray.schema.errors import InputError
from tdxray.schema.losses import Loss
from tdxray.schema.td import HeaderError, TdConfig, TraceHeader, check_trace_id

SOURCES_KEY = "sources"  # provenance: [{path, format, observes, clock_offset_ns}]


@dataclass(frozen=True)
class TextOptions:
    """How text sources become a trace (the ingest command's options)."""

    trace_id: str | None = None
    td: TdConfig | None = None
    clock_offsets: dict[str, int] = field(default_factory=dict)
    skip_bad_lines: bool = False


@dataclass(frozen=True)
class OpenSource:
    arg: str
    name: str       # how messages name it
    format: str
    stream: IO[bytes]


def load_td(path: str) -> TdConfig:
    """--td FILE.json: a JSON object like the JSONL header's `td`."""
    try:
        with open(path, encoding="utf-8") as fh:
            obj = json.load(fh)
    except OSError as exc:
        raise InputError(f"cannot open: {exc.strerror}", path) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not JSON: {exc}", path) from None
    try:
        return TdConfig.from_json(obj.get("td", obj) if isinstance(obj, dict) else obj)
    except HeaderError as exc:
        raise InputError(str(exc), path) from None


def text_header(sources: Sequence[OpenSource], options: TextOptions, warn: Warn) -> TraceHeader:
    td = options.td
    if td is None:
        td = TdConfig()
        warn(f"no --td: assuming the default TD ({json.dumps(td.to_json())}); give --td "
             "FILE.json with the TD's gpaw, apic_ids, ram, memory and mailbox")
    trace_id = options.trace_id or _default_id(sources[0].arg)
    try:
        check_trace_id(trace_id)
    except HeaderError as exc:
        raise InputError(str(exc), "--trace-id") from None
    provenance = {SOURCES_KEY: [
        {"path": s.name, "format": s.format, "observes": list(SOURCE_FORMATS[s.format].observes),
         "clock_offset_ns": options.clock_offsets.get(s.arg, 0)} for s in sources]}
    return TraceHeader(trace_id, td, provenance)


def _default_id(arg: str) -> str:
    stem = Path(arg).name.split(".")[0] if arg != "-" else "stdin"
    return re.sub(r"[^A-Za-z0-9._-]", "-", stem).lstrip(".") or "trace"


def text_batches(sources: Sequence[OpenSource], header: TraceHeader, options: TextOptions,
                 warn: Warn, losses: list[Loss]) -> Iterator[pa.RecordBatch]:
    """The merged events; `losses` gets the buffer markers' losses once they are consumed."""
    from tdxray.ingest.dedupe import deduplicated  # a JSONL ingest loads none of these
    from tdxray.ingest.losses import with_losses_numbered
    from tdxray.ingest.merge import merged_batches

    streams, noted = [], []
    for s in sources:
        ctx = SourceContext(header.td, BadLines(s.name, warn, options.skip_bad_lines),
                            guest=s.format == "ftrace-guest")
        reader = SOURCE_FORMATS[s.format].read(s.stream, s.name, ctx)
        streams.append((s.name, reader, options.clock_offsets.get(s.arg, 0)))
        if s.format.startswith("ftrace"):  # the sources that have buffer markers
            noted.append((s.name, ctx.losses))
    console = frozenset(s.name for s in sources if s.format == "console")
    merged = merged_batches(streams)
    if console and len(console) < len(sources):
        merged = deduplicated(merged, console)
    if not noted:
        return merged
    return with_losses_numbered(merged, noted, losses, alone=len(sources) == 1)
