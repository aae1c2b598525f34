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

``identity_codes`` returns dense integer codes per row (the embedded engine stores them as
columns); ``subject_keys`` turns the linked subject code into a stable string key (the search
engines store it as a field and group subject documents by it).
"""

from __future__ import annotations

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


def linked_subjects(src_subject: np.ndarray, study: np.ndarray, src: np.ndarray,
                    linkable: np.ndarray | None = None) -> np.ndarray:
    """One subject code per person across sources (see the module docstring). Records
    without a study (subject-level rows of a metadata export, study code -1) link nothing,
    nor do records outside ``linkable`` (sequestered ones: what a data holder keeps back
    must not change how anyone else's records are counted).

    Connected components by min-label propagation with pointer jumping, all in numpy: per
    (study, source) one representative subject takes part in the linking.
    """
    if not len(src_subject):
        return src_subject
    label = np.arange(int(src_subject.max()) + 1)
    with_study = study >= 0 if linkable is None else (study >= 0) & linkable
    s_subject, s_study, s_src = src_subject[with_study], study[with_study], src[with_study]
    if len(s_study):
        pair = dense(s_study, s_src)
        rep_of_pair = np.full(int(pair.max()) + 1, np.iinfo(np.int64).max)
        np.minimum.at(rep_of_pair, pair, s_subject)
        rep = rep_of_pair[pair]  # each row's representative subject for its (study, source)
        study_min = np.empty(int(s_study.max()) + 1, np.int64)
        while True:
            study_min.fill(len(label))
            np.minimum.at(study_min, s_study, label[rep])
            new = label.copy()
            np.minimum.at(new, rep, study_min[s_study])
            new = new[new]
            if np.array_equal(new, label):
                break
            label = new
    return dense(label[src_subject])


def identity_codes(series: pa.Table) -> dict[str, np.ndarray]:
    """Dense codes per row: subject (linked across sources), study, series, and the same
    per source and per collection (for exact distinct counts broken down by either)."""
    src = column_codes(series, "source")
    coll = column_codes(series, "collection")
    study = column_codes(series, "study_uid")
    access = series.column("access")
    if pa.types.is_dictionary(access.type):
        access = access.cast(access.type.value_type)
    linkable = np.asarray(pc.fill_null(pc.not_equal(access, SEQUESTERED), True)
                          .to_numpy(zero_copy_only=False), bool)
    subject = linked_subjects(dense(src, column_codes(series, "subject_id")), study, src,
                              linkable)
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


def subject_keys(series: pa.Table, subject: np.ndarray) -> pa.Array:
    """A stable string key per row for its linked subject: ``<source>:<PatientID>`` of the
    subject's first row in (source, PatientID) order."""
    n = series.num_rows
    if not n:
        return pa.array([], pa.string())
    names = pc.binary_join_element_wise(
        series.column("source").cast(pa.string()),
        series.column("subject_id").cast(pa.string()), ":").combine_chunks()
    order = np.asarray(pc.sort_indices(names).to_numpy(zero_copy_only=False), np.int64)
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    first = np.full(int(subject.max()) + 1, n, np.int64)
    np.minimum.at(first, subject, rank)  # the subject's first row in name order names it
    return names.take(pa.array(order[first[subject]]))
