"""Where traces live: atomic Parquet writing, reading back as Arrow, Polars or DuckDB.

The names below load on first use (PEP 562): `tdxray.store.fs` (storage options) stays
importable without pyarrow, so `tdxray --help` and `tdxray rules` start quickly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tdxray.store.layout import Store, TraceRef, resolve_traces
    from tdxray.store.read import TraceFile, open_trace
    from tdxray.store.write import TraceWriter

_WHERE = {
    "Store": "tdxray.store.layout",
    "TraceRef": "tdxray.store.layout",
    "resolve_traces": "tdxray.store.layout",
    "TraceFile": "tdxray.store.read",
    "open_trace": "tdxray.store.read",
    "TraceWriter": "tdxray.store.write",
}

__all__ = ["Store", "TraceFile", "TraceRef", "TraceWriter", "open_trace", "resolve_traces"]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'tdxray.store' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
