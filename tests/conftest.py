"""Shared fixtures: build a trace from a list of events and replay it; a simulated trace in many
small row groups for the TUI's filter tests, and small count blocks."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tdxray.model.replay import replay_trace
from tdxray.model.result import ReplayResult
from tdxray.schema.td import TdConfig
from tdxray.simulator.run import simulate
from tdxray.simulator.scenarios import SCENARIOS
from tdxray.simulator.writer import write_trace as write_simulation
from tdxray.tests.s3server import S3Server, s3_server
from tdxray.tests.support import SMALL_BLOCK, Events, write_trace


@pytest.fixture
def replay(tmp_path: Path) -> Callable[..., ReplayResult]:
    counter = iter(range(1_000_000))

    def run(events: Events, td: TdConfig | None = None) -> ReplayResult:
        path = write_trace(tmp_path / f"t{next(counter)}.parquet", events, td)
        return replay_trace(path)

    return run


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated trace in many small row groups: failures, MapGPAs, ACCEPTs, accesses."""
    path = tmp_path_factory.mktemp("store") / "sim.parquet"
    sim = simulate(SCENARIOS["kdump-shared-read"].config(events=30_000, seed=5))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("tdxray.store.write.ROW_GROUP_ROWS", 2_000)
        write_simulation(path, sim.header, sim.batches())
    return path


@pytest.fixture(scope="session")
def kernel_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One workload on two kernels: the unfixed one (A) and the fixed one (B), same seed."""
    root = tmp_path_factory.mktemp("pair")
    out = []
    for name in ("unfixed-kernel", "single-vcpu-kexec"):
        cfg = SCENARIOS[name].config(events=300, memory=512 << 20, seed=3, trace_id="pair")
        sim = simulate(cfg)
        path = root / f"{name}.parquet"
        write_simulation(path, sim.header, sim.batches())
        out.append(path)
    return out[0], out[1]


@pytest.fixture(scope="session")
def long_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trace that replays for a while (1M events): a window the race and SIGTERM tests stop
    a check in."""
    path = tmp_path_factory.mktemp("long") / "long.parquet"
    sim = simulate(SCENARIOS["smp-v1-kexec"].config(events=1_000_000, seed=0))
    write_simulation(path, dataclasses.replace(sim.header, trace_id="raced"), sim.batches())
    return path


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The TUI counts matches per SMALL_BLOCK rows: many blocks in a small trace."""
    monkeypatch.setattr("tdxray.tui.source.BLOCK", SMALL_BLOCK)


@pytest.fixture(autouse=True)
def _reports_match_their_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every JSON report and JSON Lines record that any test makes tdxray print (through the
    CLI or the format functions) is validated against the schema shipped in the package."""
    from tdxray.analyses.formats import json_
    from tdxray.tests.schemas import check_jsonl_record, check_report

    report, records = json_.report, json_.records

    def checked_report(*args: Any, **kw: Any) -> dict[str, object]:
        doc = report(*args, **kw)
        check_report(doc)
        return doc

    def checked_records(*args: Any, **kw: Any) -> list[dict[str, object]]:
        out = records(*args, **kw)
        for record in out:
            check_jsonl_record(record)
        return out

    monkeypatch.setattr(json_, "report", checked_report)
    monkeypatch.setattr(json_, "records", checked_records)


@pytest.fixture(autouse=True)
def _sarif_matches_the_standard(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every SARIF log a test makes tdxray write is validated against the SARIF 2.1.0 schema
    (vendored in tests/data/sarif)."""
    from tdxray.analyses.formats import sarif
    from tdxray.tests.schemas import check_sarif

    sarif_log = sarif.sarif_log

    def checked(*args: Any, **kw: Any) -> dict[str, object]:
        log = sarif_log(*args, **kw)
        check_sarif(log)
        return log

    monkeypatch.setattr(sarif, "sarif_log", checked)


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    """One S3-compatible server (moto, loopback, checking credentials) for the whole run."""
    with s3_server() as server:
        yield server
