"""Arrow IPC files: how generations and staged harvests are written and read."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc


def write_arrow(table: pa.Table, path: Path) -> None:
    """Write one Arrow IPC file (uncompressed, so it can be memory-mapped)."""
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=max(table.num_rows, 1))


def read_arrow(path: Path) -> pa.Table:
    """Memory-map an Arrow IPC file (zero-copy)."""
    return pa.ipc.open_file(pa.memory_map(str(path), "r")).read_all()


def plain(table: pa.Table) -> pa.Table:
    """Decode dictionary columns back to plain values."""
    cols = [
        pc.cast(col, col.type.value_type) if pa.types.is_dictionary(col.type) else col
        for col in table.columns
    ]
    return pa.table(cols, names=table.column_names)
