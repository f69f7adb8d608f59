"""`python -m tdxray.benchmarks`: build the size ladder, time every stage, print the figures."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tdxray.benchmarks.figures import json_lines
from tdxray.benchmarks.ftrace_ingest import FTRACE_LINES
from tdxray.benchmarks.ladder import DEFAULT_SIZES, LARGE_SIZE, event_count, parse_sizes
from tdxray.benchmarks.report import human_report
from tdxray.benchmarks.suite import DATA_DIR, Options, run_suite

QUICK_EVENTS = 10**5


def _sizes(text: str) -> tuple[int, ...]:
    try:
        return parse_sizes(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tdxray.benchmarks", description=__doc__)
    p.add_argument("--sizes", type=_sizes, help="event counts of the ladder, e.g. 1e5,1e6 "
                   "[default: 1e5,1e6,1e7]")
    p.add_argument("--large", action="store_true", help="add 1e8 events to the ladder")
    p.add_argument("--quick", action="store_true", help="1e5 events only (a CI smoke run)")
    p.add_argument("--repeat", type=int, default=3, help="timed runs per figure (median)")
    p.add_argument("--conversion-events", type=event_count, default=300_000,
                   help="events of each conversion-heavy trace [default: 3e5]")
    p.add_argument("--data-dir", type=Path, default=DATA_DIR, help="trace cache directory")
    p.add_argument("--fresh", action="store_true", help="rebuild cached traces (re-times "
                   "the simulator)")
    p.add_argument("--json-only", action="store_true", help="print only the JSON lines")
    return p


def options(args: argparse.Namespace) -> Options:
    sizes = args.sizes or DEFAULT_SIZES
    conversions, ftrace_lines = args.conversion_events, FTRACE_LINES
    if args.quick:
        sizes, conversions = (QUICK_EVENTS,), min(conversions, QUICK_EVENTS)
        ftrace_lines = QUICK_EVENTS
    if args.large:
        sizes = tuple(sorted({*sizes, LARGE_SIZE}))
    return Options(sizes=sizes, data_dir=args.data_dir, repeat=max(args.repeat, 1),
                   conversion_events=conversions, ftrace_lines=ftrace_lines, fresh=args.fresh)


def main(argv: Sequence[str] | None = None) -> None:
    def log(message: str) -> None:
        print(f"bench: {message}", file=sys.stderr, flush=True)

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["fleet"]:
        from tdxray.benchmarks.fleet import main as fleet

        fleet(argv[1:], log)
        return
    if argv[:1] == ["speed"]:
        from tdxray.benchmarks.speed import main as speed

        speed(argv[1:], log)
        return
    args = parser().parse_args(argv)

    figures = run_suite(options(args), log)
    if not args.json_only:
        print(human_report(figures), end="\n\n")
    print(json_lines(figures))


if __name__ == "__main__":
    main()
