"""How events arrive: input formats (JSON Lines v1 today), the store writer, the TRACE argument.

Entry points other layers use:
- `materialize.trace_file_for(arg, trace_id, allow_many)`: a command's TRACE argument (Parquet
  file, store directory or JSONL file) as `store.layout.TraceRef`s.
- `registry.read_traces(args, fmt, warn)`: the traces in input files, as `TraceInput`s.
- `to_store.ingest_into_store(trace, store, trace_id, replace)`: one trace into a store.
- `jsonl.JsonlReader` / `jsonl_write.write_jsonl`: JSON Lines v1 in and out.
"""
