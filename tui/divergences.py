"""The divergences panel: findings grouped by severity and rule; the selected one explained."""

from __future__ import annotations

from collections import defaultdict

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Static, Tree
from textual.widgets.tree import TreeNode

from tdxray.analyses.escape import escape_control
from tdxray.model.catalogue import SEVERITIES
from tdxray.model.divergence import Divergence
from tdxray.tui.describe import Row, describe
from tdxray.tui.event_table import seconds

SEVERITY_STYLE = {"fatal": "bold red", "error": "red", "warning": "yellow", "info": "dim"}


def where(d: Divergence) -> str:
    parts = []
    if d.gpa_start is not None and d.gpa_end is not None:
        parts.append(f"[{d.gpa_start:#x}, {d.gpa_end:#x})")
    if d.pages is not None:
        parts.append(f"{d.pages} page{'s' if d.pages != 1 else ''}")
    if d.apic_id is not None:
        parts.append(f"APIC {d.apic_id}")
    parts.append(f"seq {d.seq}" if d.seq is not None else "no event")
    return " · ".join(parts)


class DivergencePanel(Vertical):
    DEFAULT_CSS = """
    DivergencePanel Tree { height: 1fr; min-height: 6; }
    DivergencePanel #div-detail { height: auto; max-height: 14; border-top: solid $primary; }
    """

    class Chosen(Message):
        """A divergence was selected: jump to it."""

        def __init__(self, divergence: Divergence) -> None:
            super().__init__()
            self.divergence = divergence

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.divergences: list[Divergence] = []
        self.selected: Divergence | None = None

    def compose(self) -> ComposeResult:
        tree: Tree[Divergence] = Tree("divergences", id="div-tree")
        tree.show_root = False
        tree.root.add_leaf("replaying…")
        yield tree
        with VerticalScroll(id="div-detail"):
            yield Static("Select a divergence (Enter) to jump to the event that revealed it.",
                         id="div-text")

    def show(self, divergences: list[Divergence]) -> None:
        tree: Tree[Divergence] = self.query_one("#div-tree", Tree)
        tree.clear()
        self.divergences = []
        groups: dict[str, dict[str, list[Divergence]]] = defaultdict(lambda: defaultdict(list))
        for d in divergences:
            groups[d.severity][d.rule].append(d)
        if not divergences:
            tree.root.add_leaf("no divergences: the trace agrees with the model")
        for severity in SEVERITIES:
            rules = groups.get(severity)
            if not rules:
                continue
            total = sum(len(v) for v in rules.values())
            node = tree.root.add(Text(f"{severity} ({total})", SEVERITY_STYLE[severity]),
                                 expand=severity != "info")
            for rule, found in sorted(rules.items()):
                self._add_rule(node, rule, found)
        tree.cursor_line = 0

    def _add_rule(self, parent: TreeNode[Divergence], rule: str, found: list[Divergence]) -> None:
        label = f"{rule} {found[0].name}" + (f" ×{len(found)}" if len(found) > 1 else "")
        node = parent.add(Text(label, SEVERITY_STYLE[found[0].severity]), expand=True)
        for d in found:
            node.add_leaf(where(d), data=d)
            self.divergences.append(d)

    def on_tree_node_selected(self, event: Tree.NodeSelected[Divergence]) -> None:
        event.stop()
        if event.node.data is not None:
            self.choose(event.node.data)

    def choose(self, d: Divergence) -> None:
        self.selected = d
        tree: Tree[Divergence] = self.query_one("#div-tree", Tree)
        for node in _leaves(tree.root):
            if node.data is d:
                tree.move_cursor(node)
        self._explain(d, [])
        self.post_message(self.Chosen(d))

    def step(self, delta: int) -> None:
        """Select the next (delta=1) or previous divergence in panel order."""
        if not self.divergences:
            return
        i = self.divergences.index(self.selected) if self.selected in self.divergences else -1
        self.choose(self.divergences[(i + delta) % len(self.divergences)])

    def show_causes(self, rows: list[Row], sbit: int) -> None:
        if self.selected is not None:
            self._explain(self.selected, rows, sbit)

    def _explain(self, d: Divergence, causes: list[Row], sbit: int = 0) -> None:
        text = Text()
        text.append(f"{d.rule} {d.name}", SEVERITY_STYLE[d.severity])
        text.append(f"  ({d.severity}, generation {d.generation})\n")
        text.append(escape_control(d.message) + "\n")
        if d.seq is not None:
            text.append(f"revealed at seq {d.seq} (t={seconds(d.ts_ns)} s, vCPU {d.vcpu})\n",
                        "bold")
        if d.cause_seqs:
            text.append(f"caused by seq {', '.join(map(str, d.cause_seqs))}  (c: go to cause)\n",
                        "bold yellow")
        for row in causes:
            text.append(f"  {row['seq']}: {describe(row, sbit)}\n", "yellow")
        self.query_one("#div-text", Static).update(text)


def _leaves(node: TreeNode[Divergence]) -> list[TreeNode[Divergence]]:
    out = []
    for child in node.children:
        out.append(child)
        out.extend(_leaves(child))
    return out
