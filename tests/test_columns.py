"""BatchView's numpy columns read from Arrow buffers: the same values as pyarrow.compute gives,
on sliced arrays (a non-zero offset) and every integer width."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from tdxray.model.columns import BatchView, distinct, filled, isin_small, validity

TYPES = {"uint8": (pa.uint8(), 0, 255), "uint32": (pa.uint32(), 0, 2**32 - 1),
         "uint64": (pa.uint64(), 0, 2**64 - 1), "int64": (pa.int64(), -2**63, 2**63 - 1)}


@st.composite
def columns(draw: st.DrawFn) -> tuple[pa.Array, int]:
    kind, lo, hi = TYPES[draw(st.sampled_from(sorted(TYPES)))]
    values = draw(st.lists(st.one_of(st.none(), st.integers(lo, hi)), min_size=1, max_size=70))
    array = pa.array(values, type=kind)
    start = draw(st.integers(0, len(values) - 1))
    fill = draw(st.sampled_from([0, 1, hi]))
    return array.slice(start, draw(st.integers(0, len(values) - start))), fill


@settings(max_examples=300, deadline=None)
@given(columns())
def test_filled_and_validity_match_pyarrow(case: tuple[pa.Array, int]) -> None:
    col, fill = case
    assert validity(col).tolist() == pc.is_valid(col).to_pylist()
    assert filled(col, fill).tolist() == pc.fill_null(col, fill).to_pylist()


def test_is_kind_masks_every_row_of_the_kinds_asked() -> None:
    kinds = ["log", "accept", "map_gpa", "log", "cpu", "accept"]
    batch = pa.record_batch({"kind": pa.array(kinds).dictionary_encode()})
    view = BatchView(batch)
    assert view.is_kind("accept", "log").tolist() == [True, True, False, True, False, True]
    assert view.is_kind("kexec").tolist() == [False] * 6


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-2**63, 2**63 - 1), max_size=40))
def test_distinct_is_numpys_unique(values: list[int]) -> None:
    array = np.array(values, dtype=np.int64)
    assert distinct(array).tolist() == np.unique(array).tolist()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 2**64 - 1) | st.integers(0, 70), max_size=60),
       st.lists(st.integers(0, 0x10001), min_size=1, max_size=6))
def test_isin_small_is_numpys_isin(values: list[int], known: list[int]) -> None:
    array, table = np.array(values, dtype=np.uint64), np.array(known, dtype=np.uint64)
    assert isin_small(array, table).tolist() == np.isin(array, table).tolist()
