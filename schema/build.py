"""Build Arrow record batches of events from Python values, one column list per schema field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from tdxray.schema.events import EVENT_SCHEMA

_NAMES = EVENT_SCHEMA.names


class BatchBuilder:
    """Append events as mappings of column name to value; take them out as a RecordBatch."""

    def __init__(self) -> None:
        self._cols: dict[str, list[Any]] = {name: [] for name in _NAMES}
        self.rows = 0

    def append(self, event: Mapping[str, Any]) -> None:
        for name, col in self._cols.items():
            col.append(event.get(name))
        self.rows += 1

    def take(self) -> pa.RecordBatch:
        arrays = []
        for field in EVENT_SCHEMA:
            values = self._cols[field.name]
            if pa.types.is_dictionary(field.type):
                arr = pa.array(values, type=pa.string()).dictionary_encode()
                arr = arr.cast(field.type)
            else:
                arr = pa.array(values, type=field.type)
            arrays.append(arr)
        batch = pa.RecordBatch.from_arrays(arrays, schema=EVENT_SCHEMA)
        self._cols = {name: [] for name in _NAMES}
        self.rows = 0
        return batch


def events_to_batch(events: list[Mapping[str, Any]]) -> pa.RecordBatch:
    builder = BatchBuilder()
    for event in events:
        builder.append(event)
    return builder.take()
