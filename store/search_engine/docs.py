"""Documents of one generation, built from the merged records and streamed to the bulk
loader.

Each record becomes JSON once, in DuckDB (``to_json``, vectorised), written into a table of
the merge's database (``store/merge.py``): the full record for the series index, the
searchable fields for the study and subject indices. A level's documents are then that
table's rows in the order of the level's key (series UID, study UID, linked subject) read in
batches, consecutive records with the same key joined into one document by string
concatenation — no per-record Python dictionaries. DuckDB sorts within its memory limit and
spills to its temporary folder beyond it. A series held by one source (nearly all) needs no
joining: DuckDB writes its whole document, and those rows are read unsorted.
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
from imaging_hub.store.search_engine.mapping import DATASET_SEP, EXTRA_ROW_FIELDS

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
        if not full:
            return "to_json(" + _struct(mapped) + ")"
        names = [c.name for c in SERIES_COLUMNS if c.name != "harvested_at"]
        names += [n for n in mapped if n not in names]
        return ("to_json(" + _struct(names)[:-1] + ', "text" := analysed_text'
                + f", \"harvested_at\" := strftime(harvested_at, {_ISO})))")

    def level_docs(self, level: str, index: str) -> Iterator[JSON]:
        """Bulk actions of one level index: one document per key, its records nested
        (pre-serialised JSON; ids left to the engine). A series held by one source (nearly
        all) is one record: its whole document is written by DuckDB, in table order, so the
        records (about 2 kB of JSON each) are never sorted; only the records of keys with
        several (studies, subjects, series held by several sources) are sorted and joined."""
        if level == "series":
            yield from self._single_series(index)
        key = {"series": "series_k", "study": "study_uid", "subject": "subject_key"}[level]
        where = {"series": "WHERE copies > 1", "study": "WHERE study_uid IS NOT NULL",
                 "subject": ""}[level]
        json_column = "full_json" if level == "series" else "fields_json"
        sql = (f"SELECT {key} AS k, {json_column} AS j, source, instances, size_bytes,"
               f" study_uid, collection, age, study_year"
               f" FROM doc_rows {where} ORDER BY k, source, collection, id")
        group: list[tuple[Any, ...]] = []
        current: str | None = None
        for cols in self._batches(sql):
            for k, *values in zip(*cols, strict=True):
                if k != current and group:
                    yield _doc(level, index, current or "", group)
                    group = []
                current = k
                group.append(tuple(values))
        if group:
            yield _doc(level, index, current or "", group)

    def _single_series(self, index: str) -> Iterator[JSON]:
        """Documents of the series held by one source (the same head as ``_doc``'s)."""
        head = ("to_json(struct_pack(key := series_k, study_uid := study_uid,"
                " hosts := [source], instances := coalesce(instances, 0),"
                " size_bytes := size_bytes, first_source := source,"
                " first_collection := collection, age := age, study_year := study_year))")
        sql = (f"SELECT rtrim(CAST({head} AS VARCHAR), '}}') || ',\"r\":[' || full_json"
               f" || ']}}' FROM doc_rows WHERE copies = 1")
        for (docs,) in self._batches(sql):
            for doc in docs:
                yield {"_index": index, "_source": doc}

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


def _doc(level: str, index: str, key: str, group: list[tuple[Any, ...]]) -> JSON:
    """(record JSON, source, instances, size, study, collection, age, study year) rows."""
    if level == "series":
        sizes = [g[3] for g in group if g[3] is not None]
        first = group[0]  # in (source, collection, id) order
        head = json.dumps({
            "key": key, "study_uid": first[4], "hosts": sorted({g[1] for g in group}),
            "instances": max(g[2] or 0 for g in group),
            "size_bytes": max(sizes) if sizes else None, "first_source": first[1],
            "first_collection": first[5], "age": first[6], "study_year": first[7]},
            separators=(",", ":"))[:-1]
    else:
        head = '{"key":' + json.dumps(key)
    return {"_index": index, "_source": head + ',"r":[' + ",".join(g[0] for g in group) + "]}"}


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
