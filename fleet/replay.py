"""One Dask task per trace: replay it (or reuse fresh results) where it lives, hand back the result.

Results are written beside each trace by the worker, atomically (model/replay.py writes them to a
scratch directory and moves them in), so a task that is re-run after a worker dies rewrites the
same files: nothing is lost and nothing is counted twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tdxray.model.result import ReplayResult
from tdxray.schema.errors import InputError


@dataclass(frozen=True)
class TraceOutcome:
    """What one trace's task gave: a result, or the one-line error that stopped it."""

    path: Path
    result: ReplayResult | None
    error: str | None
    events: int


def replay_task(path: str, results_dir: str | None) -> TraceOutcome:
    """Runs on a worker. Bad input is an outcome (the other traces go on), never a raise."""
    from tdxray.model.replay import load_or_replay
    from tdxray.store.read import open_trace

    trace_path = Path(path)
    try:
        events = open_trace(trace_path).num_rows
        result = load_or_replay(trace_path, Path(results_dir) if results_dir else None)
    except InputError as exc:
        return TraceOutcome(trace_path, None, str(exc), 0)
    return TraceOutcome(trace_path, result, None, events)


Done = Callable[[TraceOutcome, int, int], None]  # (outcome, traces done, traces total)


def replay_all(client: object, traces: Sequence[tuple[Path, Path | None]],
               on_done: Done | None = None) -> list[TraceOutcome]:
    """Replay every (trace, results dir) on the client's cluster, one task per trace; the
    outcomes come back in the order given, whatever order the workers finish in."""
    from distributed import Client, as_completed

    assert isinstance(client, Client)
    futures = [client.submit(replay_task, str(path), str(rdir) if rdir else None,
                             key=f"tdxray-replay-{i}-{path.name}", pure=False)
               for i, (path, rdir) in enumerate(traces)]
    index = {f.key: i for i, f in enumerate(futures)}
    outcomes: list[TraceOutcome | None] = [None] * len(futures)
    for done, future in enumerate(as_completed(futures), start=1):
        outcome: TraceOutcome = future.result()
        outcomes[index[future.key]] = outcome
        if on_done is not None:
            on_done(outcome, done, len(futures))
    return [o for o in outcomes if o is not None]
