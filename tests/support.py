"""Test support: build a trace from a list of events, write it, replay it."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import pytest

from tdxray.model.result import ReplayResult
from tdxray.schema.build import events_to_batch
from tdxray.schema.td import Mailbox, TdConfig, TraceHeader
from tdxray.store.write import TraceWriter

SHARED = 1 << 47  # the shared bit at GPAW 48
SMALL_BLOCK = 512  # the TUI's count block in filter tests (fixture small_blocks)

Events = list[dict[str, Any]]


def td_config(vcpus: int = 1, mailbox: int | None = None, memory: str = "accepted",
              **kw: Any) -> TdConfig:
    box = None
    if mailbox is not None:
        box = Mailbox(mailbox, 0x7FFD6000, 0x7FFD7000 if mailbox == 1 else None)
    return TdConfig(gpaw=48, apic_ids=tuple(range(vcpus)), ram=((0, 0x80000000),),
                    memory=memory, mailbox=box, **kw)


def number(events: Events) -> Events:
    """Give events seq 1, 2, … and a timestamp 1 µs apart unless they carry their own."""
    out = []
    ts = 1_000_000
    for i, e in enumerate(events, start=1):
        e = dict(e)
        e.setdefault("seq", i)
        ts = e.setdefault("ts_ns", ts + 1000)
        e.setdefault("vcpu", 0)
        out.append(e)
    return out


def write_trace(path: Path, events: Events, td: TdConfig | None = None,
                trace_id: str = "t") -> Path:
    header = TraceHeader(trace_id, td or td_config())
    with TraceWriter(path, header) as writer:
        if events:
            writer.write_batch(events_to_batch(number(events)))
    return path


def found(result: ReplayResult) -> set[tuple[str, int | None]]:
    """(rule, revealing seq) of every finding above info."""
    return {(d.rule, d.seq) for d in result.divergences if d.severity != "info"}


def rules(result: ReplayResult) -> set[str]:
    return {d.rule for d in result.divergences if d.severity != "info"}


def drain_terminal(leader: int) -> bytes:
    """Everything a child wrote to a pseudo-terminal, read until it closed its side (EIO on
    Linux, or end of file); the leader is closed."""
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    return seen


def need_modules(*names: str, install: str) -> None:
    """A real part the test needs: under CI (CI=1) its absence fails the test, elsewhere it is a
    skip that says what to install."""
    try:
        for name in names:
            importlib.import_module(name)
    except ImportError:
        if os.environ.get("CI") == "1":
            pytest.fail(f"CI: {install} is not installed")
        pytest.skip(f"install {install} to run this test")
