"""The trace screen's workers: each computes in a thread and only posts a message."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from textual import work
from textual.worker import get_current_worker

from tdxray.store.scratch import make_dir
from tdxray.tui.messages import (
    CausesLoaded,
    FilterFailed,
    IndexReady,
    Progress,
    ReplayLoaded,
    StateComputed,
    TimelineLoaded,
    ViewCounted,
)

if TYPE_CHECKING:
    from tdxray.analyses.state_at import StateCursor
    from tdxray.store.layout import TraceRef
    from tdxray.store.read import TraceFile
    from tdxray.tui.filter_sql import Query
    from tdxray.tui.source import EventSource, View

T = TypeVar("T")
PROGRESS_EVERY = 0.25  # seconds between progress messages


CHILD_REPLAY_RATE = 3_000_000  # events/s, for a progress estimate while a child replays
PARTIAL_BLOCKS = 8  # a filter first counts this many blocks of rows, shows them, then the rest
# Matches sparser than this are counted by a scan, as if there were no histogram: a screen of
# them spans many blocks, slow to read, and the partial count shows the first ones sooner (a
# sparse filter's scan is quick anyway: few rows survive it).
HISTOGRAM_DENSITY = 1 / 2048


class Loaders:
    """Mixed into the trace screen (a DOM node: `post_message` and `@work` need one)."""

    source: EventSource
    results_dir: Path | None
    _state_cursor: StateCursor | None = None

    if TYPE_CHECKING:
        def post_message(self, message: object) -> bool: ...  # provided by the screen

    def _progress(self, what: str) -> object:
        last = [0.0]

        def report(done: int, total: int) -> None:
            now = time.monotonic()
            if now - last[0] >= PROGRESS_EVERY or done >= total:
                last[0] = now
                self.post_message(Progress(what, done, total))

        return report

    @work(thread=True, exclusive=True, group="replay")
    def load_replay(self, ref: TraceRef) -> None:
        from tdxray.model.replay import is_fresh, load_or_replay

        progress = self._progress("replaying")
        results: Path | None = ref.results_dir
        try:
            if not is_fresh(ref.path, ref.results_dir):
                self._replay_in_child(ref.path, ref.results_dir, progress)
            result = load_or_replay(ref.path, ref.results_dir, progress)  # type: ignore[arg-type]
        except OSError:  # the store is read-only: keep the results in a temporary directory
            results = make_dir("tdxray-tui-")  # removed at exit
            result = load_or_replay(ref.path, results, progress)  # type: ignore[arg-type]
        self.post_message(ReplayLoaded(result, results))

    def _replay_in_child(self, trace: Path, results: Path, progress: Any) -> None:
        """Replay in a child process, so the replay's memory is not the app's; the parent then
        reads the fresh results. Progress is estimated from the elapsed time. If the child
        fails (a read-only store, a trace it cannot read), the caller replays in-process and
        reports what went wrong."""
        total = self.source.rows
        child = subprocess.Popen(
            [sys.executable, "-m", "tdxray", "replay", str(trace), "-o", str(results)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        worker = get_current_worker()
        start = time.monotonic()
        while child.poll() is None:
            if worker.is_cancelled:  # the app is closing: do not keep the child running
                child.kill()
                child.wait()
                return
            guess = int((time.monotonic() - start) * CHILD_REPLAY_RATE)
            progress(min(guess, total - 1), total)
            time.sleep(PROGRESS_EVERY)

    @work(thread=True, exclusive=True, group="timeline")
    def load_timeline(self, results_dir: Path, trace: TraceFile, points: int) -> None:
        from tdxray.analyses.page_history import shared_over_time

        meta = trace.parquet.metadata
        seq = trace.parquet.schema_arrow.get_field_index("seq")
        first = meta.row_group(0).column(seq).statistics.min
        last = meta.row_group(meta.num_row_groups - 1).column(seq).statistics.max
        self.post_message(TimelineLoaded(shared_over_time(results_dir, first, last, points)))

    @work(thread=True, exclusive=True, group="state")
    def compute_state(self, seq: int, gpa: int | None) -> None:
        from tdxray.analyses.page_history import gpa_history
        from tdxray.analyses.state_at import StateCursor, core_events

        if self._state_cursor is None:
            self.post_message(Progress("indexing model state", 0, 1))
            core = core_events(self.source.trace)  # its own connection: one thread
            self._state_cursor = StateCursor(self.source.trace, core)
            self.post_message(Progress("indexing model state", 1, 1))
        snapshot = self._state_cursor.at(seq)
        history = gpa_history(self.results_dir, gpa) if gpa is not None and \
            self.results_dir is not None else []
        self.post_message(StateComputed(snapshot, gpa, history))

    @work(thread=True, exclusive=True, group="causes")
    def load_causes(self, seqs: list[int]) -> None:
        self.post_message(CausesLoaded(seqs, self.source.events(seqs[:20]).to_pylist()))

    @work(thread=True, exclusive=True, group="index")
    def load_index(self, ref: TraceRef) -> None:
        """Open the trace's filter index and filter histogram, building them first if they are
        missing or stale."""
        import duckdb

        from tdxray.store.filter_index import ensure_histogram, ensure_index
        from tdxray.tui.source import BLOCK

        trace = self.source.trace
        try:
            index, rebuilt = _in_store(ref.results_dir, lambda d: ensure_index(trace, d))
            self.source.attach_index(index)
            histogram, redone = _in_store(ref.results_dir,
                                          lambda d: ensure_histogram(trace, d, BLOCK))
            self.source.attach_histogram(histogram)
        except (OSError, duckdb.Error) as exc:
            self.post_message(IndexReady(None, str(exc).splitlines()[0]))
            return
        notes = [f"filter {what} rebuilt: {why}" for what, why in
                 (("index", rebuilt), ("histogram", redone)) if why is not None]
        self.post_message(IndexReady(index, "; ".join(notes) or None))

    @work(thread=True, exclusive=True, group="count")
    def count_view(self, query: Query, generation: int, cursor_row: int = 0) -> None:
        """Count the filter's matches: in the filter index when the filter stays within it; in
        the filter histogram when it is only kind and vCPU conditions matching many rows; by
        arithmetic when it is a time range over rows in time order; else by scanning, and then,
        when the cursor is near the first rows that can match, the first matches are shown at
        once (a partial view) and the whole count follows."""
        import duckdb

        start = time.perf_counter()
        try:
            view = self._counted_view(query, generation, cursor_row, start)
        except duckdb.Error as exc:
            self.post_message(FilterFailed(generation, str(exc).splitlines()[0]))
            return
        self.post_message(ViewCounted(generation, view, time.perf_counter() - start))

    def _counted_view(self, query: Query, generation: int, cursor_row: int, start: float) -> View:
        from tdxray.tui.source import BLOCK

        source = self.source
        if query.indexed and source.index is not None:
            return source.count(query.where, indexed=True)
        if query.histogram and source.histogram is not None:
            view = source.count_in_histogram(query.where)
            if view.total >= source.rows * HISTOGRAM_DENSITY or not view.total:
                return view
        run = source.time_rows(*query.time) if query.time is not None else None
        if run is not None and query.time_only:
            return source.run_view(query.where, *run)
        first = run[0] if run is not None else 0  # no row before it matches
        head = first + PARTIAL_BLOCKS * BLOCK
        if cursor_row < head < source.rows:
            partial = source.count(query.where, query.branches, PARTIAL_BLOCKS * BLOCK, first)
            if partial.total:
                self.post_message(ViewCounted(generation, partial, time.perf_counter() - start,
                                              partial=True))
        return source.count(query.where, query.branches)


def _in_store(results_dir: Path, ensure: Callable[[Path], T]) -> T:
    """`ensure(results_dir)`, or, when the store is read-only, `ensure` of a temporary
    directory removed at exit."""
    try:
        return ensure(results_dir)
    except OSError:
        return ensure(make_dir("tdxray-tui-index-"))
