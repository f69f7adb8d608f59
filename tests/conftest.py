"""Shared fixtures: build a trace from a list of events and replay it; a simulated trace in many
small row groups for the TUI's filter tests, and small count blocks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tdxray.model.replay import replay_trace
from tdxray.model.result import ReplayResult
from tdxray.schema.td import TdConfig
from tdxray.simulator.run import simulate
from tdxray.simulator.scenarios import SCENARIOS
from tdxray.simulator.writer import write_trace as write_simulation
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


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The TUI counts matches per SMALL_BLOCK rows: many blocks in a small trace."""
    monkeypatch.setattr("tdxray.tui.source.BLOCK", SMALL_BLOCK)
