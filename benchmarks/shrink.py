"""Shrink benchmark: every sample trace's divergences (warning and above), before -> after.

    python -m tdxray.benchmarks.shrink [--max-replays N] [SAMPLE.jsonl ...]

Prints one table row per (sample, divergence): events before and after, the share kept,
replays run and seconds; the target is <= 1% of the events or <= 20 events.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tdxray.analyses.shrink.oracle import replay_lines
from tdxray.analyses.shrink.run import shrink
from tdxray.analyses.shrink.trace import read_text_trace
from tdxray.model.catalogue import SEVERITY_RANK

SAMPLES = Path(__file__).resolve().parent.parent / "sample_traces"
TARGET_EVENTS = 20


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


def shrink_rows(path: Path, max_replays: int, workdir: Path) -> list[Row]:
    """Shrink every distinct (rule, fingerprint) at warning or above of the trace at `path`."""
    trace = read_text_trace(path)
    found = replay_lines(trace, list(range(len(trace.events))), workdir) or []
    seen: dict[tuple[str, str], None] = {}
    for d in found:
        if SEVERITY_RANK[d.severity] <= SEVERITY_RANK["warning"]:
            seen.setdefault((d.rule, d.fingerprint), None)
    rows = []
    for rule, fingerprint in seen:
        r = shrink(trace, rule, fingerprint, max_replays=max_replays)
        rows.append(Row(path.stem, rule, fingerprint, r.before, r.after, r.replays, r.seconds,
                        r.complete))
    return rows


def table(rows: Iterable[Row]) -> str:
    lines = [f"{'SAMPLE':<26} {'RULE':<5} {'FINGERPRINT':<16} {'BEFORE':>6} {'AFTER':>5} "
             f"{'KEPT':>6} {'REPLAYS':>7} {'SECONDS':>7} TARGET"]
    for r in rows:
        lines.append(f"{r.sample:<26} {r.rule:<5} {r.fingerprint:<16} {r.before:>6} {r.after:>5} "
                     f"{100 * r.after / r.before:>5.1f}% {r.replays:>7} {r.seconds:>7.1f} "
                     f"{'ok' if r.meets_target else 'MISSED'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    import tempfile

    parser = argparse.ArgumentParser(prog="python -m tdxray.benchmarks.shrink")
    parser.add_argument("samples", nargs="*", type=Path)
    parser.add_argument("--max-replays", type=int, default=2000)
    args = parser.parse_args(argv)
    paths = args.samples or sorted(SAMPLES.glob("*.jsonl"))
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="tdxray-bench-shrink-") as work:
        for path in paths:
            rows += shrink_rows(path, args.max_replays, Path(work))
    print(table(rows))
    met = sum(r.meets_target for r in rows)
    print(f"{met}/{len(rows)} divergences meet the target")


if __name__ == "__main__":
    main()
