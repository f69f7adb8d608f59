"""Run a scenario: tell the story, add the noise, and hand back the header and the batches."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from tdxray import __version__
from tdxray.schema.td import TraceHeader, check_trace_id
from tdxray.simulator.config import SimConfig, format_size
from tdxray.simulator.kernel import Kernel
from tdxray.simulator.merge import merged_batches
from tdxray.simulator.scenarios import get_scenario

NOISE_STREAM = 1  # noise draws from its own stream: the story does not shift it


@dataclass(frozen=True)
class Simulation:
    header: TraceHeader
    script_events: int
    total_events: int
    kernel: Kernel

    def batches(self) -> Iterator[pa.RecordBatch]:
        k = self.kernel
        end_ns = k.s.now
        rng = np.random.default_rng([k.cfg.seed, NOISE_STREAM])
        noise = self.total_events - self.script_events
        return merged_batches(k.s.events, k.s.segments(end_ns), noise, rng, k.sbit)


def simulate(cfg: SimConfig) -> Simulation:
    scenario = get_scenario(cfg.scenario)
    check_trace_id(cfg.resolved_trace_id)
    kernel = Kernel(cfg, np.random.default_rng(cfg.seed))
    scenario.story(kernel)
    script_events = len(kernel.s.events)
    header = TraceHeader(
        trace_id=cfg.resolved_trace_id,
        td=kernel.td,
        provenance=provenance(cfg),
        expected_rules=scenario.expected_rules(cfg),
    )
    total = max(cfg.events, script_events)
    return Simulation(header, script_events, total, kernel)


def provenance(cfg: SimConfig) -> dict[str, object]:
    return {
        "tool": "tdxray simulate",
        "version": __version__,
        "scenario": cfg.scenario,
        "seed": cfg.seed,
        "vcpus": cfg.vcpus,
        "memory": format_size(cfg.memory),
        "gpaw": cfg.gpaw,
        "mailbox_version": cfg.mailbox_version,
        "memory_mode": cfg.memory_mode,
        "events": cfg.events,
    }
