"""analyses/state_at.py plans the TD's death as replay does: at every cursor of a trace the state
panel's model agrees with the replay of the trace cut at that cursor (alive or dead since which
event, phase, generation, shared pages)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tdxray.analyses.state_at import StateCursor, state_at
from tdxray.model.replay import replay_trace
from tdxray.store.read import open_trace
from tdxray.tests.support import number, write_trace
from tdxray.tests.test_death import shutdown, triple_fault
from tdxray.tests.test_rules import BUF, boot, phase, share

PAGE = 0x1000
DEATH_SEQ = 6


def death_story() -> list[dict[str, Any]]:
    """A fixed kernel's kexec; the host sees the TD die right after the jump (seq 6, C001 by
    its effect); a MapGPA and a second boot after it are listed but not judged."""
    return number([boot(), share(BUF, PAGE), phase("begin"), phase("finish"), phase("jump"),
                   triple_fault(), shutdown(), share(BUF + PAGE, PAGE), boot()])


def first_fatal(path: Path) -> int | None:
    fatal = [d.seq for d in replay_trace(path).divergences if d.severity == "fatal"]
    return min(fatal) if fatal else None


def test_state_at_agrees_with_the_replay_at_every_cursor(tmp_path: Path) -> None:
    events = death_story()
    whole = write_trace(tmp_path / "whole.parquet", events)
    assert [(d.rule, d.seq) for d in replay_trace(whole).divergences
            if d.severity != "info"] == [("C001", DEATH_SEQ), ("K001", 5)]
    cursor = StateCursor(open_trace(whole))
    for seq in range(1, len(events) + 1):
        cut = write_trace(tmp_path / f"cut{seq}.parquet", events[:seq])
        snap = cursor.at(seq)
        replayed = replay_trace(cut)
        assert (snap.dead_seq, snap.alive) == (first_fatal(cut), seq < DEATH_SEQ), seq
        assert snap.generation + 1 == replayed.generations, seq
    dead = cursor.at(len(events))
    assert (dead.phase, dead.dead_seq, dead.generation, dead.shared_pages) == (
        "dead", DEATH_SEQ, 0, 1)  # the MapGPA and the boot after the death change nothing
    assert cursor.at(DEATH_SEQ - 1).phase == "jumped"  # going back: a fresh, planned model


@pytest.mark.parametrize("seq", [5, 6, 9])
def test_state_at_of_a_fresh_cursor_plans_the_death(tmp_path: Path, seq: int) -> None:
    path = write_trace(tmp_path / "t.parquet", death_story())
    snap = state_at(open_trace(path), seq)
    assert snap.dead_seq == (DEATH_SEQ if seq >= DEATH_SEQ else None)


def test_near_miss_no_death_event_keeps_the_td_alive(tmp_path: Path) -> None:
    events = [e for e in death_story() if e["kind"] not in ("kvm_exit", "kvm_userspace_exit")]
    path = write_trace(tmp_path / "t.parquet", events)
    snap = state_at(open_trace(path), events[-1]["seq"])
    assert (snap.alive, snap.phase, snap.generation) == (True, "running", 1)
