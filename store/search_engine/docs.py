"""Documents of one generation, built from the merged records and streamed to the bulk
loader.

Each record becomes JSON once, in DuckDB (``to_json``, vectorised), written into a table of
the merge's database (``store/merge.py``): the full record for the series index, the
searchable fields for the study and subject indices. Series documents are then written
whole by DuckDB (a series held by one source, nearly all, read unsorted); study and subject
documents are that table's rows in the order of the level's key (study UID, linked subject)
read in batches, consecutive records with the same key joined into one document by string
concatenation — no per-record Python dictionaries. DuckDB sorts within its memory limit and
spills to its temporary folder beyond it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from imaging_hub.schemas.columnar import INHERITED, collection_fields
from imaging_hub.schemas.fields import FIELDS, SERIES_COLUMNS, TEXT_COLUMNS
from imaging_hub.schemas.text import normalise
from imaging_hub.store.merge import RECORDS, Merged
from imaging_hub.store.search_engine.mapping import (
    DATASET_SEP,
    EXTRA_ROW_FIELDS,
    UNUSED_BY_GROUPS,
)

BATCH = 10_000  # records per batch read from DuckDB (a batch of JSON is held in Python)
MAX_TEXT = 4000  # keyword terms must stay under Lucene's 32 kB
JSON = dict[str, Any]
_ISO = "'%Y-%m-%dT%H:%M:%S.%f+00:00'"


def doc_id(key: str) -> str:
    """A document id for a key (ids are limited to 512 bytes)."""
    return key if len(key.encode()) <= 256 else "h:" + hashlib.sha1(key.encode()).hexdigest()


def dataset_key(source: str, collection: str) -> str:
    return f"{source}{DATASET_SEP}{collection}"


def _struct(names: list[str]) -> str:
    return "struct_pack(" + ", ".join(f'"{n}" := "{n}"' for n in names) + ")"


class Rows:
    """The records of a generation (``merge.RECORDS`` on the merge's connection), ready to
    be cut into documents."""

    def __init__(self, merged: Merged) -> None:
        self.con = merged.con
        self.con.register("colls_arrow", merged.collections.select(
            ["source", "collection", "name", *INHERITED]))
        self.con.execute("CREATE TABLE colls AS SELECT * FROM colls_arrow")
        self.con.unregister("colls_arrow")
        self._texts()
        # series held by several sources (few): a join on them spills, a window would not
        self.con.execute(f"""
            CREATE TABLE copies AS SELECT coalesce(series_uid, id) AS ck, count(*) AS n,
                   bool_or(series_uid IS NOT NULL) AS series
            FROM {RECORDS} GROUP BY 1 HAVING count(*) > 1""")
        self.con.execute(self._view_sql())
        # every record's JSON, once, into a table (stored, not held): each level then only
        # sorts it, and a sort spills where a join feeding it might not
        self.con.execute(f"""
            CREATE TABLE doc_rows AS SELECT
                coalesce(series_uid, chr(0) || 'record:' || id) AS series_k, study_uid,
                subject_key, source, collection, id, instances, size_bytes, age, study_year,
                copies,
                {self._json_sql(True)} AS full_json, {self._json_sql(False)} AS fields_json
            FROM doc_records""")
        self.con.execute("DROP VIEW doc_records")

    def _texts(self) -> None:
        """Each distinct combination of searchable values and its normalised text
        (``schemas/text.py``), computed once per combination."""
        cols = ", ".join(f'"{n}"' for n in TEXT_COLUMNS)
        distinct = self.con.sql(f"SELECT DISTINCT {cols} FROM {RECORDS}").to_arrow_table()
        values = [distinct.column(n).to_pylist() for n in TEXT_COLUMNS]
        texts = [normalise(*row)[:MAX_TEXT] or None for row in zip(*values, strict=True)]
        self.con.register("texts_arrow", distinct.append_column("tx", pa.array(texts,
                                                                               pa.string())))
        self.con.execute("CREATE TABLE texts AS SELECT * FROM texts_arrow")
        self.con.unregister("texts_arrow")

    def _view_sql(self) -> str:
        inherited = ", ".join(f"coalesce(c.{n}, []::VARCHAR[]) AS {n}" for n in INHERITED)
        same_text = " AND ".join(f's."{n}" IS NOT DISTINCT FROM t."{n}"' for n in TEXT_COLUMNS)
        return f"""
            CREATE VIEW doc_records AS
            SELECT s.*, t.tx, {inherited},
                   s.source || '{DATASET_SEP}' || s.collection AS dataset,
                   coalesce(k.n, 1) AS copies,
                   concat_ws(' ', s.series_description, s.study_description, s.collection,
                             c.name) AS analysed_text
            FROM {RECORDS} s LEFT JOIN colls c USING (source, collection)
            LEFT JOIN texts t ON {same_text}
            LEFT JOIN copies k ON k.ck = coalesce(s.series_uid, s.id)"""

    def _json_sql(self, full: bool) -> str:
        mapped = [*FIELDS, *EXTRA_ROW_FIELDS]
        if not full:  # study and subject records: what their searches use
            return "to_json(" + _struct([n for n in mapped if n not in UNUSED_BY_GROUPS]) + ")"
        names = [c.name for c in SERIES_COLUMNS if c.name != "harvested_at"]
        names += [n for n in mapped if n not in names]
        return ("to_json(" + _struct(names)[:-1] + ', "text" := analysed_text'
                + f", \"harvested_at\" := strftime(harvested_at, {_ISO})))")

    def level_docs(self, level: str) -> Iterator[str]:
        """The documents of one level index as JSON text, one per key, its records nested
        (ids left to the engine; the bulk helper sends text as it is, with no action
        dictionary to build and serialise per document). Series documents are written whole
        by DuckDB: a series held by one source (nearly all) is one record, read in table
        order, so the records (about 2 kB of JSON each) are never sorted; the few held by
        several sources are grouped. Studies and subjects are sorted by key and joined."""
        if level == "series":
            yield from self._series_docs()
            return
        key = {"study": "study_uid", "subject": "subject_key"}[level]
        where = "WHERE study_uid IS NOT NULL" if level == "study" else ""
        sql = (f"SELECT {key} AS k, fields_json FROM doc_rows {where}"
               f" ORDER BY k, source, collection, id")
        group: list[str] = []
        current: str | None = None
        for keys, records in self._batches(sql):
            for k, record in zip(keys, records, strict=True):
                if k != current and group:
                    yield _doc(current or "", group)
                    group = []
                current = k
                group.append(record)
        if group:
            yield _doc(current or "", group)

    def _series_docs(self) -> Iterator[str]:
        """Series documents: the head (``_series_head``) and the records, in the order of
        (source, collection, id), nested."""
        order = "ORDER BY source, collection, id"
        single = _series_head("[source]", "coalesce(instances, 0)", "size_bytes",
                              *_FIRSTS)
        several = _series_head("list_sort(list_distinct(list(source)))",
                               "max(coalesce(instances, 0))", "max(size_bytes)",
                               *(f"first({c} {order})" for c in _FIRSTS))
        for sql in (f"SELECT {single} || full_json || ']}}' FROM doc_rows WHERE copies = 1",
                    f"SELECT {several} || string_agg(full_json, ',' {order}) || ']}}'"
                    f" FROM doc_rows WHERE copies > 1 GROUP BY series_k"):
            for (docs,) in self._batches(sql):
                yield from docs

    def _batches(self, sql: str) -> Iterator[list[list[Any]]]:
        """The columns of ``sql``'s answer, ``BATCH`` rows at a time, as Python lists."""
        con = self.con.cursor()  # a connection of its own: streams may be read side by side
        try:
            reader: pa.RecordBatchReader = con.sql(sql).to_arrow_reader(BATCH)
            for batch in reader:
                yield [batch.column(i).to_pylist() for i in range(batch.num_columns)]
        finally:
            con.close()

    def multi_copy_series(self) -> int:
        """Series held by more than one source in this generation."""
        rows = self.con.execute("SELECT count(*) FROM copies WHERE series").fetchall()
        return int(rows[0][0]) if rows else 0


# values of a series document's head taken from its first record
_FIRSTS = ("study_uid", "source", "collection", "age", "study_year")


def _series_head(hosts: str, instances: str, size: str, study: str, source: str,
                 collection: str, age: str, year: str) -> str:
    """SQL: a series document up to its nested records (``...,"r":[``) from SQL
    expressions of its head's values."""
    head = (f"to_json(struct_pack(key := series_k, study_uid := {study}, hosts := {hosts},"
            f" instances := {instances}, size_bytes := {size}, first_source := {source},"
            f" first_collection := {collection}, age := {age}, study_year := {year}))")
    return f"rtrim(CAST({head} AS VARCHAR), '}}') || ',\"r\":['"


def _doc(key: str, records: list[str]) -> str:
    """A study or subject document: its key and its records' JSON."""
    return '{"key":' + json.dumps(key) + ',"r":[' + ",".join(records) + "]}"


def collection_docs(collections: pa.Table, index: str) -> Iterator[JSON]:
    for row in collections.to_pylist():
        doc = {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in row.items()}
        doc["dataset"] = dataset_key(row["source"], row["collection"])
        yield {"_index": index, "_id": doc_id(row["id"]), "_source": doc}


def collection_from_doc(doc: JSON) -> JSON:
    """A collection document back as ``CollectionRecord`` fields."""
    from datetime import datetime

    row = dict(doc)
    if row.get("harvested_at"):
        row["harvested_at"] = datetime.fromisoformat(row["harvested_at"])
    return collection_fields(row)
