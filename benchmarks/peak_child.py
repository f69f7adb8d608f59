"""Child process of the speed table: run one job, print its seconds and peak RSS as JSON.

    python -m tdxray.benchmarks.peak_child JOB ARGS...

Jobs: `tdxray ARGS...` (the CLI in this process, as the console script runs it, and ending as
it ends: atexit hooks, streams flushed, no interpreter teardown; cli/failures.exit_now),
`replay TRACE` (in process), `duckdb-scan PARQUET`, `duckdb-json JSONL OUT.parquet` and
`polars-json JSONL OUT.parquet` (the baselines). The peak is /proc's VmHWM, which starts afresh
with the exec'd image (rss_child says why ru_maxrss does not).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

STATUS = Path("/proc/self/status")


def memory_kib(key: str) -> int:
    """VmHWM or VmRSS in KiB; ru_maxrss (an upper bound) where /proc is missing."""
    if STATUS.exists():
        for line in STATUS.read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# Every column of a JSONL event as the export spells it: numbers or "0x…" strings (VARCHAR
# holds both), so the baselines parse every line whole without guessing types.
NUMBERS = ("seq", "ts_ns", "vcpu")


def _tdxray(args: list[str]) -> None:
    from tdxray.cli.main import cli, prepare

    prepare()  # as the console script starts (one BLAS thread, SIGTERM unwinds)
    try:
        cli.main(args=args, prog_name="tdxray", standalone_mode=True)
    except SystemExit as exc:
        if exc.code not in (0, 1, None):  # 1: divergences found, a result
            raise


def _replay(args: list[str]) -> None:
    from tdxray.model.replay import replay_trace

    replay_trace(Path(args[0]))


def _duckdb_scan(args: list[str]) -> None:
    import duckdb

    from tdxray.benchmarks.replay import DUCKDB_SCAN

    with duckdb.connect() as con:
        con.execute(DUCKDB_SCAN.format(path=args[0].replace("'", "''"))).fetchall()


def _json_columns() -> dict[str, str]:
    from tdxray.schema.events import EVENT_COLUMNS

    return {name: "BIGINT" if name in NUMBERS else "VARCHAR" for name in EVENT_COLUMNS
            if name not in ("source", "line", "extra")}


def _duckdb_json(args: list[str]) -> None:
    import duckdb

    columns = ", ".join(f"'{k}': '{v}'" for k, v in _json_columns().items())
    source, out = (a.replace("'", "''") for a in args)
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT * FROM read_json('{source}', format='newline_delimited', "
                    f"columns={{{columns}}})) TO '{out}' (FORMAT parquet, COMPRESSION zstd)")


def _polars_json(args: list[str]) -> None:
    import polars as pl

    schema = {k: pl.Int64 if v == "BIGINT" else pl.String for k, v in _json_columns().items()}
    pl.read_ndjson(args[0], schema=schema, ignore_errors=True).write_parquet(args[1])


JOBS: dict[str, Callable[[list[str]], None]] = {
    "tdxray": _tdxray, "replay": _replay, "duckdb-scan": _duckdb_scan,
    "duckdb-json": _duckdb_json, "polars-json": _polars_json,
}


def main(argv: list[str]) -> None:
    job, args = JOBS[argv[0]], argv[1:]
    started = time.perf_counter()
    job(args)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak_kib": memory_kib("VmHWM")}))
    if argv[0] == "tdxray":
        from tdxray.cli.failures import exit_now

        exit_now(0)


if __name__ == "__main__":
    main(sys.argv[1:])
