"""One record batch seen as numpy: kind codes and null-filled numeric columns, computed once."""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


class BatchView:
    def __init__(self, batch: pa.RecordBatch) -> None:
        self.batch = batch
        self.rows = batch.num_rows
        kind = batch.column("kind")
        if not isinstance(kind, pa.DictionaryArray):
            kind = pc.dictionary_encode(kind)
        self._codes = kind.indices.to_numpy(zero_copy_only=False)
        self.kind_names: list[str] = kind.dictionary.to_pylist()
        self._masks: dict[str, np.ndarray] = {}
        self._numbers: dict[str, np.ndarray] = {}

    def is_kind(self, *names: str) -> np.ndarray:
        """Rows whose kind is one of names."""
        key = "|".join(names)
        mask = self._masks.get(key)
        if mask is None:
            codes = [i for i, n in enumerate(self.kind_names) if n in names]
            mask = np.zeros(self.rows, dtype=bool)
            for code in codes:  # a compare per kind beats a table lookup per row
                mask |= self._codes == code
            self._masks[key] = mask
        return mask

    def has_kind(self, name: str) -> bool:
        return name in self.kind_names and bool(self.is_kind(name).any())

    def number(self, column: str, fill: int = 0) -> np.ndarray:
        """An integer column as numpy, nulls replaced by `fill`."""
        key = f"{column}:{fill}"
        arr = self._numbers.get(key)
        if arr is None:
            arr = filled(self.batch.column(column), fill)
            self._numbers[key] = arr
        return arr

    def valid(self, column: str) -> np.ndarray:
        return validity(self.batch.column(column))

    @cached_property
    def seq(self) -> np.ndarray:
        return self.number("seq")

    @cached_property
    def ts(self) -> np.ndarray:
        return self.number("ts_ns")

    @cached_property
    def vcpu(self) -> np.ndarray:
        return self.number("vcpu")

    def strings_at(self, column: str, rows: np.ndarray) -> list[str | None]:
        col = self.batch.column(column)
        return col.take(pa.array(rows)).cast(pa.string()).to_pylist() if len(rows) else []

    # The masks below are computed once per batch (the prescan and the core's mask both ask);
    # like is_kind's, callers never change them in place.
    @cached_property
    def _standard_vmcall(self) -> np.ndarray:
        return self.is_kind("tdvmcall") & (self.number("r10") == 0)

    def standard_vmcall(self) -> np.ndarray:
        """TDVMCALLs of the standard ABI (R10 = 0 or not recorded), not KVM hypercalls."""
        return self._standard_vmcall

    @cached_property
    def _generic_mapgpa(self) -> np.ndarray:
        from tdxray.schema.constants import Subfn

        # only with its operands: a MapGPA without R12/R13 (a host's KVM_EXIT_HYPERCALL) names
        # no range, and replay does not judge it (replay._dispatch)
        return self.standard_vmcall() & (self.number("subfn") == int(Subfn.MAP_GPA)) \
            & self.valid("subfn") & self.valid("r12") & self.valid("r13")

    def generic_mapgpa(self) -> np.ndarray:
        return self._generic_mapgpa

    @cached_property
    def _generic_accept(self) -> np.ndarray:
        from tdxray.schema.constants import Leaf

        return self.is_kind("tdcall") & (self.number("leaf") == int(Leaf.MEM_PAGE_ACCEPT)) \
            & self.valid("leaf")

    def generic_accept(self) -> np.ndarray:
        return self._generic_accept


def validity(col: pa.Array) -> np.ndarray:
    """Which rows hold a value, read from the validity bitmap."""
    n = len(col)
    if col.null_count == 0:
        return np.ones(n, dtype=bool)
    if col.null_count == n:
        return np.zeros(n, dtype=bool)
    bits = np.frombuffer(col.buffers()[0], dtype=np.uint8)
    return np.unpackbits(bits, count=col.offset + n, bitorder="little")[col.offset:].view(bool)


def filled(col: pa.Array, fill: int) -> np.ndarray:
    """An integer column as numpy with nulls replaced by `fill` (a fresh array)."""
    if not col.null_count:
        return col.to_numpy(zero_copy_only=False)
    if not pa.types.is_integer(col.type):
        return pc.fill_null(col, fill).to_numpy(zero_copy_only=False)
    dtype = np.dtype(col.type.to_pandas_dtype())
    if col.null_count == len(col):
        return np.full(len(col), fill, dtype=dtype)
    values = np.frombuffer(col.buffers()[1], dtype=dtype, count=col.offset + len(col))
    valid = validity(col)
    out = values[col.offset:] * valid  # what a null slot holds is undefined: zero it
    if fill:
        out += dtype.type(fill) * ~valid
    return out


def isin_small(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """values ∈ known for small non-negative known values, by table lookup (no sort)."""
    top = int(known.max()) + 1
    table = np.zeros(top + 1, dtype=bool)  # the last entry stands for every value >= top
    table[known] = True
    return table[np.minimum(values, values.dtype.type(top))]


def distinct(values: np.ndarray) -> np.ndarray:
    """The sorted distinct values (np.unique's answer; numpy 2's hash-based unique is ~50x
    slower on 64k int64 here)."""
    ordered = np.sort(values)
    return ordered[np.append(True, ordered[1:] != ordered[:-1])] if len(ordered) else ordered
