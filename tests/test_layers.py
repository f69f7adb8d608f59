"""The architecture as a test: lower layers never import upper ones, and no module imports
itself back through others (lazy imports inside functions included)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# A package may import from the packages listed for it (and from itself).
ALLOWED: dict[str, set[str]] = {
    "schema": set(),
    "store": {"schema"},
    "ingest": {"schema", "store"},
    "export": {"schema", "ingest"},
    "model": {"schema", "store"},
    "simulator": {"schema", "store", "export"},
    "analyses": {"schema", "store", "model", "ingest", "export"},
    "fleet": {"schema", "store", "model", "analyses"},  # analyses: a divergence's source line
    "report": {"schema", "store", "model", "ingest", "export", "analyses"},
}


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        top = rel.parts[0]
        if top in {"tests", "build", "sample_traces"} or top.startswith("."):
            continue
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(["tdxray", *parts])] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The tdxray modules `name` imports, anywhere in its body."""
    out: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                       for a in node.names]
        out.update(t for t in targets if t in MODULES and t != name)
    return out


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _layer(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_lower_layers_never_import_upper_ones(layer: str) -> None:
    allowed = ALLOWED[layer] | {layer}
    bad = sorted(f"{m} -> {t}" for m, targets in GRAPH.items() if _layer(m) == layer
                 for t in targets if _layer(t) and _layer(t) not in allowed)
    assert not bad


def test_no_import_circles() -> None:
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [])
    # a package's __init__ re-exporting its modules is not a circle of code
    real = [c for c in cycles if not any(MODULES[m].name == "__init__.py" for m in c)]
    assert not real
