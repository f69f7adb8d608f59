"""Shrink benchmark: every divergence (warning and above) of each trace, before -> after.

    python -m tdxray.benchmarks.shrink [SAMPLE.jsonl ...]
    python -m tdxray.benchmarks.shrink --events 1000000 [--scenario NAME ...]

Without --events: the bundled samples (or the JSONL traces named). With --events: each
scenario simulated at each size (seed 1, not timed), by default the three the issue names.
Prints one table row per (trace, divergence) as soon as it is shrunk: events before and after,
the share kept, replays run and seconds; the target is <= 1% of the events or <= 20 events.
The first line says the machine's load average (the figures are only comparable idle).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tdxray.analyses.shrink.run import shrink_in
from tdxray.analyses.shrink.session import Session
from tdxray.analyses.shrink.stored import open_stored_trace
from tdxray.model.catalogue import SEVERITY_RANK
from tdxray.simulator.run import simulate
from tdxray.simulator.scenarios import SCENARIOS
from tdxray.simulator.writer import write_trace

SAMPLES = Path(__file__).resolve().parent.parent / "sample_traces"
SCENARIOS_NAMED = ["unfixed-kernel", "unshare-failure", "mailbox-misuse"]  # issue 16's
TARGET_EVENTS = 20
Setup = Callable[[str, int, float], None]  # trace, events, seconds to read, ingest, replay
HEADER = (f"{'TRACE':<26} {'RULE':<5} {'FINGERPRINT':<16} {'BEFORE':>8} {'AFTER':>5} "
          f"{'KEPT':>6} {'REPLAYS':>7} {'SECONDS':>7} TARGET")


@dataclass(frozen=True)
class Row:
    sample: str
    rule: str
    fingerprint: str
    before: int
    after: int
    replays: int
    seconds: float
    complete: bool

    @property
    def meets_target(self) -> bool:
        return self.complete and (self.after <= TARGET_EVENTS or self.after * 100 <= self.before)

    def line(self) -> str:
        return (f"{self.sample:<26} {self.rule:<5} {self.fingerprint:<16} {self.before:>8} "
                f"{self.after:>5} {100 * self.after / self.before:>5.1f}% {self.replays:>7} "
                f"{self.seconds:>7.1f} {'ok' if self.meets_target else 'MISSED'}")


def iter_rows(path: Path, max_replays: int, name: str | None = None, seconds: float = 600.0,
              setup: Setup | None = None) -> Iterator[Row]:
    """Shrink every distinct (rule, fingerprint) at warning or above of the trace at `path`,
    yielding each row when it is done. The trace is read, ingested and replayed once for all
    of them (`setup` hears how long that took); a row's seconds are its own shrink's."""
    started = time.monotonic()
    with Session(open_stored_trace(str(path))) as session:  # as `tdxray shrink` opens it
        if setup is not None:
            setup(name or path.stem, len(session.trace), time.monotonic() - started)
        seen: dict[tuple[str, str], None] = {}
        for d in session.divergences:
            if SEVERITY_RANK[d.severity] <= SEVERITY_RANK["warning"]:
                seen.setdefault((d.rule, d.fingerprint), None)
        for rule, fingerprint in seen:
            r = shrink_in(session, rule, fingerprint, max_replays=max_replays, seconds=seconds)
            yield Row(name or path.stem, rule, fingerprint, r.before, r.after, r.replays,
                      r.seconds, r.complete)


def shrink_rows(path: Path, max_replays: int) -> list[Row]:
    return list(iter_rows(path, max_replays))


def table(rows: list[Row]) -> str:
    return "\n".join([HEADER, *(r.line() for r in rows)])


def load_line() -> str:
    one, five, fifteen = os.getloadavg()
    return (f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs "
            "(compare figures taken idle)")


def size_label(events: int) -> str:
    """1000000 -> 1e6, 30000 -> 3e4; a size that is not one digit times a power of ten as is."""
    short = f"{events:.0e}".replace("e+0", "e").replace("e+", "e")
    return short if float(short) == events else str(events)


def traces(args: argparse.Namespace, workdir: Path) -> Iterator[tuple[Path, str]]:
    if not args.events:
        for path in args.samples or sorted(SAMPLES.glob("*.jsonl")):
            yield path, path.stem
        return
    for events in args.events:
        for scenario in args.scenario or SCENARIOS_NAMED:
            path = workdir / f"{scenario}-{events}.jsonl"
            sim = simulate(SCENARIOS[scenario].config(events=events, seed=1))
            write_trace(path, sim.header, sim.batches())
            yield path, f"{scenario}@{size_label(events)}"
            path.unlink()


def setup(name: str, events: int, seconds: float) -> None:
    print(f"# {name}: {events} events read, ingested and replayed once in {seconds:.1f} s",
          flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tdxray.benchmarks.shrink",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("samples", nargs="*", type=Path, help="JSONL traces [the samples]")
    parser.add_argument("--events", type=int, nargs="*", default=[],
                        help="simulate each scenario at these sizes instead")
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS),
                        help=f"with --events [default: {', '.join(SCENARIOS_NAMED)}]")
    parser.add_argument("--max-replays", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=600.0, help="time budget per row")
    args = parser.parse_args(argv)
    print(load_line(), flush=True)
    print(HEADER, flush=True)
    met = total = 0
    with tempfile.TemporaryDirectory(prefix="tdxray-bench-shrink-") as work:
        for path, name in traces(args, Path(work)):
            for row in iter_rows(path, args.max_replays, name, args.seconds, setup):
                print(row.line(), flush=True)
                met, total = met + row.meets_target, total + 1
    print(f"{met}/{total} divergences meet the target", flush=True)
    print(load_line(), flush=True)


if __name__ == "__main__":
    main()
