"""Simulator agreement: replay finds exactly the rules each scenario is built to trigger.

Over every scenario, several seeds, vCPU counts, mailbox versions, GPAWs, memory modes and
sizes. Clean scenarios must give nothing above info at any of them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tdxray.model.replay import replay_trace
from tdxray.simulator.config import SimConfig
from tdxray.simulator.run import simulate
from tdxray.simulator.scenarios import SCENARIOS
from tdxray.simulator.writer import write_parquet

VARIANTS = [
    dict(seed=1),
    dict(seed=2, vcpus=4, gpaw=52),
    dict(seed=3, vcpus=1, memory_mode="lazy"),
    dict(seed=4, vcpus=3, mailbox_version=0, events=20_000),
    dict(seed=5, vcpus=8, memory=6 << 30, events=60_000),
    dict(seed=6, vcpus=1, gpaw=52, events=5_000),
]


def _found(tmp_path: Path, cfg: SimConfig) -> tuple[set[str], set[str]]:
    sim = simulate(cfg)
    path = tmp_path / f"{cfg.resolved_trace_id}.parquet"
    write_parquet(path, sim.header, sim.batches())
    result = replay_trace(path)
    assert result.events == sim.total_events
    got = {d.rule for d in result.divergences if d.severity != "info"}
    return got, set(sim.header.expected_rules or ())


def _supported() -> list[tuple[str, int]]:
    """Every (scenario, variant) pair the scenario accepts: a refused pair is not a test at all."""
    pairs = []
    for scenario in sorted(SCENARIOS):
        for variant, params in enumerate(VARIANTS):
            try:
                SCENARIOS[scenario].config(**{"events": 3000, **params})
            except ValueError:
                continue
            pairs.append((scenario, variant))
    return pairs


def test_every_scenario_runs_under_most_variants() -> None:
    counts = {name: 0 for name in SCENARIOS}
    for scenario, _ in _supported():
        counts[scenario] += 1
    assert min(counts.values()) >= 3, counts


@pytest.mark.parametrize(("scenario", "variant"), _supported())
def test_replay_finds_exactly_the_declared_rules(tmp_path: Path, scenario: str,
                                                 variant: int) -> None:
    params = {"events": 3000, **VARIANTS[variant]}
    cfg = SCENARIOS[scenario].config(**params)
    got, expected = _found(tmp_path, cfg)
    assert got == expected, f"{scenario} {params}"
