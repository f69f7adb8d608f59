"""The trace screen: filter bar, event table, side panel (divergences, state, memory map).

Handlers mutate; the workers in `loaders.py` compute and post messages.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, Static, TabbedContent, TabPane

from tdxray.analyses.escape import escape_control
from tdxray.model.divergence import Divergence
from tdxray.store.layout import TraceRef
from tdxray.tui.describe import event_gpa
from tdxray.tui.divergences import DivergencePanel
from tdxray.tui.event_table import EventTable
from tdxray.tui.filter_sql import FilterError, Query, query
from tdxray.tui.filters import FilterBar
from tdxray.tui.loaders import Loaders
from tdxray.tui.memory_map import MemoryMap
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
from tdxray.tui.plots import PlotLoader, PlotsLoaded, TracePlots
from tdxray.tui.source import EventSource
from tdxray.tui.state_panel import StatePanel


class SidePanel(Vertical):
    """The tabs beside the event table."""

    def __init__(self, ram: tuple[int, int], **kw: str) -> None:
        super().__init__(**kw)
        self.ram = ram

    def compose(self) -> ComposeResult:
        with TabbedContent():
            with TabPane("1 Divergences", id="divergences"):
                yield DivergencePanel(id="div-panel")
            with TabPane("2 State", id="state"):
                yield StatePanel(id="state-panel")
            with TabPane("3 Memory", id="memory"):
                yield MemoryMap(*self.ram, id="memory-map")
                yield TracePlots(id="plots")


class TraceScreen(Loaders, PlotLoader, Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "divergence(1)", "Next divergence"),
        Binding("p", "divergence(-1)", "Prev divergence"),
        Binding("c", "cause", "Next cause"),
        Binding("g", "goto", "Go to seq"),
        Binding("slash", "search", "Search text"),
        Binding("f", "filters", "Filter", show=False),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("1", "tab('divergences')", "Divergences", show=False),
        Binding("2", "tab('state')", "State", show=False),
        Binding("3", "tab('memory')", "Memory map", show=False),
        Binding("plus,equals_sign", "zoom(0.5)", "Zoom map in", show=False),
        Binding("minus", "zoom(2)", "Zoom map out", show=False),
        Binding("0", "zoom_all", "Whole map", show=False),
        Binding("z", "zoom_range", "Zoom map to divergence", show=False),
        Binding("t", "table", "Table", show=False),
        Binding("s", "sql", "SQL"),
        Binding("w", "filter_sql", "Filter as SQL", show=False),
    ]
    # the actions on the side panel: off until it is mounted (a key before the first rows)
    SIDE_ACTIONS: ClassVar[frozenset[str]] = frozenset(
        {"divergence", "cause", "tab", "zoom", "zoom_all", "zoom_range"})
    DEFAULT_CSS = """
    #titlebar { height: 1; background: $primary; color: $text; padding: 0 1; }
    #left { width: 1fr; }
    #table-header { height: 1; text-style: bold; background: $panel; }
    #side { width: 46; border-left: solid $primary; }
    #status { height: 1; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, ref: TraceRef, source: EventSource) -> None:
        super().__init__()
        self.ref = ref
        self.source = source
        td = source.trace.header.td
        self.sbit = td.shared_bit
        self.ram = (min(s for s, _ in td.ram), max(e for _, e in td.ram)) if td.ram else (0, 1)
        self.results_dir = None
        self.focus_gpa: int | None = None
        self.focus_span: tuple[int, int] | None = None
        self.sql_history: list[str] = []
        self._filter_generation = 0
        self._query: Query | None = None  # the filter being counted, until its count is final
        self.index_ready = False  # the filter index is attached, or known to be unavailable
        self._cause_at = -1
        self._summary = "replaying…"
        self._started = False
        self._side_mounted = False

    def compose(self) -> ComposeResult:
        yield Static(self._title(), id="titlebar")
        yield FilterBar()
        with Horizontal(id="main"), Vertical(id="left"):
            table = EventTable(self.source, self.sbit, id="events")
            yield Static(table.header_text(), id="table-header")
            yield table
        yield Static("replaying…", id="status")
        yield Footer()

    def _title(self) -> Text:
        t = self.source.trace
        td = t.header.td
        return Text(f"tdxray · {escape_control(t.trace_id)} · {t.num_rows:,} events · "
                    f"{td.vcpus} vCPU · GPAW {td.gpaw} · {td.memory} memory · "
                    f"{escape_control(self.ref.source)}   (F1 help)")

    def on_mount(self) -> None:
        self.query_one(EventTable).focus()

    async def _start_background(self) -> None:
        """Once the first rows are on screen: the side panel, then the filter index and the
        replay results, then the model state. The loaders' messages go to the panel's widgets:
        they start once it is mounted (a replay already on disk is posted at once)."""
        if not self._started:
            self._started = True
            await self.query_one("#main", Horizontal).mount(self._side_panel())
            self._side_mounted = True
            self.load_index(self.ref)
            self.load_replay(self.ref)

    def _side_panel(self) -> SidePanel:
        """Divergences, state and memory map: mounted once the first rows are on screen (a
        third of the cost of drawing the screen, and nothing to show before the replay)."""
        return SidePanel(self.ram, id="side")

    # --- background results -------------------------------------------------------------------

    def on_progress(self, message: Progress) -> None:
        status = self.query_one("#status", Static)
        if message.done >= message.total and message.what != "replaying":
            status.update(self._summary)
        else:
            pct = 100 * message.done // max(message.total, 1)
            status.update(f"{message.what} {pct}% …")

    def on_replay_loaded(self, message: ReplayLoaded) -> None:
        self.results_dir = message.results_dir
        result = message.result
        self.query_one(DivergencePanel).show(result.divergences)
        summary = ", ".join(f"{n} {sev}" for sev, n in result.summary().items() if n)
        self._summary = (f"replayed: {summary or 'no divergences'} · n/p: next/prev divergence "
                         "· c: its causes · 3: memory map")
        self.query_one("#status", Static).update(self._summary)
        table = self.query_one(EventTable)
        table.prefetch(sorted({d.seq for d in result.divergences if d.seq is not None})[:32])
        if message.results_dir is not None:
            self.load_timeline(message.results_dir, self.source.trace, 48)
            self.load_plots(message.results_dir, self.source.trace)
        self._refresh_state()

    def on_timeline_loaded(self, message: TimelineLoaded) -> None:
        self.query_one(MemoryMap).timeline(message.counts)

    def on_plots_loaded(self, message: PlotsLoaded) -> None:
        self.query_one(TracePlots).show(message)

    def on_state_computed(self, message: StateComputed) -> None:
        self.query_one(StatePanel).show(message.snapshot, message.gpa, message.history)
        self.query_one(MemoryMap).show(message.snapshot)

    def on_causes_loaded(self, message: CausesLoaded) -> None:
        self.query_one(DivergencePanel).show_causes(message.rows, self.sbit)

    # --- the table and the panels -------------------------------------------------------------

    async def on_event_table_cursor_moved(self, message: EventTable.CursorMoved) -> None:
        if message.row is None:
            return
        if not self._started:
            await self._start_background()
            return
        self.query_one(TracePlots).follow(int(message.row["seq"]))
        gpa = event_gpa(message.row, self.sbit)
        if gpa is not None:
            self.focus_gpa = gpa
            self.query_one(MemoryMap).set_focus(gpa, self.focus_span)
        self._refresh_state()

    def _refresh_state(self) -> None:
        # only while the state or memory tab shows: indexing a big trace's model state is a
        # full scan, which would slow the filters of someone who only reads the events
        if self.query_one(TabbedContent).active not in ("state", "memory"):
            return
        row = self.query_one(EventTable).current_row()
        if row is not None:
            self.compute_state(int(row["seq"]), self.focus_gpa)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id in ("state", "memory"):
            self._refresh_state()

    def on_divergence_panel_chosen(self, message: DivergencePanel.Chosen) -> None:
        self._jump(message.divergence)

    def _jump(self, d: Divergence) -> None:
        table = self.query_one(EventTable)
        table.marks = {s: "cause" for s in d.cause_seqs}
        if d.seq is not None:
            table.marks[d.seq] = "reveal"
            table.go_to_seq(d.seq)
        table.refresh()
        self._cause_at = -1
        if d.gpa_start is not None and d.gpa_end is not None:
            self.focus_gpa, self.focus_span = d.gpa_start, (d.gpa_start, d.gpa_end)
            self.query_one(MemoryMap).set_focus(d.gpa_start, self.focus_span)
        if d.cause_seqs:
            self.load_causes(d.cause_seqs)

    # --- filters ------------------------------------------------------------------------------

    def on_filter_bar_changed(self, message: FilterBar.Changed) -> None:
        bar = self.query_one(FilterBar)
        self._filter_generation += 1
        self.source.interrupt_counts()
        self._query = None
        try:
            counted = query(message.filter, self.sbit)
        except FilterError as exc:
            bar.mark_invalid(exc.field)
            bar.summary(str(exc), error=True)
            return
        bar.mark_invalid(None)
        if counted is None:
            self.query_one(EventTable).set_view(self.source.full_view())
            bar.summary(f"no filter: {self.source.rows:,} events")
            return
        bar.summary("counting…", counted.where)
        self._start_count(counted)

    def _start_count(self, counted: Query) -> None:
        self._query = counted
        row = self.query_one(EventTable).current_row()
        self.count_view(counted, self._filter_generation, int(row["row"]) if row is not None else 0)

    def on_index_ready(self, message: IndexReady) -> None:
        self.index_ready = True
        if message.note:
            self.notify(escape_control(message.note), markup=False,
                        severity="warning" if message.index is None else "information")
        counting = self._query
        if counting is not None and self._in_sidecar(counting):
            self._filter_generation += 1  # still scanning the trace: count in the sidecar now
            self.source.interrupt_counts()
            self._start_count(counting)

    def _in_sidecar(self, counted: Query) -> bool:
        """The filter is counted in the attached filter index or histogram, not the trace."""
        return (counted.indexed and self.source.index is not None) or \
            (counted.histogram and self.source.histogram is not None)

    def on_view_counted(self, message: ViewCounted) -> None:
        if message.generation != self._filter_generation:
            return
        self.query_one(EventTable).set_view(message.view)
        if message.partial:
            self.query_one(FilterBar).summary(
                f"{message.view.total:,}+ events (counting the rest…)", message.view.where)
            return
        self._query = None
        took = f" ({message.seconds:.1f} s)" if message.seconds >= 1 else ""
        self.query_one(FilterBar).summary(
            f"{message.view.total:,} of {self.source.rows:,} events{took}", message.view.where)

    def on_filter_failed(self, message: FilterFailed) -> None:
        if message.generation == self._filter_generation:
            self._query = None
            self.query_one(FilterBar).summary(escape_control(message.error), error=True)

    # --- actions ------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self._side_mounted or action not in self.SIDE_ACTIONS

    def action_divergence(self, delta: int) -> None:
        self.query_one(DivergencePanel).step(delta)

    def action_cause(self) -> None:
        d = self.query_one(DivergencePanel).selected
        if d is None or not d.cause_seqs:
            self.notify("no divergence with causes selected (n picks one)")
            return
        self._cause_at = (self._cause_at + 1) % len(d.cause_seqs)
        self.query_one(EventTable).go_to_seq(d.cause_seqs[self._cause_at])

    def action_goto(self) -> None:
        from tdxray.tui.prompt import GotoScreen

        def go(seq: int | None) -> None:
            if seq is not None:
                self.query_one(EventTable).go_to_seq(seq)

        self.app.push_screen(GotoScreen(), go)

    def action_search(self) -> None:
        self.query_one("#filter-text", Input).focus()

    def action_filters(self) -> None:
        self.query_one("#filter-kind", Input).focus()

    def action_clear_filter(self) -> None:
        self.query_one(FilterBar).clear()
        self.query_one(EventTable).focus()

    def action_table(self) -> None:
        self.query_one(EventTable).focus()

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def action_zoom(self, factor: float) -> None:
        self.action_tab("memory")
        self.query_one(MemoryMap).zoom(factor)

    def action_zoom_all(self) -> None:
        self.query_one(MemoryMap).zoom_to(None)

    def action_zoom_range(self) -> None:
        self.action_tab("memory")
        self.query_one(MemoryMap).zoom_to(self.focus_span)

    def action_sql(self, initial: str = "") -> None:
        from tdxray.tui.sql_panel import SqlScreen

        self.app.push_screen(SqlScreen(self.ref.path.parent, initial, self.sql_history,
                                       label=self.ref.source))

    def action_filter_sql(self) -> None:
        where = self.query_one(EventTable).view.where
        trace = self.source.trace.trace_id.replace("'", "''")
        query = f"SELECT * FROM events WHERE trace_id = '{trace}'"
        self.action_sql(query + (f" AND ({where})" if where else "") + " ORDER BY seq")
