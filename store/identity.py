"""Counting identity, computed once at publish time as data, for every backend.

* a **series** is its SeriesInstanceUID: the same series at several hosts is one series;
* a **study** is its StudyInstanceUID;
* a **subject** is a PatientID within a source, and subjects of *different* sources that hold
  the same StudyInstanceUID are one subject (transitively), so a patient mirrored at two
  hosts is counted once. Within a source its own PatientID stands. Sequestered records
  link no one (they must not change what others count).
* a record without a SeriesInstanceUID (a subject- or study-level row of a metadata export)
  is no series, and without a StudyInstanceUID no study: such rows count as subjects only
  (their codes are -1 in the series / study columns; ``has_series`` / ``has_study``).

``link_subjects`` computes the linked subject of every (source, PatientID) in DuckDB, as a
stable string key (``<source>:<PatientID>``, the smallest of the linked subject's): the
search engines store it as a field and group subject documents by it. ``identity_codes``
turns the keys and identifiers into dense integer codes per row (the embedded engine stores
them as columns).
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

IDENTITY_COLUMNS = ("source", "collection", "subject_id", "study_uid", "series_uid")
SEQUESTERED = "sequestered"


def column_codes(table: pa.Table, name: str) -> np.ndarray:
    """Dictionary indices of a column (encoding it if it is plain) as int64, nulls -1."""
    arr = table.column(name)
    if not pa.types.is_dictionary(arr.type):
        arr = pc.dictionary_encode(arr)
    arr = arr.combine_chunks()
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.chunk(0) if arr.num_chunks else pa.array([], arr.type)
    return np.asarray(pc.fill_null(arr.indices, -1).to_numpy(zero_copy_only=False), np.int64)


def dense(*parts: np.ndarray) -> np.ndarray:
    """Dense code of the tuple of integer columns (sort-based factorisation)."""
    key = np.zeros(len(parts[0]), np.int64)
    for part in parts:
        span = int(part.max()) + 2 if len(part) else 1
        key = key * span + (part + 1)
    if not len(key):
        return key
    return np.unique(key, return_inverse=True)[1].astype(np.int64)


def link_subjects(con: duckdb.DuckDBPyConnection, records: str) -> None:
    """Create ``subject_of(source, subject_id, subject_key)`` on ``con``: each subject of the
    relation ``records`` (series columns) and its linked subject's key.

    Subjects and studies form a graph: per (study, source) one representative subject (the
    smallest name) takes part, so within a source its own PatientID stands; records without
    a study, and sequestered ones, link nothing. Connected components by min-label
    propagation with one pointer jump per round, as SQL over tables DuckDB may spill.
    """
    con.execute(f"""
        CREATE TABLE subj AS
        SELECT source, subject_id, source || ':' || coalesce(subject_id, '') AS name,
               row_number() OVER (ORDER BY source, subject_id) AS sid
        FROM (SELECT DISTINCT source, subject_id FROM {records})""")
    con.execute(f"""
        CREATE TABLE rep AS
        SELECT DISTINCT r.study_uid AS study, min(s.sid) AS sid
        FROM {records} r JOIN subj s ON r.source = s.source
             AND r.subject_id IS NOT DISTINCT FROM s.subject_id
        WHERE r.study_uid IS NOT NULL AND coalesce(r.access <> '{SEQUESTERED}', true)
        GROUP BY r.study_uid, r.source""")
    con.execute("CREATE TABLE label AS SELECT DISTINCT sid, sid AS l FROM rep")
    while True:
        con.execute("""
            CREATE OR REPLACE TABLE step AS
            WITH study_l AS (SELECT study, min(l) AS l FROM rep JOIN label USING (sid)
                             GROUP BY study),
                 hop AS (SELECT sid, min(study_l.l) AS l FROM rep JOIN study_l USING (study)
                         GROUP BY sid)
            SELECT a.sid, least(a.l, b.l) AS l FROM hop a JOIN hop b ON a.l = b.sid""")
        changed = con.execute("SELECT count(*) FROM step JOIN label USING (sid)"
                              " WHERE step.l <> label.l").fetchall()[0]
        con.execute("CREATE OR REPLACE TABLE label AS SELECT * FROM step")
        if not changed or not changed[0]:
            break
    con.execute("""
        CREATE TABLE subject_of AS
        WITH c AS (SELECT s.source, s.subject_id, s.name, coalesce(l.l, s.sid) AS comp
                   FROM subj s LEFT JOIN label l USING (sid))
        SELECT source, subject_id, min(name) OVER (PARTITION BY comp) AS subject_key FROM c""")
    con.execute("DROP TABLE step; DROP TABLE label; DROP TABLE rep; DROP TABLE subj")


def identity_codes(series: pa.Table) -> dict[str, np.ndarray]:
    """Dense codes per row: subject (linked across sources), study, series, and the same
    per source and per collection (for exact distinct counts broken down by either)."""
    src = column_codes(series, "source")
    coll = column_codes(series, "collection")
    study = column_codes(series, "study_uid")
    subject = column_codes(series, "subject_key")  # linked at merge (link_subjects)
    series_code = column_codes(series, "series_uid")
    return {
        "_subject": subject,
        "_src_subject": dense(src, subject),  # a person at a source: counted once per source
        "_study": study,
        "_series": series_code,
        "_src_study": dense(src, study),
        "_coll_subject": dense(coll, subject),
        "_coll_study": dense(coll, study),
        "_coll_series": dense(coll, series_code),
    }
