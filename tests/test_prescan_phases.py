"""The prescan's kexec phases and console markers: the same from the kind column's dictionary
codes as from its strings, the text looked at only on console lines."""

from __future__ import annotations

import pyarrow as pa
import pytest

from tdxray.model.prescan import Prescan, scan_phases

KINDS = ["log", "kexec", "tdvmcall", "log", "log", "kexec", "log", "log"]
TEXT = ["[    0.000000] Linux version 6.12.0", None, "Linux version on a TDVMCALL row",
        "[    5.1][  T1] kexec_core: Starting new kernel", "an ordinary line", None, None,
        "[    0.000000] [    T0]   Linux version 6.12.0 (kdump)"]
PHASES = [None, "load", None, None, None, "jump", None, None]
WANT = [(10, "boot", False), (11, "load", True), (13, "shutdown", False), (15, "jump", True),
        (17, "boot", False)]


def _batch(kind: pa.Array, text: bool = True) -> pa.RecordBatch:
    columns = {"seq": pa.array(range(10, 10 + len(KINDS)), pa.uint64()), "kind": kind,
               "phase": pa.array(PHASES, pa.string()).dictionary_encode()}
    if text:
        columns["text"] = pa.array(TEXT, pa.string())
    return pa.record_batch(columns)


@pytest.mark.parametrize("encoded", [True, False])
def test_markers_and_kexec_events_in_row_order(encoded: bool) -> None:
    kind = pa.array(KINDS, pa.string())
    batch = _batch(kind.dictionary_encode() if encoded else kind)
    scan = Prescan()
    scan_phases(scan, batch, batch.column("kind"))
    assert scan.phase_items == WANT


def test_without_text_only_the_kexec_events() -> None:
    batch = _batch(pa.array(KINDS, pa.string()).dictionary_encode(), text=False)
    scan = Prescan()
    scan_phases(scan, batch, batch.column("kind"))
    assert scan.phase_items == [(11, "load", True), (15, "jump", True)]


def test_a_dictionary_without_the_kinds_finds_nothing() -> None:
    kind = pa.array(["tdvmcall"] * len(KINDS), pa.string()).dictionary_encode()
    scan = Prescan()
    scan_phases(scan, _batch(kind), kind)
    assert scan.phase_items == []
