"""A DICOMweb server's QIDO-RS listings grouped into series in bounded memory.

The study listing, then each study's series listing, go page by page to memory-mapped spill
files (``store.arrowio.spill``): each entry with its page, its rank in the listing and
a digest of its JSON. A DuckDB held to its memory limit (spilling beyond it) then:

* keeps an entry only from the first page that lists it: a server that reorders between
  pages may list one twice, while copies on one page are all kept (Orthanc lists a study or
  series once per PatientID it was sent under);
* gives each study the values of its entry with the smallest PatientID (trimmed, non-empty
  first; ``study_uid_conflict`` when several), and rejects entries without a
  StudyInstanceUID (``missing_study_uid``);
* groups the series entries by SeriesInstanceUID (the copies of one series), in the order
  they were first listed.

The records are then built one batch at a time into another spill file. Memory holds a
window of series listings, a batch of records and DuckDB's working memory (capped by its
``memory_limit``), however many studies the server lists.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from typing import Any

import duckdb
import pyarrow as pa

from imaging_hub.indexers.base import Tally
from imaging_hub.indexers.dicom_values import STUDY_FIELDS, json_value
from imaging_hub.iterate import chunked

BATCH = 10_000  # entries spilled, studies and series read back at a time
Entry = dict[str, Any]
Page = list[tuple[str, Entry]]  # a page's entries, each with its digest (QidoClient._pages)
Pages = Iterable[Page]
STUDIES = pa.schema([pa.field("seq", pa.int64()), pa.field("page", pa.int64()),
                     pa.field("digest", pa.string()), pa.field("uid", pa.string()),
                     pa.field("pid", pa.string()), pa.field("study_values", pa.string())])
SERIES = pa.schema([pa.field("seq", pa.int64()), pa.field("study", pa.int64()),
                    pa.field("page", pa.int64()), pa.field("digest", pa.string()),
                    pa.field("study_uid", pa.string()), pa.field("uid", pa.string()),
                    pa.field("item", pa.string())])


def digest(entry: Entry) -> str:
    """A short fingerprint of an entry's JSON, the same whatever its keys' order."""
    text = json.dumps(entry, sort_keys=True)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _first_listed(table: str, within: str = "") -> str:
    """SQL: the rows of ``table`` on the first page listing their entry (``within`` one
    listing, e.g. a study's)."""
    keys = f"{within}, digest" if within else "digest"
    return f"""
        SELECT t.* FROM {table} t
        JOIN (SELECT {keys}, min(page) AS page FROM {table} GROUP BY ALL) f
        USING ({keys}, page)"""


def study_rows(pages: Pages) -> Iterator[pa.RecordBatch]:
    """``STUDIES`` batches of a study listing's entries."""
    def rows() -> Iterator[dict[str, Any]]:
        seq = 0
        for page_no, page in enumerate(pages):
            for key, entry in page:
                values = {k: json_value(entry, k) for k in STUDY_FIELDS}
                yield {"seq": seq, "page": page_no, "digest": key,
                       "uid": json_value(entry, "StudyInstanceUID"),
                       "pid": (values["PatientID"] or "").strip(),
                       "study_values": json.dumps(values)}
                seq += 1

    for chunk in chunked(rows(), BATCH):
        yield pa.RecordBatch.from_pylist(chunk, schema=STUDIES)


def pick_studies(con: duckdb.DuckDBPyConnection, listed: pa.Table, tally: Tally) -> int:
    """The table ``studies`` (uid, first_seq, study_values) of ``con``: one row per listed
    StudyInstanceUID, in the order first listed; returns how many."""
    con.register("study_rows", listed)
    try:
        con.execute(f"CREATE TABLE study_entries AS {_first_listed('study_rows')}")
    finally:
        con.unregister("study_rows")
    (missing,), = con.execute(
        "SELECT count(*) FROM study_entries WHERE uid IS NULL").fetchall()
    for _ in range(int(missing)):
        tally.reject("missing_study_uid", None, "study without StudyInstanceUID")
    con.execute("""
        CREATE TABLE studies AS
        SELECT uid, min(seq) AS first_seq,
               arg_min(study_values, (pid = '', pid, seq)) AS study_values
        FROM study_entries WHERE uid IS NOT NULL GROUP BY uid""")
    for uid, pids in _read(con, """
            SELECT uid, list(DISTINCT pid ORDER BY pid) FROM study_entries
            WHERE uid IS NOT NULL GROUP BY uid HAVING count(DISTINCT pid) > 1
            ORDER BY min(seq)"""):
        tally.warn("study_uid_conflict", key=uid,
                   detail=f"listed under PatientIDs {', '.join(map(repr, pids))}")
    con.execute("DROP TABLE study_entries")
    (count,), = con.execute("SELECT count(*) FROM studies").fetchall()
    return int(count)


def _read(con: duckdb.DuckDBPyConnection, sql: str) -> Iterator[tuple[Any, ...]]:
    """The rows of ``sql``, read on a cursor of ``con`` a batch at a time."""
    cur = con.cursor()
    try:
        for batch in cur.sql(sql).to_arrow_reader(BATCH):
            yield from zip(*(c.to_pylist() for c in batch.columns), strict=True)
    finally:
        cur.close()


def study_uids(con: duckdb.DuckDBPyConnection) -> Iterator[str]:
    """The UIDs of ``studies``, in the order first listed, read a batch at a time."""
    for (uid,) in _read(con, "SELECT uid FROM studies ORDER BY first_seq"):
        yield uid


def series_rows(listings: Iterable[tuple[str, Pages]]) -> Iterator[pa.RecordBatch]:
    """``SERIES`` batches of the series listings of the studies (study UID, its pages), in
    the studies' order."""
    def rows() -> Iterator[dict[str, Any]]:
        seq = 0
        for study, (study_uid, pages) in enumerate(listings):
            for page_no, page in enumerate(pages):
                for key, item in page:
                    yield {"seq": seq, "study": study, "page": page_no, "digest": key,
                           "study_uid": study_uid,
                           "uid": json_value(item, "SeriesInstanceUID"),
                           "item": json.dumps(item)}
                    seq += 1

    for chunk in chunked(rows(), BATCH):
        yield pa.RecordBatch.from_pylist(chunk, schema=SERIES)


def group_copies(con: duckdb.DuckDBPyConnection, listed: pa.Table) -> int:
    """The tables ``copies`` (the series entries kept) and ``ser`` (one row per series: its
    first copy, how many copies, their studies) of ``con``; returns how many copies."""
    con.register("series_rows", listed)
    try:
        con.execute(f"CREATE TABLE copies AS {_first_listed('series_rows', 'study')}")
    finally:
        con.unregister("series_rows")
    con.execute("""
        CREATE TABLE ser AS
        SELECT min(seq) AS first, count(*) AS n,
               list(DISTINCT study_uid ORDER BY study_uid) AS studies
        FROM copies GROUP BY coalesce(uid, 'missing:' || seq)""")
    (count,), = con.execute("SELECT count(*) FROM copies").fetchall()
    return int(count)


# (first copy's item, its study's UID and values, copies, their studies' UIDs)
Series = tuple[Entry, str, dict[str, str | None], int, list[str]]


def series(con: duckdb.DuckDBPyConnection) -> Iterator[Series]:
    """Every series of ``group_copies``, in the order first listed, a batch at a time."""
    for item, study_uid, values, n, studies in _read(con, """
            SELECT c.item, c.study_uid, st.study_values, s.n, s.studies
            FROM ser s JOIN copies c ON c.seq = s.first JOIN studies st ON st.uid = c.study_uid
            ORDER BY s.first"""):
        yield json.loads(item), study_uid, json.loads(values), int(n), studies

