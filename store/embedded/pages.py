"""One page of hits at each browse level — series, study, subject, collection — built from
the matching rows of a ``Generation``.

Each function takes the matching rows (None = every row) and the page window, and returns
the total at that level and the hits. Studies and subjects are grouped from their matching
series, in index order (source, collection, study, series).
"""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import pyarrow as pa

from imaging_hub.schemas.columnar import collection_fields, series_fields
from imaging_hub.schemas.query import (
    CollectionHit,
    SeriesHit,
    StudyHit,
    SubjectHit,
)
from imaging_hub.store.embedded.engine import Generation

Hit: TypeAlias = SeriesHit | StudyHit | SubjectHit | CollectionHit


def series_hits(gen: Generation, rows: np.ndarray, visible: np.ndarray | None) -> list[Hit]:
    """Full series records of ``rows`` with the hosts holding each series among the rows
    the caller may see (``visible``; None = all). Links are the query layer's."""
    if not len(rows):
        return []
    records = gen.table.take(pa.array(rows)).to_pylist()
    colls = gen.collection_rows
    hits: list[Hit] = []
    for row, ds, code in zip(records, gen.codes["_dataset"][rows],
                             gen.codes["_series"][rows], strict=True):
        fields = series_fields(row, colls[ds] if ds >= 0 else None)
        hits.append(SeriesHit.model_construct(
            **fields, level="series", links=[],
            hosts=hosts_of_series(gen, int(code), visible)))
    return hits


def first_of_each_series(gen: Generation, ordered: np.ndarray) -> np.ndarray:
    """``ordered`` rows keeping only the first row of each series (a series held by several
    sources is one hit); cheap when no series is held twice."""
    dup = duplicated_rows(gen)
    if dup is None:
        return ordered
    pos = np.flatnonzero(dup[ordered])
    if not len(pos):
        return ordered
    codes = gen.codes["_series"][ordered[pos]]
    _, first = np.unique(codes, return_index=True)
    keep = np.ones(len(ordered), bool)
    keep[pos] = False
    keep[pos[first]] = True
    return ordered[keep]


def rowless_datasets(gen: Generation) -> list[int]:
    """Datasets (collection records) without any record (e.g. a catalogue's)."""
    if "rowless" not in gen.orders:
        per = np.bincount(gen.dataset, minlength=gen.n_datasets + 1)[:-1]
        gen.orders["rowless"] = np.flatnonzero(per == 0)
    return [int(d) for d in gen.orders["rowless"]]


def duplicated_rows(gen: Generation) -> np.ndarray | None:
    """Per row: its series is held by more than one source (None when no series is)."""
    if "dup" not in gen.orders:
        codes = gen.codes["_series"]
        present = codes[codes >= 0]
        per = np.bincount(present) if len(present) else np.zeros(1, np.int64)
        dup = (per[np.maximum(codes, 0)] > 1) & (codes >= 0)
        gen.orders["dup"] = dup if dup.any() else np.zeros(0, bool)
    dup = gen.orders["dup"]
    return dup if len(dup) else None


def hosts_of_series(gen: Generation, code: int, visible: np.ndarray | None = None,
                    ) -> list[str]:
    """Sources holding the series with dense code ``code`` (in rows ``visible`` allows)."""
    order, starts = _series_index(gen)
    members = order[starts[code]:starts[code + 1]]
    if visible is not None:
        members = members[visible[members]]
    src = gen.keyword["source"]
    return sorted({src.values[c] for c in src.codes[members]})


def _series_index(gen: Generation) -> tuple[np.ndarray, np.ndarray]:
    """Rows sorted by series code and where each code starts (computed once per generation)."""
    if gen.series_index is None:
        codes = gen.codes["_series"]
        order = np.argsort(codes, kind="stable")
        starts = np.searchsorted(codes[order], np.arange(int(codes.max(initial=-1)) + 2))
        gen.series_index = (order, starts)
    return gen.series_index


