"""Shared fixtures: build a trace from a list of events and replay it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tdxray.model.replay import replay_trace
from tdxray.model.result import ReplayResult
from tdxray.schema.td import TdConfig
from tdxray.tests.support import Events, write_trace


@pytest.fixture
def replay(tmp_path: Path) -> Callable[..., ReplayResult]:
    counter = iter(range(1_000_000))

    def run(events: Events, td: TdConfig | None = None) -> ReplayResult:
        path = write_trace(tmp_path / f"t{next(counter)}.parquet", events, td)
        return replay_trace(path)

    return run
