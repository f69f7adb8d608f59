"""The model's state at the cursor: the page under it and its history, vCPUs and CR4, the
mailbox, the kernel's generation and phase, shared pages."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from tdxray.analyses.page_history import Interval
from tdxray.analyses.state_at import ModelSnapshot

STATE_STYLE = {"private": "green", "shared": "bold magenta", "pending": "bold yellow",
               "unaccepted": "cyan", "none": "dim"}


def _seq(seq: int | None) -> str:
    return "start" if seq is None else str(seq)


def _history(history: list[Interval]) -> Table:
    table = Table("state", "from", "to", "gen", "cause", box=None, padding=(0, 1),
                  header_style="bold")
    for h in history:
        table.add_row(Text(h.state, STATE_STYLE.get(h.state, "")), _seq(h.from_seq),
                      "end" if h.to_seq is None else str(h.to_seq), str(h.generation),
                      _seq(h.cause_seq) if h.cause_seq is not None else "-")
    return table


def _cpus(snap: ModelSnapshot) -> Table:
    table = Table("APIC", "state", "since", "CR4", box=None, padding=(0, 1), header_style="bold")
    for cpu in snap.cpus:
        cr4 = "-" if cpu.cr4 is None else f"{cpu.cr4:#x} " + "|".join(cpu.cr4_bits)
        mce = "" if cpu.cr4 is None or "MCE" in cpu.cr4_bits else " (no MCE!)"
        table.add_row(str(cpu.apic_id), cpu.state, _seq(cpu.since_seq),
                      Text(cr4 + mce, "red" if mce else ""))
    return table


def render_state(snap: ModelSnapshot, gpa: int | None, history: list[Interval]) -> list[object]:
    head = Text()
    head.append(f"after seq {snap.seq}", "bold")
    head.append(f"  generation {snap.generation} · phase {snap.phase}")
    if snap.conversions_stopped:
        head.append(" · conversions stopped")
    head.append("\nshared pages: ")
    head.append(str(snap.shared_pages), "bold magenta" if snap.shared_pages else "")
    head.append(f" · pending pages: {snap.pending_pages}")
    mailbox = Text("\nmailbox: ", "bold")
    vector = "-" if snap.mailbox_vector is None else f"{snap.mailbox_vector:#x}"
    mailbox.append(f"command {snap.mailbox_command} · apic_id "
                   f"{'-' if snap.mailbox_apic_id is None else snap.mailbox_apic_id} · "
                   f"vector {vector} · pending since "
                   f"{'-' if snap.mailbox_pending_since is None else snap.mailbox_pending_since}")
    parts: list[object] = [head, mailbox, Text("\nvCPUs", "bold"), _cpus(snap)]
    if gpa is not None:
        state, cause = snap.page(gpa)
        page = Text(f"\npage {gpa & ~0xFFF:#x}: ", "bold")
        page.append(state, STATE_STYLE.get(state, ""))
        page.append(f" (caused by seq {cause})" if cause is not None else " (since start)")
        parts += [page, Text("history of this page (page_history):", "dim"),
                  _history(history) if history else Text("  no history stored", "dim")]
    else:
        parts.append(Text("\nno GPA under the cursor: move to a MapGPA, ACCEPT or access, or "
                          "pick a divergence with a range", "dim"))
    return parts


class StatePanel(VerticalScroll):
    DEFAULT_CSS = "StatePanel > Static { height: auto; }"

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static("model state at the cursor: computing…", id="state-text")

    def show(self, snap: ModelSnapshot, gpa: int | None, history: list[Interval]) -> None:
        from rich.console import Group

        self.query_one("#state-text", Static).update(Group(*render_state(snap, gpa, history)))

    def note(self, text: str) -> None:
        self.query_one("#state-text", Static).update(Text(text, "dim"))
