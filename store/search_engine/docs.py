"""Documents of one generation, built from the merged records and streamed to the bulk
loader.

Each record becomes JSON once, in DuckDB (``to_json``, vectorised): the full record for the
series index, the searchable fields for the study and subject indices. A level's documents
are then the records in the order of the level's key (series UID, study UID, linked subject)
read in batches, consecutive records with the same key joined into one document by string
concatenation — no per-record Python dictionaries. DuckDB sorts within its memory limit and
spills to its temporary folder beyond it.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Iterator
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from imaging_hub.schemas.columnar import INHERITED, collection_fields
from imaging_hub.schemas.fields import FIELDS, SERIES_COLUMNS, TEXT_COLUMNS
from imaging_hub.schemas.text import normalise
from imaging_hub.store.identity import column_codes, dense
from imaging_hub.store.search_engine.mapping import DATASET_SEP, EXTRA_ROW_FIELDS

BATCH = 50_000
MAX_TEXT = 4000  # keyword terms must stay under Lucene's 32 kB
JSON = dict[str, Any]
DUCKDB_MEMORY = "768MB"  # per stream; beyond it DuckDB sorts on disk
_ISO = "'%Y-%m-%dT%H:%M:%S.%f+00:00'"


def doc_id(key: str) -> str:
    """A document id for a key (ids are limited to 512 bytes)."""
    return key if len(key.encode()) <= 256 else "h:" + hashlib.sha1(key.encode()).hexdigest()


def dataset_key(source: str, collection: str) -> str:
    return f"{source}{DATASET_SEP}{collection}"


def _text_column(series: pa.Table) -> pa.Array:
    """Each record's normalised searchable text, computed once per distinct combination."""
    codes = np.zeros(series.num_rows, np.int64)
    for name in TEXT_COLUMNS:
        codes = dense(codes, column_codes(series, name))
    if not series.num_rows:
        return pa.array([], pa.string())
    _, first = np.unique(codes, return_index=True)
    values = {name: series.column(name).take(pa.array(first)).to_pylist()
              for name in TEXT_COLUMNS}
    texts = [normalise(*(values[n][i] for n in TEXT_COLUMNS))[:MAX_TEXT] or None
             for i in range(len(first))]
    return pa.array(texts, pa.string()).take(pa.array(codes))


def _struct(names: list[str]) -> str:
    return "struct_pack(" + ", ".join(f'"{n}" := "{n}"' for n in names) + ")"


class Rows:
    """The records of a generation, ready to be cut into documents."""

    def __init__(self, series: pa.Table, collections: pa.Table, subject_keys: pa.Array) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="ihub-docs-")
        plain = series.select([c.name for c in SERIES_COLUMNS])
        plain = plain.append_column("subject_key", subject_keys.cast(pa.string()))
        self.series = plain.append_column("tx", _text_column(series))
        self.collections = collections.select(["source", "collection", "name", *INHERITED])
        self.con = self._connect()

    def _connect(self) -> duckdb.DuckDBPyConnection:
        """A connection of its own (streams are read side by side) over the same tables
        (registered zero-copy), within its own memory limit."""
        con = duckdb.connect()
        spill = tempfile.mkdtemp(dir=self._tmp.name)  # instances must not share spill files
        con.execute(f"SET memory_limit = '{DUCKDB_MEMORY}'")
        con.execute(f"SET temp_directory = '{spill}'")
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")
        con.register("series", self.series)
        con.register("colls", self.collections)
        con.execute(self._view_sql())
        return con

    def _view_sql(self) -> str:
        inherited = ", ".join(f"coalesce(c.{n}, []::VARCHAR[]) AS {n}" for n in INHERITED)
        return f"""
            CREATE TEMP VIEW records AS
            SELECT s.*, {inherited},
                   s.source || '{DATASET_SEP}' || s.collection AS dataset,
                   count(*) OVER (PARTITION BY coalesce(s.series_uid, s.id)) AS copies,
                   concat_ws(' ', s.series_description, s.study_description, s.collection,
                             c.name) AS analysed_text
            FROM series s LEFT JOIN colls c USING (source, collection)"""

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
        (pre-serialised JSON; ids left to the engine)."""
        key = {"series": "coalesce(series_uid, chr(0) || 'record:' || id)",
               "study": "study_uid", "subject": "subject_key"}[level]
        where = "WHERE study_uid IS NOT NULL" if level == "study" else ""
        sql = (f"SELECT {key} AS k, {self._json_sql(level == 'series')} AS j, source,"
               f" instances, size_bytes, study_uid, collection, age, study_year FROM records"
               f" {where} ORDER BY k, source, collection, id")
        con = self._connect()
        reader: pa.RecordBatchReader = con.sql(sql).to_arrow_reader(BATCH)
        group: list[tuple[Any, ...]] = []
        current: str | None = None
        for batch in reader:
            cols = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
            for k, *values in zip(*cols, strict=True):
                if k != current and group:
                    yield _doc(level, index, current or "", group)
                    group = []
                current = k
                group.append(tuple(values))
        if group:
            yield _doc(level, index, current or "", group)
        con.close()

    def close(self) -> None:
        self.con.close()
        self._tmp.cleanup()


    def multi_copy_series(self) -> int:
        """Series held by more than one source in this generation."""
        row = self.con.execute("SELECT count(*) FROM (SELECT series_uid FROM series WHERE"
                               " series_uid IS NOT NULL GROUP BY 1 HAVING count(*) > 1)"
                               ).fetchone()
        return int(row[0]) if row else 0


def _doc(level: str, index: str, key: str, group: list[tuple[Any, ...]]) -> JSON:
    """(record JSON, source, instances, size, study, collection, age, study year) rows."""
    head = '{"key":' + json.dumps(key)
    if level == "series":
        sizes = [g[3] for g in group if g[3] is not None]
        first = group[0]  # in (source, collection, id) order
        head += (',"study_uid":' + json.dumps(first[4])
                 + ',"hosts":' + json.dumps(sorted({g[1] for g in group}))
                 + ',"instances":' + json.dumps(max(g[2] or 0 for g in group))
                 + ',"size_bytes":' + json.dumps(max(sizes) if sizes else None)
                 + ',"first_source":' + json.dumps(first[1])
                 + ',"first_collection":' + json.dumps(first[5])
                 + ',"age":' + json.dumps(first[6]) + ',"study_year":' + json.dumps(first[7]))
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
