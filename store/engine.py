"""The embedded store's query engine: one immutable generation loaded as numpy columns.

Every keyword field is a dictionary-encoded column, so a filter is a lookup table over the
dictionary applied to the codes (``lut[codes]``), a facet is ``bincount`` of the codes under
a mask, and a distinct count is marking codes in a boolean array. Text search matches the
*dictionary* of each text column (tens of thousands of distinct descriptions rather than a
million rows) and maps the matches back the same way.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from imaging_hub.errors import QueryError
from imaging_hub.schemas.fields import AGE_BUCKET_YEARS, FIELDS
from imaging_hub.schemas.query import FilterValue, RangeFilter
from imaging_hub.store.build import CODE_COLUMNS, indices, read_arrow
from imaging_hub.store.layout import COLLECTIONS_FILE, SERIES_FILE, read_manifest

UPPER_CASE_FIELDS = frozenset({"modality", "body_part", "sex"})
KEYWORD_COLUMNS = ("source", "collection", "subject_id", "study_uid", "doi", "modality",
                   "body_part", "sex", "manufacturer", "license", "access")
TEXT_COLUMNS = ("study_description", "series_description")
NUMERIC_COLUMNS = ("age", "study_year", "instances", "size_bytes")
MULTI_FIELDS = ("disease_type", "primary_site", "species")
SEQUESTERED = "sequestered"

Mask = np.ndarray | None  # None means "every row"


@dataclass
class Keyword:
    """A dictionary-encoded column: codes (null → len(values)) and the dictionary."""

    codes: np.ndarray
    values: list[Any]
    _index: dict[Any, int] | None = field(default=None, repr=False)

    @property
    def size(self) -> int:
        return len(self.values) + 1  # last slot: null

    def code_of(self, value: Any) -> int | None:
        if self._index is None:
            self._index = {v: i for i, v in enumerate(self.values)}
        return self._index.get(value)


def _keyword(table: pa.Table, name: str) -> Keyword:
    arr = table.column(name).combine_chunks()
    values = arr.dictionary.to_pylist()
    codes = indices(table, name)
    codes[codes < 0] = len(values)
    return Keyword(codes.astype(np.int32), values)


class Generation:
    """A published generation, memory-mapped and ready to answer queries."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.name
        self.manifest = read_manifest(path)
        self.table = read_arrow(path / SERIES_FILE)
        self.collections = read_arrow(path / COLLECTIONS_FILE)
        self.n = self.table.num_rows
        self.keyword = {n: _keyword(self.table, n) for n in KEYWORD_COLUMNS}
        self.text = {n: _keyword(self.table, n) for n in TEXT_COLUMNS}
        self.numeric = {
            n: np.asarray(pc.cast(self.table.column(n), pa.float64())
                          .to_numpy(zero_copy_only=False), np.float64)
            for n in NUMERIC_COLUMNS
        }
        cu = self.table.column("commercial_use")
        is_null = np.asarray(pc.is_null(cu).to_numpy(zero_copy_only=False), bool)
        is_true = np.asarray(pc.fill_null(cu, False).to_numpy(zero_copy_only=False), bool)
        self.boolean = {"commercial_use": Keyword(
            np.where(is_null, 2, is_true.astype(np.int32)).astype(np.int32), [False, True])}
        self.codes = {c: np.asarray(self.table.column(c).to_numpy(), np.int64)
                      for c in CODE_COLUMNS}  # int64: what bincount and indexing use
        self.n_datasets = self.collections.num_rows
        ds = self.codes["_dataset"].copy()
        ds[ds < 0] = self.n_datasets
        self.dataset = ds
        self.multi = {f: self._incidence(f) for f in MULTI_FIELDS}
        self.orders: dict[str, np.ndarray] = {}  # sort key -> row order, filled on demand
        access = self.keyword["access"]
        hidden = access.code_of(SEQUESTERED)
        # sequestered records (held back by their data holder) never reach any answer
        self.visible: np.ndarray | None = None if hidden is None else access.codes != hidden
        self.series_index: tuple[np.ndarray, np.ndarray] | None = None  # see pages.py

    # -- collection-level lists -------------------------------------------------------------
    def _incidence(self, name: str) -> tuple[list[str], np.ndarray]:
        lists = self.collections.column(name).to_pylist()
        values = sorted({v for vs in lists for v in (vs or [])})
        pos = {v: i for i, v in enumerate(values)}
        inc = np.zeros((self.n_datasets + 1, len(values)), np.int64)
        for d, vs in enumerate(lists):
            for v in vs or []:
                inc[d, pos[v]] = 1
        return values, inc

    @cached_property
    def collection_rows(self) -> list[dict[str, Any]]:
        """Collection records as Python rows (a few hundred; read once)."""
        rows: list[dict[str, Any]] = self.collections.to_pylist()
        return rows

    @cached_property
    def source_types(self) -> dict[str, str]:
        return {n: s["type"] for n, s in self.manifest["sources"].items()}

    @cached_property
    def link_params(self) -> dict[str, dict[str, str]]:
        """Per source, what its links need at query time (WADO-RS root, viewer template)."""
        return {n: dict(s.get("links") or {}) for n, s in self.manifest["sources"].items()}

    @cached_property
    def _text_index(self) -> tuple[np.ndarray, list[tuple[list[str], np.ndarray]]]:
        """Rows grouped by their (series description, study description, dataset) triple.

        A million rows hold ~140k distinct triples in IDC, so a term is matched once per
        distinct string and once per triple, and mapped to rows with a single gather.
        Returns (triple code of each row, [(lower-cased dictionary, triple → entry)]).
        """
        sd, st = self.text["series_description"], self.text["study_description"]
        n_ds = self.n_datasets + 1
        key = (sd.codes.astype(np.int64) * st.size + st.codes) * n_ds + self.dataset
        triples, row_triple = np.unique(key, return_inverse=True)
        ds_of, rest = triples % n_ds, triples // n_ds
        ids = self.collections.column("collection").to_pylist()
        names = self.collections.column("name").to_pylist()
        coll_text = [f"{i} {n}".lower() for i, n in zip(ids, names, strict=True)] + [""]
        parts = [
            ([v.lower() for v in sd.values] + [""], rest // st.size),
            ([v.lower() for v in st.values] + [""], rest % st.size),
            (coll_text, ds_of),
        ]
        return row_triple.astype(np.int32), parts

    # -- masks ------------------------------------------------------------------------------
    def text_mask(self, text: str | None) -> Mask:
        """Rows whose series/study description or collection id/name contains every term
        (case-insensitive substring; quote a phrase to keep it together)."""
        if not text or not text.strip():
            return None
        try:
            terms = shlex.split(text)
        except ValueError:
            terms = text.split()
        row_triple, parts = self._text_index
        wanted: np.ndarray | None = None
        for term in (t.lower() for t in terms if t.strip()):
            hit = np.zeros(len(parts[0][1]), bool)
            for values, entry_of_triple in parts:
                lut = np.fromiter((term in v for v in values), bool, len(values))
                hit |= lut[entry_of_triple]
            wanted = hit if wanted is None else wanted & hit
        return None if wanted is None else wanted[row_triple]

    def field_mask(
        self, name: str, flt: FilterValue, rows: np.ndarray | None = None
    ) -> np.ndarray:
        """Which of ``rows`` (row indices; None = all rows) match one field's filter.

        Raises ``QueryError`` for values of the wrong type.
        """
        spec = FIELDS[name]

        def pick(values: np.ndarray) -> np.ndarray:
            return values if rows is None else values[rows]

        if isinstance(flt, RangeFilter):
            values = pick(self.numeric[name])
            lo = -np.inf if flt.gte is None else flt.gte
            hi = np.inf if flt.lte is None else flt.lte
            return (values >= lo) & (values <= hi)
        if spec.kind == "range":  # study_year given as a list of years
            return np.isin(pick(self.numeric[name]), [_number(name, v) for v in flt])
        if name in self.multi:
            values_, inc = self.multi[name]
            wanted = [values_.index(str(v)) for v in flt if str(v) in values_]
            in_dataset = np.asarray(inc[:, wanted].any(axis=1), bool)
            return in_dataset[pick(self.dataset)]
        if name == "series_uid":
            arr = self.table.column("series_uid")
            if rows is not None:
                arr = arr.take(pa.array(rows))
            return np.asarray(pc.is_in(arr, pa.array([str(v) for v in flt])).to_numpy(
                zero_copy_only=False), bool)
        kw = self.boolean[name] if spec.kind == "boolean" else self.keyword[name]
        lut = np.zeros(kw.size, bool)
        for v in flt:
            c = kw.code_of(coerce_value(name, spec.kind, v))
            if c is not None:
                lut[c] = True
        return lut[pick(kw.codes)]

    # -- facets -----------------------------------------------------------------------------
    def facet_counts(self, name: str, rows: np.ndarray | None) -> list[tuple[Any, int]]:
        """(value, series count) of one facet over ``rows`` (indices; None = all rows)."""
        if rows is None:  # constant for the generation: computed once
            if name not in self._all_facets:
                self._all_facets[name] = self._facet_counts(name, None)
            return self._all_facets[name]
        return self._facet_counts(name, rows)

    @cached_property
    def _all_facets(self) -> dict[str, list[tuple[Any, int]]]:
        return {}

    def _facet_counts(self, name: str, rows: np.ndarray | None) -> list[tuple[Any, int]]:
        if name == "age":
            ages = self.numeric["age"] if rows is None else self.numeric["age"][rows]
            ages = ages[~np.isnan(ages)]
            buckets = np.minimum(ages // AGE_BUCKET_YEARS, 10).astype(np.int64)
            counts = np.bincount(buckets, minlength=11)
            return [(_age_label(i), int(c)) for i, c in enumerate(counts) if c]
        if name == "study_year":
            years = self.numeric["study_year"] if rows is None else self.numeric["study_year"][rows]
            years = years[~np.isnan(years)].astype(np.int64)
            if not len(years):
                return []
            lo = int(years.min())
            counts = np.bincount(years - lo)
            return [(lo + i, int(c)) for i, c in enumerate(counts) if c]
        if name in self.multi:
            values, inc = self.multi[name]
            ds = self.dataset if rows is None else self.dataset[rows]
            per_ds = np.bincount(ds, minlength=self.n_datasets + 1)
            counts = per_ds @ inc
            return [(v, int(c)) for v, c in zip(values, counts, strict=True) if c]
        kw = self.boolean[name] if name in self.boolean else self.keyword[name]
        codes = kw.codes if rows is None else kw.codes[rows]
        counts = np.bincount(codes, minlength=kw.size)[:-1]
        return [(kw.values[i], int(c)) for i in np.flatnonzero(counts) for c in [counts[i]]]


def _age_label(bucket: int) -> str:
    lo = bucket * AGE_BUCKET_YEARS
    return f"{lo}+" if bucket >= 10 else f"{lo}-{lo + AGE_BUCKET_YEARS - 1}"


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise QueryError(f"filter {name!r} takes numbers, got {value!r}", name)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise QueryError(f"filter {name!r} takes numbers, got {value!r}", name) from None


def coerce_value(name: str, kind: str, value: Any) -> Any:
    """A filter value as stored: booleans parsed, coded fields upper-cased, text trimmed."""
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "false"):
            return text == "true"
        raise QueryError(f"filter {name!r} takes true or false, got {value!r}", name)
    text = str(value).strip()
    return text.upper() if name in UPPER_CASE_FIELDS else text
