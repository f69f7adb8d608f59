"""How events arrive: one package per input format, the merge, the store writer, the TRACE argument.

- `jsonl/`: tdxray JSON Lines v1 (the interchange format).
- `ftrace/`: tracefs / trace-cmd text (host KVM events in bulk, everything else per line).
- `kprobe/`: the guest probe set (`recipe`) and the decoding of its events (`decode`), shared by
  the ftrace and console readers.
- `console/`: dmesg / serial captures; `qemu/`: QEMU `-trace` logs.
- `text/`: what the text readers share: chunked line splitting, prefetch, the per-source context,
  format detection and the multi-source text trace.

Entry points other layers use:
- `materialize.trace_file_for(arg, trace_id, allow_many)`: a command's TRACE argument (Parquet
  file, store directory or a text trace) as `store.layout.TraceRef`s.
- `registry.read_traces(args, fmt, warn)`: the traces in input files, as `TraceInput`s.
- `to_store.ingest_into_store(trace, store, trace_id, replace)`: one trace into a store.

Writing traces back as text lives in `tdxray.export`.
"""
