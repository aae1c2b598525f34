"""The embedded store's query engine: one immutable generation loaded as numpy columns.

Every keyword field is a dictionary-encoded column, so a filter is a lookup table over the
dictionary applied to the codes (``lut[codes]``), a facet is ``bincount`` of the codes under
a mask, and a distinct count is marking codes in a boolean array. Text search matches the
*dictionary* of each text column (tens of thousands of distinct descriptions rather than a
million rows) and maps the matches back the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from imaging_hub.schemas.columnar import ARROW_TYPES
from imaging_hub.schemas.fields import (
    FIELDS,
    SERIES_COLUMNS,
    TEXT_COLUMNS,
)
from imaging_hub.schemas.query import FilterValue, RangeFilter, Visibility
from imaging_hub.schemas.text import parse_text
from imaging_hub.store.arrowio import read_arrow
from imaging_hub.store.embedded.build import CODE_COLUMNS, DICT_COLUMNS, indices
from imaging_hub.store.embedded.layout import COLLECTIONS_FILE, SERIES_FILE, read_manifest

KEYWORD_COLUMNS = tuple(c.name for c in SERIES_COLUMNS
                        if c.filter == "keyword" and c.name != "series_uid")
NUMERIC_COLUMNS = tuple(n for n, f in FIELDS.items() if f.filter == "range")
BOOLEAN_COLUMNS = tuple(n for n, f in FIELDS.items() if f.filter == "boolean")
MULTI_FIELDS = tuple(n for n, f in FIELDS.items() if f.multi)

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
        self.table = _complete(read_arrow(path / SERIES_FILE))
        self.collections = read_arrow(path / COLLECTIONS_FILE)
        self.n = self.table.num_rows
        self.keyword = {n: _keyword(self.table, n) for n in KEYWORD_COLUMNS}
        self.text = {n: _keyword(self.table, n) for n in TEXT_COLUMNS}
        self.numeric = {
            n: np.asarray(pc.cast(self.table.column(n), pa.float64())
                          .to_numpy(zero_copy_only=False), np.float64)
            for n in NUMERIC_COLUMNS
        }
        self.boolean = {n: _boolean(self.table, n) for n in BOOLEAN_COLUMNS}
        self.codes = {c: np.asarray(self.table.column(c).to_numpy(), np.int64)
                      for c in CODE_COLUMNS}  # int64: what bincount and indexing use
        self.n_datasets = self.collections.num_rows
        ds = self.codes["_dataset"].copy()
        ds[ds < 0] = self.n_datasets
        self.dataset = ds
        self.multi = {f: self._incidence(f) for f in MULTI_FIELDS}
        self.orders: dict[str, np.ndarray] = {}  # sort key -> row order, filled on demand
        self._visible: dict[Visibility, np.ndarray | None] = {}
        self.series_index: tuple[np.ndarray, np.ndarray] | None = None  # see pages.py

    def visible(self, vis: Visibility) -> np.ndarray | None:
        """Rows ``vis`` may see (None = every row); the access policy decides ``vis``."""
        if vis not in self._visible:
            access = self.keyword["access"]
            lut = np.array([v in vis.tiers for v in access.values] + [False], bool)
            self._visible[vis] = None if lut[:-1].all() and not (
                access.codes == len(access.values)).any() else lut[access.codes]
        return self._visible[vis]

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
    def _text_index(self) -> tuple[np.ndarray, list[tuple[list[str], np.ndarray]]]:
        """Rows grouped by their (series description, study description, dataset) triple.

        A million rows hold ~140k distinct triples in IDC, so a term is matched once per
        distinct string and once per triple, and mapped to rows with a single gather.
        Returns (triple code of each row, [(lower-cased dictionary, triple → entry)]).
        """
        sd, st = (self.text[n] for n in ("series_description", "study_description"))
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
        query = parse_text(text)
        if query.empty:
            return None
        row_triple, parts = self._text_index
        wanted: np.ndarray | None = None
        for term in query.terms:
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
            return np.isin(pick(self.numeric[name]), [float(v) for v in flt])
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
            c = kw.code_of(v)
            if c is not None:
                lut[c] = True
        return lut[pick(kw.codes)]


def _complete(table: pa.Table) -> pa.Table:
    """A generation written before a field existed answers with the field null."""
    for c in SERIES_COLUMNS:
        if c.name not in table.column_names:
            kind = pa.dictionary(pa.int32(), pa.string()) if c.name in DICT_COLUMNS \
                else ARROW_TYPES[c.type]
            table = table.append_column(c.name, pa.nulls(table.num_rows, kind))
    return table


def _boolean(table: pa.Table, name: str) -> Keyword:
    col = table.column(name)
    is_null = np.asarray(pc.is_null(col).to_numpy(zero_copy_only=False), bool)
    is_true = np.asarray(pc.fill_null(col, False).to_numpy(zero_copy_only=False), bool)
    return Keyword(np.where(is_null, 2, is_true.astype(np.int32)).astype(np.int32),
                   [False, True])
