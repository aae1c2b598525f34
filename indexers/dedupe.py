"""A series a source lists more than once: its first record is kept and every later one
is rejected (``duplicate_series_uid``), in bounded memory.

Connectors that read a source as a stream (Gen3's Guppy, TCIA's collections) write every
record to a spill file as it comes and call ``first_copies`` on the spilled table. DuckDB,
held to its memory limit, finds the record ids seen more than once (a hash aggregate: it
spills beyond the limit) and then the later rows of those ids, in row order. The table is
rewritten only when there are some: memory never holds a set of every id.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from imaging_hub.indexers.base import RECORD_BATCH, Tally
from imaging_hub.schemas.columnar import SERIES_SCHEMA
from imaging_hub.store.arrowio import bounded_duckdb, spill

REASON = "duplicate_series_uid"


def _numbered(records: pa.Table) -> pa.RecordBatchReader:
    """``records``' id and series UID with each row's number (``rn``), batch by batch."""
    schema = pa.schema([("id", pa.string()), ("series_uid", pa.string()), ("rn", pa.int64())])

    def batches() -> Iterator[pa.RecordBatch]:
        start = 0
        for batch in records.select(["id", "series_uid"]).to_batches(RECORD_BATCH):
            rn = pa.array(np.arange(start, start + batch.num_rows, dtype=np.int64))
            yield pa.RecordBatch.from_arrays([batch.column(0), batch.column(1), rn],
                                             schema=schema)
            start += batch.num_rows

    return pa.RecordBatchReader.from_batches(schema, batches())


def first_copies(records: pa.Table, tally: Tally, folder: Path | None = None) -> pa.Table:
    """``records`` (``SERIES_SCHEMA``) with only the first row of each id; each later row
    is tallied as a reject with its series UID. The same table when no id repeats, else a
    new spill file (in ``folder``)."""
    with tempfile.TemporaryDirectory(prefix="ihub-dedupe-") as scratch:
        con = bounded_duckdb(Path(scratch))
        try:
            con.register("firsts_in", _numbered(records))
            con.execute("CREATE TABLE repeated AS SELECT id, min(rn) AS first FROM firsts_in "
                        "GROUP BY id HAVING count(*) > 1")
            con.unregister("firsts_in")
            ((repeated,),) = con.execute("SELECT count(*) FROM repeated").fetchall()
            if not repeated:
                return records
            con.register("later_in", _numbered(records))
            later = con.sql("SELECT n.rn, n.series_uid FROM later_in n JOIN repeated r "
                            "USING (id) WHERE n.rn > r.first ORDER BY n.rn"
                            ).to_arrow_reader(RECORD_BATCH)
            return spill(_without(records, _dropped(later, tally)), SERIES_SCHEMA, folder)
        finally:
            con.close()


def _dropped(later: pa.RecordBatchReader, tally: Tally) -> Iterator[np.ndarray]:
    """The row numbers of ``later`` in batches (ascending), each row tallied."""
    for batch in later:
        for uid in batch.column(1).to_pylist():
            tally.reject(REASON, uid)
        yield batch.column(0).to_numpy()


def _without(records: pa.Table, dropped: Iterator[np.ndarray]) -> Iterator[pa.RecordBatch]:
    """``records``' batches without the rows ``dropped`` names (both in row order)."""
    pending = np.empty(0, dtype=np.int64)
    start = 0
    for batch in records.to_batches(RECORD_BATCH):
        end = start + batch.num_rows
        while not len(pending) or pending[-1] < end:  # the numbers up to this batch's end
            more = next(dropped, None)
            if more is None:
                break
            pending = np.concatenate([pending, more])
        here = pending[pending < end]
        pending = pending[len(here):]
        keep = np.ones(batch.num_rows, dtype=bool)
        keep[here - start] = False
        yield batch.filter(pa.array(keep))
        start = end
