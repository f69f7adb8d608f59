"""`python -m tdxray.benchmarks speed`: the speed issue's table, tdxray beside its baseline.

Every row runs tdxray and a baseline (a DuckDB scan hashing every column, DuckDB's and Polars'
JSON readers) one after the other, pair by pair, and reports tdxray's figure, the baseline's,
the ratio (min/median over the pairs) and the goal; each row is printed as soon as it is
measured. The fragmented-map row replays a trace the sequential core takes event by event
(RETRYs everywhere) at N and at N/10 events: its ratio is the cost per event at N over the
cost at N/10, which stays near 1 while one change costs O(log n) and grows with N when it
costs O(pieces). A profile's top 5 of the in-process replay follows the table.
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tdxray.benchmarks.conversions import NOTES, conversion_trace
from tdxray.benchmarks.figures import fmt_value, size_label, warm
from tdxray.benchmarks.ingest import export_jsonl
from tdxray.benchmarks.ladder import Log, event_count, sim_trace
from tdxray.benchmarks.pairs import Pairs, Sample, child, in_process, pairs, write_bytecode
from tdxray.benchmarks.profile_top import HEADING, top_functions
from tdxray.benchmarks.suite import DATA_DIR

MB = 1e6
KIB = 1024
FRAGMENTED = "random_retry"  # the synthetic variant the sequential core takes whole
WIDTHS = (58, 15, 15, 16, 14)  # fixed, so that each row prints as soon as it is measured


@dataclass(frozen=True)
class Row:
    what: str
    ours: str
    baseline: str
    ratios: tuple[float, float] | None  # min, median of tdxray / baseline (None: no baseline)
    goal: str
    met: bool

    def cells(self) -> list[str]:
        ratio = "-" if self.ratios is None else f"{self.ratios[0]:.2f}/{self.ratios[1]:.2f}x"
        return [self.what, self.ours, self.baseline, ratio, self.goal,
                "PASS" if self.met else "MISS"]


@dataclass(frozen=True)
class Options:
    events: int = 10**7
    conversion_events: int = 10**6
    jsonl_events: int = 3 * 10**6
    pairs: int = 3
    data_dir: Path = DATA_DIR
    fragmented_events: int = 2 * 10**5


def _min_median(values: Sequence[float]) -> tuple[float, float]:
    ordered = sorted(values)
    mid = len(ordered) // 2
    median = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    return ordered[0], median


def _secs(s: Sample) -> float:
    return s.seconds


def _peak(s: Sample) -> float:
    return float(s.peak_kib)


def _scan(path: Path) -> Callable[[], object]:
    import duckdb

    from tdxray.benchmarks.replay import DUCKDB_SCAN

    con = duckdb.connect()
    sql = DUCKDB_SCAN.format(path=str(path).replace("'", "''"))
    return lambda: con.execute(sql).fetchall()


def replay_rows(path: Path, rows: int, count: int) -> list[Row]:
    from tdxray.model.replay import replay_trace
    from tdxray.store.layout import results_dir_for

    label = size_label(rows)
    scan = in_process(_scan(path))
    got = pairs(in_process(lambda: replay_trace(path)), scan, count)
    out = [_ratio_row(f"replay {label} in process vs scan", got, rows, 1.5)]
    results = results_dir_for(path)
    check = child("tdxray", "check", str(path), "--format", "json",
                  before=lambda: shutil.rmtree(results, ignore_errors=True))
    got = pairs(check, child("duckdb-scan", str(path)), count)
    shutil.rmtree(results, ignore_errors=True)
    out.append(_ratio_row(f"check {label} end to end vs scan", got, rows, 2.0))
    got = pairs(child("replay", str(path)), child("duckdb-scan", str(path)), count)
    lo, mid = _min_median(got.ratios(_peak))
    out.append(Row(f"replay {label} peak RSS vs scan", _mib(got, False), _mib(got, True),
                   (lo, mid), "<= 2x", mid <= 2.0))
    return out


def _ratio_row(what: str, got: Pairs, events: int, limit: float) -> Row:
    lo, mid = _min_median(got.ratios(_secs))
    return Row(what, _rate(events / got.median(_secs), "ev/s"),
               _rate(events / got.median(_secs, baseline=True), "ev/s"), (lo, mid),
               f"<= {limit:g}x", mid <= limit)


def _rate(value: float, unit: str) -> str:
    return f"{fmt_value(value)} {unit}"


def _mib(got: Pairs, baseline: bool) -> str:
    return f"{got.median(_peak, baseline) / KIB:.0f} MiB"


def conversion_rows(opts: Options, log: Log) -> list[Row]:
    out = []
    for variant in NOTES:
        path = conversion_trace(variant, opts.conversion_events, opts.data_dir, False, log)
        warm(path)
        scratch = opts.data_dir / f"speed-replay-{variant}"
        got = pairs(child("tdxray", "replay", str(path), "-o", str(scratch)),
                    child("duckdb-scan", str(path)), opts.pairs)
        shutil.rmtree(scratch, ignore_errors=True)
        from tdxray.store.read import open_trace

        events = open_trace(path).num_rows
        rate = events / got.median(_secs)
        out.append(Row(f"conversions {variant} {size_label(events)} (tdxray replay)",
                       _rate(rate, "ev/s"), _rate(events / got.median(_secs, True), "ev/s"),
                       _min_median(got.ratios(_secs)), ">= 1M ev/s", rate >= 1e6))
    return out


def fragmented_row(opts: Options, log: Log) -> Row:
    """The core alone on a fragmented map: cost per event at N against N/10."""
    from tdxray.model.replay import replay_trace
    from tdxray.store.read import open_trace

    sizes = []
    runs = []
    for events in (opts.fragmented_events, max(opts.fragmented_events // 10, 1)):
        path = conversion_trace(FRAGMENTED, events, opts.data_dir, False, log)
        warm(path)
        sizes.append(open_trace(path).num_rows)
        runs.append(in_process(lambda path=path: replay_trace(path)))
    got = pairs(runs[0], runs[1], opts.pairs)
    big, small = sizes
    ratios = [(a.seconds / big) / (b.seconds / small)
              for a, b in zip(got.ours, got.theirs, strict=True)]
    lo, mid = _min_median(ratios)
    return Row(f"core only, fragmented map: {FRAGMENTED} {size_label(big)} vs "
               f"{size_label(small)} (per event)", _rate(big / got.median(_secs), "ev/s"),
               _rate(small / got.median(_secs, True), "ev/s"), (lo, mid), "<= 1.5x",
               mid <= 1.5)


def ingest_rows(opts: Options, log: Log) -> list[Row]:
    built = sim_trace(opts.jsonl_events, opts.data_dir, False, log)
    jsonl, _, _ = export_jsonl(built.path, opts.data_dir, False, log)
    warm(jsonl)
    lines = built.rows + 1
    store = opts.data_dir / "speed-ingest-store"
    out_file = str(opts.data_dir / "speed-baseline.parquet")
    ours = child("tdxray", "ingest", str(jsonl), "-o", str(store),
                 before=lambda: shutil.rmtree(store, ignore_errors=True))
    names = {"DuckDB read_json": "duckdb-json", "Polars read_ndjson": "polars-json"}
    baselines = [child(job, str(jsonl), out_file) for job in names.values()]
    ours_runs: list[Sample] = []
    theirs: list[list[Sample]] = [[] for _ in names]
    for _ in range(opts.pairs):  # tdxray, then each baseline: one ingest serves both rows
        ours_runs.append(ours())
        for runs, baseline in zip(theirs, baselines, strict=True):
            runs.append(baseline())
    rows = []
    for name, runs in zip(names, theirs, strict=True):
        got = Pairs(ours_runs, runs)
        rate = lines / got.median(_secs)
        rows.append(Row(f"JSONL ingest {size_label(built.rows)} vs {name}",
                        _rate(rate, "lines/s"), _rate(lines / got.median(_secs, True), "lines/s"),
                        _min_median(got.ratios(_secs)), ">= 1M lines/s", rate >= 1e6))
    shutil.rmtree(store, ignore_errors=True)
    Path(out_file).unlink(missing_ok=True)
    peak_mb = sorted(s.peak_kib for s in ours_runs)[len(ours_runs) // 2] * KIB / MB
    rows.append(Row(f"JSONL ingest {size_label(built.rows)} peak RSS", f"{peak_mb:.0f} MB", "-",
                    None, "<= 300 MB", peak_mb <= 300))
    return rows


def render(row: Row | None) -> str:
    """One line of the table (the header for None)."""
    cells = (["row", "tdxray", "baseline", "ratio min/median", "goal", ""] if row is None
             else row.cells())
    return "  ".join(c.ljust(w) for c, w in zip(cells, (*WIDTHS, 0), strict=True)).rstrip()


def run(opts: Options, log: Log, show: Callable[[str], None] = lambda line: None) -> str:
    """Measure every row, showing each line as it is ready; the whole output."""
    lines: list[str] = []

    def out(line: str) -> None:
        lines.append(line)
        show(line)

    out(render(None))
    unwritten = write_bytecode()  # the commands' children import compiled modules
    if unwritten:
        log(f"tdxray's bytecode could not be written in {', '.join(unwritten)}: the child "
            "processes compile those modules on every run")
    log(f"replay ladder trace of {opts.events:,} events")
    built = sim_trace(opts.events, opts.data_dir, False, log)
    warm(built.path)
    steps: list[tuple[str, Callable[[], list[Row]]]] = [
        ("", lambda: replay_rows(built.path, built.rows, opts.pairs)),
        (f"conversion-heavy traces of {opts.conversion_events:,} events",
         lambda: conversion_rows(opts, log)),
        (f"the core alone on a fragmented map, {opts.fragmented_events:,} events",
         lambda: [fragmented_row(opts, log)]),
        (f"JSONL ingest of {opts.jsonl_events:,} events", lambda: ingest_rows(opts, log)),
    ]
    for message, step in steps:
        if message:
            log(message)
        for row in step():
            out(render(row))
    out("")
    out(f"replay {size_label(built.rows)}: {HEADING.format(count=5)}")
    for line in top_functions(built.path, 5):
        out(line)
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tdxray.benchmarks speed", description=__doc__)
    p.add_argument("--events", type=event_count, default=10**7,
                   help="events of the replay trace [default: 1e7, as the issue measures]")
    p.add_argument("--conversion-events", type=event_count, default=10**6,
                   help="events of each conversion-heavy trace [default: 1e6]")
    p.add_argument("--jsonl-events", type=event_count, default=3 * 10**6,
                   help="events of the JSONL file ingested [default: 3e6]")
    p.add_argument("--fragmented-events", type=event_count, default=2 * 10**5,
                   help="events of the fragmented-map trace (and a tenth of them) "
                   "[default: 2e5]")
    p.add_argument("--pairs", type=int, default=3, help="tdxray/baseline pairs per row")
    p.add_argument("--data-dir", type=Path, default=DATA_DIR, help="trace cache directory")
    return p


def main(argv: Sequence[str], log: Log) -> None:
    args = parser().parse_args(argv)
    opts = Options(args.events, args.conversion_events, args.jsonl_events,
                   max(args.pairs, 1), args.data_dir, args.fragmented_events)
    run(opts, log, show=lambda line: print(line, flush=True))
