"""The records of a metadata export staged on disk, in bounded memory.

The records arrive in batches, each row with its ordinal and its place in the file
(``line 12``), and go to a memory-mapped spill file (``store.arrowio.spill``). Rows repeating
an earlier row's record and the subjects per collection are then found by a DuckDB held to
its memory limit (spilling beyond it), so memory does not grow with the export.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import duckdb
import pyarrow as pa

from imaging_hub.indexers import base
from imaging_hub.iterate import chunked
from imaging_hub.schemas.columnar import SERIES_SCHEMA, series_table, with_all_columns
from imaging_hub.schemas.records import SeriesRecord
from imaging_hub.store.arrowio import BATCH_ROWS, spill

STAGED = pa.schema([*SERIES_SCHEMA, pa.field("_n", pa.int64()), pa.field("_where", pa.string())])
_REPEATED = """
    CREATE TABLE repeated AS
    WITH firsts AS (SELECT id, min(_n) AS n0 FROM staged GROUP BY id HAVING count(*) > 1)
    SELECT s._n, s._where, s.id, o._where AS first_where
    FROM staged s JOIN firsts f ON s.id = f.id AND s._n > f.n0 JOIN staged o ON o._n = f.n0"""
PAGE = 10_000  # repeated rows read at a time


def staged_batches(found: Iterable[tuple[SeriesRecord | None, str]],
                   ) -> Iterator[pa.RecordBatch]:
    """``STAGED`` batches of the records of ``(record or None (rejected), place)`` rows,
    ``base.RECORD_BATCH`` records held at a time."""
    done = 0
    kept = ((r, where) for r, where in found if r is not None)
    for chunk in chunked(kept, base.RECORD_BATCH):
        yield from _with_places([r for r, _ in chunk], [w for _, w in chunk], done)
        done += len(chunk)


def _with_places(records: list[SeriesRecord], where: list[str],
                 first: int) -> Iterator[pa.RecordBatch]:
    table = series_table(records)
    table = table.append_column("_n", pa.array(range(first, first + table.num_rows),
                                                pa.int64()))
    yield from table.append_column("_where", pa.array(where, pa.string())).to_batches()


def unique(con: duckdb.DuckDBPyConnection, staged: pa.Table, scratch: Path,
           repeated: Callable[[str, str, str], None]) -> pa.Table:
    """The staged records less the rows repeating an earlier row's record, in file order,
    memory-mapped; ``repeated(where, record id, where the first was)`` for each left out."""
    con.register("staged", staged)
    con.execute(_REPEATED)
    after = -1
    while chunk := con.execute("SELECT _n, _where, id, first_where FROM repeated WHERE _n > $a"
                               " ORDER BY _n LIMIT $p", {"a": after, "p": PAGE}).fetchall():
        for _, where, rid, first_where in chunk:
            repeated(where, rid, first_where)
        after = chunk[-1][0]
    if after < 0:  # none: the staged file as it is
        return staged.drop_columns(["_n", "_where"])
    reader = con.sql("SELECT * EXCLUDE (_n, _where) FROM staged s WHERE NOT EXISTS"
                     " (SELECT 1 FROM repeated r WHERE r._n = s._n) ORDER BY s._n",
                     ).to_arrow_reader(BATCH_ROWS)
    return spill((b for batch in reader for b in
                  with_all_columns(pa.Table.from_batches([batch])).to_batches()),
                 SERIES_SCHEMA, scratch)


def subjects(con: duckdb.DuckDBPyConnection, series: pa.Table) -> list[tuple[str, int]]:
    """(collection, distinct subjects) in collection order."""
    con.register("unique_series", series)
    found = con.execute("SELECT collection, count(DISTINCT subject_id) FROM unique_series"
                        " GROUP BY 1 ORDER BY 1").fetchall()
    return [(str(c), int(n)) for c, n in found]
