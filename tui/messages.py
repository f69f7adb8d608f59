"""Messages the workers post: they compute, the handlers that receive these mutate the screen."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    import pyarrow as pa

    from tdxray.analyses.page_history import Interval
    from tdxray.analyses.state_at import ModelSnapshot
    from tdxray.model.result import ReplayResult
    from tdxray.store.filter_index import FilterIndex
    from tdxray.store.layout import TraceRef
    from tdxray.tui.source import EventSource, View

Row = dict[str, Any]


@dataclass
class TraceOpened(Message):
    ref: TraceRef
    source: EventSource


@dataclass
class PickTrace(Message):
    """A store with several traces and none named: ask which one."""

    arg: str
    trace_ids: list[str]


@dataclass
class Converting(Message):
    """A text TRACE being converted before it opens: events so far (done: all of them)."""

    source: str
    events: int
    done: bool = False


@dataclass
class LoadFailed(Message):
    what: str
    error: str


@dataclass
class Progress(Message):
    what: str
    done: int
    total: int


@dataclass
class ReplayLoaded(Message):
    result: ReplayResult
    results_dir: Path | None


@dataclass
class RowsLoaded(Message):
    generation: int
    page: int
    rows: list[Row]
    pin: tuple[int, int] | None = None  # (seq, view index) of a read-ahead page


@dataclass
class JumpResolved(Message):
    generation: int
    index: int
    seq: int


@dataclass
class ViewCounted(Message):
    generation: int
    view: View
    seconds: float
    partial: bool = False  # only the first rows of the file were counted; the rest follows


@dataclass
class IndexReady(Message):
    """The filter index and histogram are attached (index None: one could not be; note says
    why), or were rebuilt (note says what was wrong with the old ones)."""

    index: FilterIndex | None
    note: str | None


@dataclass
class FilterFailed(Message):
    generation: int
    error: str


@dataclass
class StateComputed(Message):
    snapshot: ModelSnapshot
    gpa: int | None
    history: list[Interval]


@dataclass
class CausesLoaded(Message):
    seqs: list[int]
    rows: list[Row]


@dataclass
class TimelineLoaded(Message):
    counts: list[int]


@dataclass
class QueryDone(Message):
    query: str
    table: pa.Table | None
    truncated: bool
    error: str | None
    seconds: float


if TYPE_CHECKING:
    from pathlib import Path
