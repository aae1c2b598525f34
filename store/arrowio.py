"""Arrow IPC files: how generations and staged harvests are written and read, and where a
harvest spills its intermediate tables so they need no anonymous memory."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

BATCH_ROWS = 65_536  # rows per record batch where a harvest streams a table


def write_arrow(table: pa.Table, path: Path) -> None:
    """Write one Arrow IPC file (uncompressed, so it can be memory-mapped), chunk by chunk
    (a memory-mapped table is written without being copied into memory)."""
    write_batches(table.to_batches(max_chunksize=max(table.num_rows, 1)), table.schema, path)


def write_batches(batches: Iterable[pa.RecordBatch], schema: pa.Schema, path: Path) -> None:
    """Write record batches, one at a time, as an uncompressed Arrow IPC file: memory holds
    one batch, whatever the number of rows. Raises ``pa.ArrowInvalid`` for a batch whose
    schema is not ``schema``."""
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
        for batch in batches:
            writer.write_batch(batch)


def read_arrow(path: Path) -> pa.Table:
    """Memory-map an Arrow IPC file (zero-copy)."""
    return pa.ipc.open_file(pa.memory_map(str(path), "r")).read_all()


def spill(batches: Iterable[pa.RecordBatch], schema: pa.Schema,
          folder: Path | None = None) -> pa.Table:
    """The batches as one table backed by a memory-mapped temporary file (in ``folder``, or
    the system's temporary directory): its pages are the page cache's, which the kernel can
    reclaim, not the process's heap. The file is unlinked once mapped (the mapping keeps it
    readable until the table is released), and also when writing fails, so nothing is left
    on disk. Raises what iterating ``batches`` raises."""
    fd, name = tempfile.mkstemp(prefix="ihub-spill-", suffix=".arrow", dir=folder)
    os.close(fd)
    try:
        write_batches(batches, schema, Path(name))
        return read_arrow(Path(name))
    finally:
        os.unlink(name)


def plain(table: pa.Table) -> pa.Table:
    """Decode dictionary columns back to plain values."""
    cols = [
        pc.cast(col, col.type.value_type) if pa.types.is_dictionary(col.type) else col
        for col in table.columns
    ]
    return pa.table(cols, names=table.column_names)


def bounded_duckdb(scratch: Path, memory_limit: str = "768MB",
                   threads: int = 2) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB held to ``memory_limit``: beyond it, it spills to ``scratch``."""
    con = duckdb.connect(config={"threads": threads, "memory_limit": memory_limit,
                                 "temp_directory": str(scratch / "duckdb")})
    con.execute("SET enable_progress_bar = false")
    return con
