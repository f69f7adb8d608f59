"""Where traces live: atomic Parquet writing, reading back as Arrow, Polars or DuckDB."""

from tdxray.store.layout import Store, TraceRef, resolve_traces
from tdxray.store.read import TraceFile, open_trace
from tdxray.store.write import TraceWriter

__all__ = ["Store", "TraceFile", "TraceRef", "TraceWriter", "open_trace", "resolve_traces"]
