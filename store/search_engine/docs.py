"""Documents of one generation, built from the merged records, streamed in batches.

Rows are visited in the order of each level's key (series UID, study UID, linked subject), a
batch of ``BATCH`` rows at a time, and consecutive rows with the same key become one
document; so memory holds one batch of rows and one document at a time, whatever the
number of records (the merged Arrow table itself is memory-mapped or columnar).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from imaging_hub.schemas.columnar import INHERITED, collection_fields
from imaging_hub.schemas.fields import FIELDS, TEXT_COLUMNS
from imaging_hub.schemas.text import normalise
from imaging_hub.store.search_engine.mapping import DATASET_SEP, EXTRA_ROW_FIELDS

BATCH = 20_000
MAX_TEXT = 4000  # keyword terms must stay under Lucene's 32 kB
JSON = dict[str, Any]
_MAPPED = tuple(FIELDS) + tuple(EXTRA_ROW_FIELDS)


def doc_id(key: str) -> str:
    """A document id for a key (ids are limited to 512 bytes)."""
    return key if len(key.encode()) <= 256 else "h:" + hashlib.sha1(key.encode()).hexdigest()


def dataset_key(source: str, collection: str) -> str:
    return f"{source}{DATASET_SEP}{collection}"


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


class RowBuilder:
    """Turns stored rows into nested records: the full record (series index) or only the
    searchable fields (study and subject indices)."""

    def __init__(self, collections: pa.Table) -> None:
        self.inherited: dict[str, dict[str, list[str]]] = {}
        self.names: dict[str, str] = {}
        for row in collections.to_pylist():
            key = dataset_key(row["source"], row["collection"])
            self.inherited[key] = {n: list(row[n] or []) for n in INHERITED}
            self.names[key] = row["name"] or ""

    def row(self, raw: JSON, subject_key: str, full: bool) -> JSON:
        key = dataset_key(raw["source"], raw["collection"])
        out = {k: _jsonable(v) for k, v in raw.items()} if full else {
            k: _jsonable(raw[k]) for k in _MAPPED if k in raw}
        out.update(self.inherited.get(key) or {n: [] for n in INHERITED})
        out["dataset"] = key
        out["subject_key"] = subject_key
        out["study_description"] = (raw["study_description"] or "")[:MAX_TEXT] or None
        out["tx"] = normalise(*(raw[c] for c in TEXT_COLUMNS))[:MAX_TEXT] or None
        if full:
            out["text"] = " ".join(filter(None, (
                raw["series_description"], raw["study_description"], raw["collection"],
                self.names.get(key))))
        return out


def level_docs(series: pa.Table, subject_keys: pa.Array, level: str, index: str,
               rows: RowBuilder) -> Iterator[JSON]:
    """Bulk actions of one level index: one document per key, its records nested."""
    key_col = {"series": series.column("series_uid"), "study": series.column("study_uid"),
               "subject": subject_keys}[level]
    order = np.asarray(pc.sort_indices(key_col).to_numpy(zero_copy_only=False), np.int64)
    full = level == "series"
    current: str | None = None
    members: list[JSON] = []
    for start in range(0, len(order), BATCH):
        take = pa.array(order[start:start + BATCH])
        batch = series.take(take).to_pylist()
        subj = subject_keys.take(take).to_pylist()
        for raw, skey in zip(batch, subj, strict=True):
            k = {"series": raw["series_uid"], "study": raw["study_uid"], "subject": skey}[level]
            if k is None:
                if level == "study":  # no study: the record is in the subject index only
                    continue
                k = f"\x00record:{raw['id']}"  # no series: a document of its own (read back)
            if k != current and members:
                yield _doc(level, index, current or "", members)
                members = []
            current = k
            members.append(rows.row(raw, skey, full))
    if members:
        yield _doc(level, index, current or "", members)


def _doc(level: str, index: str, key: str, members: list[JSON]) -> JSON:
    members.sort(key=lambda r: (r["source"], r["collection"], r["id"]))
    source: JSON = {"key": key, "r": members}
    if level == "series":
        sizes = [m["size_bytes"] for m in members if m["size_bytes"] is not None]
        source.update(study_uid=members[0]["study_uid"],
                      hosts=sorted({m["source"] for m in members}),
                      instances=max(m["instances"] or 0 for m in members),
                      size_bytes=max(sizes) if sizes else None)
    return {"_index": index, "_id": doc_id(key), "_source": source}


def collection_docs(collections: pa.Table, index: str) -> Iterator[JSON]:
    for row in collections.to_pylist():
        doc = {k: _jsonable(v) for k, v in row.items()}
        doc["dataset"] = dataset_key(row["source"], row["collection"])
        yield {"_index": index, "_id": doc_id(row["id"]), "_source": doc}


def collection_from_doc(doc: JSON) -> JSON:
    """A collection document back as ``CollectionRecord`` fields."""
    row = dict(doc)
    if row.get("harvested_at"):
        row["harvested_at"] = datetime.fromisoformat(row["harvested_at"])
    return collection_fields(row)
