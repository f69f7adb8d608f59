"""Golden divergence results: what every sample trace and simulator scenario replays to today.

Each case's `tdxray check --format json` report, its divergences.parquet (rows and replay
metadata) and its page history are kept under tests/data/golden/<case>.json; test_golden.py
compares them byte for byte. A change of model semantics made on purpose regenerates them:

    make golden            (= .venv/bin/python -m tdxray.tests.golden)

Page-history rows are compared as a sorted list: their order in the Parquet file is not part
of the results (every reader orders or filters them), their values are.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from tdxray.benchmarks import synthetic
from tdxray.cli.main import cli
from tdxray.model.outputs import DIVERGENCES_FILE, META_REPLAY, PAGE_HISTORY_FILE
from tdxray.simulator.run import simulate
from tdxray.simulator.scenarios import SCENARIOS
from tdxray.simulator.writer import write_trace

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_traces"
GOLDEN = Path(__file__).resolve().parent / "data" / "golden"
REGENERATE = "make golden  (or: .venv/bin/python -m tdxray.tests.golden)"
# Small row groups: the replay's batch boundaries fall inside every story.
SMALL_ROW_GROUPS = 1_000


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[Path], Path]  # writes (or names) the trace in a scratch directory


def _sample(path: Path) -> Case:
    return Case(f"sample-{path.stem}", lambda scratch: path)


def _scenario(name: str, variant: str, options: dict[str, Any], row_group: int | None) -> Case:
    def make(scratch: Path) -> Path:
        sim = simulate(SCENARIOS[name].config(**options))
        out = scratch / "trace.parquet"
        with pytest.MonkeyPatch.context() as mp:
            if row_group is not None:
                mp.setattr("tdxray.store.write.ROW_GROUP_ROWS", row_group)
            write_trace(out, sim.header, sim.batches())
        return out
    return Case(f"sim-{name}-{variant}", make)


def _synthetic(variant: str, events: int) -> Case:
    def make(scratch: Path) -> Path:
        out = scratch / "trace.parquet"
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr("tdxray.store.write.ROW_GROUP_ROWS", SMALL_ROW_GROUPS)
            synthetic.write(out, variant, events)
        return out
    return Case(f"synthetic-{variant}", make)


def _variant(name: str) -> dict[str, Any]:
    """More vCPUs, a v0 mailbox where the scenario allows it, another seed, fewer events."""
    scenario = SCENARIOS[name]
    options: dict[str, Any] = {"events": 6_000, "seed": 3}
    if scenario.required.get("vcpus") != 1:
        options["vcpus"] = max(3, scenario.min_vcpus)
    if "mailbox_version" not in scenario.required:
        options["mailbox_version"] = 0
    if "memory_mode" not in scenario.required:
        options["memory_mode"] = "lazy"
    return options


def cases() -> list[Case]:
    out = [_sample(p) for p in sorted(SAMPLES.glob("*.jsonl"))]
    for name in SCENARIOS:
        out.append(_scenario(name, "default", {}, None))
        out.append(_scenario(name, "variant", _variant(name), SMALL_ROW_GROUPS))
    out += [_synthetic("buffers", 1_500), _synthetic("random_pages", 900)]
    return out


def _invoke(args: list[str]) -> str:
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    if result.exit_code not in (0, 1):
        raise RuntimeError(f"tdxray {' '.join(args)}: exit {result.exit_code}\n{result.output}")
    return result.output


def _rows(path: Path) -> list[dict[str, Any]]:
    return pq.read_table(path).to_pylist()


def produce(case: Case) -> str:
    """The case's golden text: report, divergences and page history, one JSON document."""
    with tempfile.TemporaryDirectory(prefix="tdxray-golden-") as tmp:
        scratch = Path(tmp)
        trace = case.make(scratch)
        report = json.loads(_invoke(["check", str(trace), "--format", "json"]))
        report["tool"]["version"] = "VERSION"
        for entry in report["traces"]:
            entry["source"] = "TRACE"
            for div in entry["divergences"]:  # the trace's path or its ingest-time path
                if div["source"]["file"] == str(trace):
                    div["source"]["file"] = "TRACE"
        results = scratch / "results"
        _invoke(["replay", str(trace), "-o", str(results)])
        meta = pq.read_schema(results / DIVERGENCES_FILE).metadata or {}
        history = sorted(_rows(results / PAGE_HISTORY_FILE),
                         key=lambda r: json.dumps(r, sort_keys=True))
        lines = [
            '{"report": ' + json.dumps(report, sort_keys=True) + ",",
            ' "replay": ' + json.dumps(json.loads(meta[META_REPLAY]), sort_keys=True) + ",",
            ' "divergences": [',
            ",\n".join("  " + json.dumps(r, sort_keys=True)
                       for r in _rows(results / DIVERGENCES_FILE)),
            " ],",
            ' "page_history": [',
            ",\n".join("  " + json.dumps(r, sort_keys=True) for r in history),
            " ]}",
        ]
        return "\n".join(lines) + "\n"


def golden_path(case: Case) -> Path:
    return GOLDEN / f"{case.name}.json"


def regenerate() -> None:
    shutil.rmtree(GOLDEN, ignore_errors=True)
    GOLDEN.mkdir(parents=True)
    for case in cases():
        golden_path(case).write_text(produce(case))
        print(f"wrote {golden_path(case).relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    regenerate()
