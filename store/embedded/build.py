"""Build a generation's tables from the merged records: sort, dictionary-encode, code.

The dense ``_codes`` (``store/identity.py``) are what makes exact distinct counts cheap at
query time: counting distinct subjects becomes marking integers in a boolean array.
Everything is hash- or sort-based on whole columns (pyarrow/numpy), no per-row Python.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from imaging_hub.schemas.fields import SERIES_COLUMNS
from imaging_hub.store.identity import column_codes, identity_codes

# Keyword columns stored dictionary-encoded (their dictionary indices are the facet codes).
DICT_COLUMNS = tuple(c.name for c in SERIES_COLUMNS if (
    c.type == "keyword" and c.filter == "keyword") or (c.type in ("keyword", "json") and c.text))
CODE_COLUMNS = (
    "_subject", "_src_subject", "_study", "_series", "_src_study", "_coll_subject",
    "_coll_study", "_coll_series", "_dataset",
)
SORT_KEYS = [("source", "ascending"), ("collection", "ascending"),
             ("study_uid", "ascending"), ("series_uid", "ascending"), ("id", "ascending")]


def build_tables(series: pa.Table, colls: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Sort the merged records (with their linked ``subject_key``) and add the codes.
    Returns (series, collections).

    Collections are sorted by (source, collection) and ``_dataset`` is a series' position in
    that table, -1 when its collection has no record.
    """
    series = series.take(pc.sort_indices(series, sort_keys=SORT_KEYS))
    colls = colls.take(pc.sort_indices(
        colls, sort_keys=[("source", "ascending"), ("collection", "ascending")]))
    series = _encode(series)
    codes = identity_codes(series)
    codes["_dataset"] = _dataset_positions(series, colls)
    series = series.drop_columns(["subject_key"])  # stored as its code, _subject
    for name in CODE_COLUMNS:
        series = series.append_column(name, pa.array(codes[name], pa.int32()))
    return series, colls


def _encode(table: pa.Table) -> pa.Table:
    for name in DICT_COLUMNS:
        i = table.schema.get_field_index(name)
        table = table.set_column(i, name, pc.dictionary_encode(table.column(name)))
    return table.combine_chunks()


def indices(table: pa.Table, name: str) -> np.ndarray:
    """Dictionary indices of a stored column as int64, nulls as -1."""
    return column_codes(table, name)


def _dataset_positions(series: pa.Table, colls: pa.Table) -> np.ndarray:
    src, coll = indices(series, "source"), indices(series, "collection")
    src_values = series.column("source").combine_chunks().dictionary.to_pylist()
    coll_values = series.column("collection").combine_chunks().dictionary.to_pylist()
    position = {
        (s, c): i for i, (s, c) in enumerate(
            zip(colls.column("source").to_pylist(), colls.column("collection").to_pylist(),
                strict=True))
    }
    lut = np.full((len(src_values) + 1, len(coll_values) + 1), -1, np.int64)
    for si, s in enumerate(src_values):
        for ci, c in enumerate(coll_values):
            lut[si, ci] = position.get((s, c), -1)
    return lut[src, coll]
