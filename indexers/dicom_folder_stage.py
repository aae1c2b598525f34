"""The files of a DICOM folder grouped into series in bounded memory.

The walk's paths go to a DuckDB table and are read back sorted, a chunk at a time. The
headers that the worker processes read arrive a window of chunks at a time, in path order;
rejected files are counted (and the first few listed) as they arrive, the accepted ones go to
a memory-mapped spill file (``store.arrowio.spill``) batch by batch. A DuckDB held to its
memory limit (spilling beyond it) then groups them into series, and the series' records are
built one batch at a time into another spill file. Memory holds a window of headers, a batch
of records and DuckDB's working memory (capped by its ``memory_limit``), however many files
the folder has.

Grouping keeps the rules of a folder harvest: a series takes the values and the folder of its
first file in path order; its instances are its distinct SOPInstanceUIDs, its bytes those of
the first file of each; a later file of an instance already seen is a
``duplicate_instance``, and an instance filed under another study than the series' first
file is a ``series_in_several_studies`` warning.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import duckdb
import pyarrow as pa

from imaging_hub.indexers.base import Tally, spill_records
from imaging_hub.indexers.dicom_file import KEYWORDS, FileHeader
from imaging_hub.indexers.dicom_values import Context, series_record
from imaging_hub.iterate import chunked, in_order
from imaging_hub.schemas.records import SeriesRecord

BATCH = 10_000  # paths inserted, headers spilled and series read back at a time
WINDOW = 4  # chunks in flight per worker process
PROGRESS_EVERY = 1_000  # files
HEADERS = pa.schema([pa.field("path", pa.string()), pa.field("size", pa.int64()),
                     *(pa.field(k, pa.string()) for k in KEYWORDS)])

_INSTANCES = """
    CREATE TABLE inst AS
    SELECT "SeriesInstanceUID" AS series, "SOPInstanceUID" AS sop, count(*) AS n,
           min(path) AS first, arg_min("StudyInstanceUID", path) AS study,
           arg_min(size, path) AS size
    FROM headers GROUP BY 1, 2"""
_SERIES = """
    CREATE TABLE ser AS
    SELECT series, min(first) AS first, arg_min(study, first) AS study, count(*) AS instances,
           sum(size) AS bytes
    FROM inst GROUP BY 1"""
_RECORDS = f"""
    SELECT {", ".join(f'h."{k}"' for k in KEYWORDS)}, s.instances, s.bytes, s.first
    FROM ser s JOIN headers h ON h.path = s.first ORDER BY s.first"""


def walk(con: duckdb.DuckDBPyConnection, root: Path,
         dicomdir_refs: Callable[[Path, Path], Iterable[str]]) -> int:
    """Every regular file under ``root``, plus the files a DICOMDIR references inside it,
    into the table ``paths`` of ``con``; returns how many distinct files."""
    con.execute("CREATE TABLE paths (path VARCHAR)")
    dicomdirs: list[str] = []

    def files() -> Iterator[str]:
        for dirpath, _dirs, names in os.walk(root.resolve()):
            for name in names:
                yield os.path.join(dirpath, name)
                if name.upper().startswith("DICOMDIR"):
                    dicomdirs.append(os.path.join(dirpath, name))
        for path in dicomdirs:
            yield from dicomdir_refs(Path(path), root)

    for found in chunked(files(), BATCH):
        con.register("found", pa.table({"path": pa.array(found, pa.string())}))
        con.execute("INSERT INTO paths SELECT path FROM found")
        con.unregister("found")
    rows = con.execute("SELECT count(DISTINCT path) FROM paths").fetchall()
    return int(rows[0][0])


def path_chunks(con: duckdb.DuckDBPyConnection, size: int) -> Iterator[list[str]]:
    """The distinct paths of ``walk``, sorted, ``size`` at a time."""
    cur = con.cursor()
    try:
        reader = cur.sql("SELECT DISTINCT path FROM paths ORDER BY path").to_arrow_reader(size)
        yield from chunked((p for batch in reader for p in batch.column(0).to_pylist()), size)
    finally:
        cur.close()


def read_headers(chunks: Iterable[list[str]], read: Callable[[list[str]], list[FileHeader]],
                 workers: int) -> Iterator[FileHeader]:
    """``read`` of each chunk, in order: in this process with one worker, else in
    ``workers`` processes with at most ``WINDOW`` chunks each in flight."""
    if workers <= 1:
        for chunk in chunks:
            yield from read(chunk)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for headers in in_order(pool, read, chunks, WINDOW * workers):
            yield from headers


def accepted(headers: Iterable[FileHeader], tally: Tally,
             seen: Callable[[int], None]) -> Iterator[pa.RecordBatch]:
    """``HEADERS`` batches of the files that can be grouped; the others counted in
    ``tally`` with their reason; ``seen(n)`` every ``PROGRESS_EVERY`` files read."""
    def rows() -> Iterator[dict[str, object]]:
        n = 0
        for n, h in enumerate(headers, start=1):
            if n % PROGRESS_EVERY == 0:
                seen(n)
            if h.dicomdir:
                tally.warn("dicomdir_read")
            elif h.reject or h.values is None:
                tally.reject(h.reject or "unreadable", h.path, h.detail)
            else:
                for w in h.warnings:
                    tally.warn(w)
                if not h.values["SeriesInstanceUID"] or not h.values["StudyInstanceUID"]:
                    tally.reject("missing_series_uid" if not h.values["SeriesInstanceUID"]
                                 else "missing_study_uid", h.path)
                else:
                    yield {"path": h.path, "size": h.size, **h.values}
        seen(n)

    for chunk in chunked(rows(), BATCH):
        yield pa.RecordBatch.from_pylist(chunk, schema=HEADERS)


def group(con: duckdb.DuckDBPyConnection, headers: pa.Table, ctx: Context, tally: Tally,
          scratch: Path) -> pa.Table:
    """The series records of the accepted ``headers`` (module docstring), memory-mapped."""
    con.register("headers", headers)
    con.execute(_INSTANCES)
    con.execute(_SERIES)
    (dups,), = con.execute("SELECT coalesce(sum(n - 1), 0) FROM inst").fetchall()
    (mixed,), = con.execute("SELECT count(*) FROM inst JOIN ser s USING (series)"
                            " WHERE inst.study <> s.study").fetchall()
    if dups:
        tally.warn("duplicate_instance", int(dups))
    if mixed:
        tally.warn("series_in_several_studies", int(mixed))
    return spill_records(_records(con, ctx, tally), scratch)


def _records(con: duckdb.DuckDBPyConnection, ctx: Context, tally: Tally,
             ) -> Iterator[SeriesRecord]:
    # on ``con`` itself: "headers" is registered on it, not on its cursors
    for batch in con.sql(_RECORDS).to_arrow_reader(BATCH):
        for row in batch.to_pylist():
            values = {k: row[k] for k in KEYWORDS}
            rec = series_record(values, int(row["instances"]), int(row["bytes"]), ctx, tally,
                                {"folder": os.path.dirname(row["first"])})
            if rec is not None:
                yield rec