def group_page(gen: Generation, rows: np.ndarray | None, code: str, start: int, size: int,
               ) -> tuple[int, list[np.ndarray]]:
    """Groups of ``rows`` sharing a code (``_study``, ``_subject``), in first-seen order.

    Returns the number of groups and, for the groups on the page, their rows.
    """
    all_rows = np.arange(gen.n) if rows is None else rows
    codes = gen.codes[code][all_rows]
    uniq, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
    page_groups = np.argsort(first, kind="stable")[start:start + size]
    selected = np.isin(inverse, page_groups)
    sub_rows, sub_groups = all_rows[selected], inverse[selected]
    return len(uniq), [sub_rows[sub_groups == g] for g in page_groups]


def _values(gen: Generation, name: str, rows: np.ndarray) -> list[str]:
    """Distinct non-null values of a keyword column among ``rows``, sorted."""
    kw = gen.keyword[name]
    return sorted(kw.values[c] for c in np.unique(kw.codes[rows]) if c < len(kw.values))


def _first(gen: Generation, name: str, rows: np.ndarray) -> str | None:
    kw = gen.keyword[name]
    codes = kw.codes[rows]
    present = codes[codes < len(kw.values)]
    return kw.values[present[0]] if len(present) else None


def _of(rows: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    return rows if mask is None else rows[mask[rows]]


def _series_and_instances(gen: Generation, rows: np.ndarray) -> tuple[int, int]:
    """(series, instances) counting each SeriesInstanceUID once across hosts."""
    codes, first = np.unique(gen.codes["_series"][rows], return_index=True)
    inst = np.nan_to_num(gen.numeric["instances"][rows[first]])
    return len(codes), int(inst.sum())


def study_hits(gen: Generation, groups: list[np.ndarray]) -> list[Hit]:
    hits: list[Hit] = []
    for rows in groups:
        first = gen.table.select(["study_uid", "subject_id", "collection", "study_date",
                                  "study_description"]).slice(int(rows[0]), 1).to_pylist()[0]
        modalities = _values(gen, "modality", rows)
        hosts = _values(gen, "source", rows)
        n_series, instances = _series_and_instances(gen, _of(rows, gen.has_series))
        date = first["study_date"]
        hits.append(StudyHit(
            id=f"study:{first['study_uid']}", study_uid=first["study_uid"],
            subject_id=first["subject_id"], collection=first["collection"], hosts=hosts,
            study_date=date.isoformat() if date else None,
            study_description=first["study_description"], modalities=modalities,
            series=n_series, instances=instances, links=[],
        ))
    return hits


def subject_hits(gen: Generation, groups: list[np.ndarray]) -> list[Hit]:
    hits: list[Hit] = []
    for rows in groups:
        source = _first(gen, "source", rows) or ""
        subject = _first(gen, "subject_id", rows) or ""
        ages = gen.numeric["age"][rows]
        ages = ages[~np.isnan(ages)]
        hits.append(SubjectHit(
            id=f"{source}:subject:{subject}", source=source, subject_id=subject,
            hosts=_values(gen, "source", rows),
            collections=_values(gen, "collection", rows), sex=_first(gen, "sex", rows),
            age_min=float(ages.min()) if len(ages) else None,
            age_max=float(ages.max()) if len(ages) else None,
            modalities=_values(gen, "modality", rows),
            studies=len(np.unique(gen.codes["_study"][_of(rows, gen.has_study)])),
            series=_series_and_instances(gen, _of(rows, gen.has_series))[0],
        ))
    return hits


def collection_page(gen: Generation, rows: np.ndarray | None, start: int, size: int,
                    rowless: list[int]) -> tuple[int, list[Hit]]:
    """Collections with a matching record, with their number of matching series, and the
    record-less collections (``store/rowless.py``) in ``rowless``, in dataset order."""
    ds = gen.dataset if rows is None else gen.dataset[rows]
    any_ds = np.bincount(ds, minlength=gen.n_datasets + 1)[:-1]
    srows = gen.series_rows(rows)
    sds = gen.dataset if srows is None else gen.dataset[srows]
    per_ds = np.bincount(sds, minlength=gen.n_datasets + 1)[:-1]  # matching series
    any_ds[rowless] = 1
    matching = np.flatnonzero(any_ds)
    hits: list[Hit] = []
    for d in matching[start:start + size]:
        fields = collection_fields(gen.collection_rows[int(d)])
        hits.append(CollectionHit.model_construct(
            **fields, level="collection", series=int(per_ds[d]), links=[]))
    return len(matching), hits
