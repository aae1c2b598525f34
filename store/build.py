"""Build a generation's tables from Arrow tables: merge, sort, dictionary-encode, code.

The dense ``_codes`` computed here are what makes exact distinct counts cheap at query time:
counting distinct subjects becomes marking integers in a boolean array. Everything is
hash- or sort-based on whole columns (pyarrow/numpy), no per-row Python.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from imaging_hub.schemas.columnar import COLLECTION_SCHEMA, SERIES_SCHEMA

# Keyword columns stored dictionary-encoded (their dictionary indices are the facet codes).
DICT_COLUMNS = (
    "source", "collection", "subject_id", "study_uid", "doi", "modality", "body_part", "sex",
    "manufacturer", "license", "access", "study_description", "series_description",
)
# Dense integer codes: identity of subjects, studies and series across the whole index, and
# per source / per collection (for exact distinct counts broken down by either).
CODE_COLUMNS = (
    "_subject", "_src_subject", "_study", "_series", "_src_study", "_coll_subject",
    "_coll_study",
    "_coll_series", "_dataset",
)
SORT_KEYS = [("source", "ascending"), ("collection", "ascending"),
             ("study_uid", "ascending"), ("series_uid", "ascending")]


def build_tables(
    kept_series: pa.Table, new_series: pa.Table, kept_colls: pa.Table, new_colls: pa.Table,
) -> tuple[pa.Table, pa.Table]:
    """Merge the kept rows of other sources with a source's new rows; sort; add codes.

    Returns (series, collections). Collections are sorted by (source, collection) and
    ``_dataset`` is a series' position in that table, -1 when its collection has no record.
    """
    series = pa.concat_tables(
        [plain(kept_series).select(SERIES_SCHEMA.names).cast(SERIES_SCHEMA),
         new_series.select(SERIES_SCHEMA.names).cast(SERIES_SCHEMA)]
    ).combine_chunks()
    series = series.take(pc.sort_indices(series, sort_keys=SORT_KEYS))
    colls = pa.concat_tables(
        [kept_colls.select(COLLECTION_SCHEMA.names).cast(COLLECTION_SCHEMA),
         new_colls.select(COLLECTION_SCHEMA.names).cast(COLLECTION_SCHEMA)]
    ).combine_chunks()
    colls = pa.concat_tables([colls, _missing_collections(series, colls)])
    colls = colls.take(pc.sort_indices(
        colls, sort_keys=[("source", "ascending"), ("collection", "ascending")]))
    series = _encode(series)
    codes = _codes(series, colls)
    for name in CODE_COLUMNS:
        series = series.append_column(name, pa.array(codes[name], pa.int32()))
    return series, colls


def _missing_collections(series: pa.Table, colls: pa.Table) -> pa.Table:
    """Minimal collection records for (source, collection) pairs that have series but no
    record of their own (DICOMweb or folder sources), so every series has a dataset to
    browse at collection level. Access/licence: the smallest value among its series."""
    groups = series.group_by(["source", "collection"]).aggregate([
        ("access", "min"), ("license", "min"), ("license_url", "min"),
        ("source_version", "max"), ("harvested_at", "max"), ("run_id", "max")])
    have = set(zip(colls.column("source").to_pylist(), colls.column("collection").to_pylist(),
                   strict=True))
    rows = []
    for g in groups.to_pylist():
        if (g["source"], g["collection"]) in have:
            continue
        rows.append({
            "id": f"{g['source']}:collection:{g['collection']}", "source": g["source"],
            "collection": g["collection"], "name": g["collection"],
            "disease_type": [], "primary_site": [], "species": [], "doi": [],
            "access": g["access_min"], "license": g["license_min"],
            "license_url": g["license_url_min"], "commercial_use": None,
            "source_version": g["source_version_max"], "harvested_at": g["harvested_at_max"],
            "run_id": g["run_id_max"],
        })
    return pa.Table.from_pylist(rows, schema=COLLECTION_SCHEMA)


def plain(table: pa.Table) -> pa.Table:
    """Decode dictionary columns of a stored generation back to plain strings."""
    cols = [
        pc.cast(col, col.type.value_type) if pa.types.is_dictionary(col.type) else col
        for col in table.columns
    ]
    return pa.table(cols, names=table.column_names)


def _encode(table: pa.Table) -> pa.Table:
    for name in DICT_COLUMNS:
        i = table.schema.get_field_index(name)
        table = table.set_column(i, name, pc.dictionary_encode(table.column(name)))
    return table.combine_chunks()


def indices(table: pa.Table, name: str) -> np.ndarray:
    """Dictionary indices of a column as int64, nulls as -1."""
    arr = table.column(name).combine_chunks()
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.chunk(0) if arr.num_chunks else pa.array([], arr.type)
    return np.asarray(pc.fill_null(arr.indices, -1).to_numpy(zero_copy_only=False), np.int64)


def _dense(*parts: np.ndarray) -> np.ndarray:
    """Dense code of the tuple of integer columns (sort-based factorisation)."""
    key = np.zeros(len(parts[0]), np.int64)
    for part in parts:
        span = int(part.max()) + 2 if len(part) else 1
        key = key * span + (part + 1)
    if not len(key):
        return key
    return np.unique(key, return_inverse=True)[1].astype(np.int64)


def linked_subjects(src_subject: np.ndarray, study: np.ndarray, src: np.ndarray,
                    ) -> np.ndarray:
    """One subject code per person across sources: subjects of *different* sources that
    hold the same StudyInstanceUID are one subject (transitively), so a patient mirrored at
    two hosts is counted once. Within a source its own PatientID stands.

    Connected components by min-label propagation with pointer jumping, all in numpy: per
    (study, source) one representative subject takes part in the linking.
    """
    if not len(src_subject):
        return src_subject
    pair = _dense(study, src)
    rep_of_pair = np.full(int(pair.max()) + 1, np.iinfo(np.int64).max)
    np.minimum.at(rep_of_pair, pair, src_subject)
    rep = rep_of_pair[pair]  # each row's representative subject for its (study, source)
    label = np.arange(int(src_subject.max()) + 1)
    study_min = np.empty(int(study.max()) + 1, np.int64)
    while True:
        study_min.fill(len(label))
        np.minimum.at(study_min, study, label[rep])
        new = label.copy()
        np.minimum.at(new, rep, study_min[study])
        new = new[new]
        if np.array_equal(new, label):
            break
        label = new
    return _dense(label[src_subject])


def _codes(series: pa.Table, colls: pa.Table) -> dict[str, np.ndarray]:
    src = indices(series, "source")
    coll = indices(series, "collection")
    study = indices(series, "study_uid")
    subject = linked_subjects(_dense(src, indices(series, "subject_id")), study, src)
    src_subject = _dense(src, subject)  # a person at a source: counted once per source
    uid = pc.dictionary_encode(series.column("series_uid")).combine_chunks()
    series_code = np.asarray(uid.indices.to_numpy(zero_copy_only=False), np.int64)
    return {
        "_subject": subject,
        "_src_subject": src_subject,
        "_study": study,
        "_series": series_code,
        "_src_study": _dense(src, study),
        "_coll_subject": _dense(coll, subject),
        "_coll_study": _dense(coll, study),
        "_coll_series": _dense(coll, series_code),
        "_dataset": _dataset_positions(series, colls, src, coll),
    }


def _dataset_positions(
    series: pa.Table, colls: pa.Table, src: np.ndarray, coll: np.ndarray
) -> np.ndarray:
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


def write_arrow(table: pa.Table, path: Path) -> None:
    """Write one Arrow IPC file (uncompressed, so it can be memory-mapped)."""
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=max(table.num_rows, 1))


def read_arrow(path: Path) -> pa.Table:
    """Memory-map an Arrow IPC file (zero-copy)."""
    return pa.ipc.open_file(pa.memory_map(str(path), "r")).read_all()
