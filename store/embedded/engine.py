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

from imaging_hub.errors import StoreError
from imaging_hub.schemas.columnar import ARROW_TYPES
from imaging_hub.schemas.fields import (
    FIELDS,
    SERIES_COLUMNS,
    TEXT_COLUMNS,
)
from imaging_hub.schemas.filters import All, Expr, FieldFilter, Match, Not, RangeFilter
from imaging_hub.schemas.query import Visibility
from imaging_hub.store.arrowio import read_arrow
from imaging_hub.store.embedded.build import CODE_COLUMNS, DICT_COLUMNS, indices
from imaging_hub.store.embedded.layout import (
    COLLECTIONS_FILE,
    LAYOUT_VERSION,
    SERIES_FILE,
    read_manifest,
)
from imaging_hub.store.embedded.text import TextIndex

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
        if self.manifest.get("layout") != LAYOUT_VERSION:
            raise StoreError(
                f"index generation {path.name} was written by an older imaging-hub (layout "
                f"{self.manifest.get('layout', 1)}, this version reads {LAYOUT_VERSION}); "
                f"run 'ihub harvest' (any source) to rebuild it")
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
        # rows without a series / study UID (subject-level rows) are no series / study
        self.has_series = _present(self.codes["_series"])
        self.has_study = _present(self.codes["_study"])
        self.multi = {f: self._incidence(f) for f in MULTI_FIELDS}
        self.orders: dict[str, np.ndarray] = {}  # sort key -> row order, filled on demand
        self._visible: dict[Visibility, np.ndarray | None] = {}
        self.series_index: tuple[np.ndarray, np.ndarray] | None = None  # see pages.py

    @staticmethod
    def only(rows: np.ndarray | None, mask: np.ndarray | None) -> np.ndarray | None:
        """``rows`` (None = all) restricted to ``mask`` (None = no restriction)."""
        if mask is None:
            return rows
        return np.flatnonzero(mask) if rows is None else rows[mask[rows]]

    def series_rows(self, rows: np.ndarray | None) -> np.ndarray | None:
        return self.only(rows, self.has_series)

    def study_rows(self, rows: np.ndarray | None) -> np.ndarray | None:
        return self.only(rows, self.has_study)

    def visible(self, vis: Visibility) -> np.ndarray | None:
        """Rows ``vis`` may see (None = every row); the access policy decides ``vis``."""
        if vis not in self._visible:
            self._visible[vis] = self._visible_rows(vis)
        return self._visible[vis]

    def _visible_rows(self, vis: Visibility) -> np.ndarray | None:
        access, src, coll = (self.keyword[n] for n in ("access", "source", "collection"))
        out = np.zeros(self.n, bool)
        for g in vis.grants:
            lut = np.zeros(access.size, bool)
            code = access.code_of(g.tier)
            if code is None:
                continue
            lut[code] = True
            rows = lut[access.codes]
            for narrow, kw in ((g.sources, src), (g.collections, coll)):
                if narrow is not None:
                    allowed = np.zeros(kw.size, bool)
                    allowed[[c for c in map(kw.code_of, narrow) if c is not None]] = True
                    rows &= allowed[kw.codes]
            out |= rows
        return None if out.all() else out

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
    def _text(self) -> TextIndex:
        return TextIndex(self)

    # -- masks ------------------------------------------------------------------------------
    def text_mask(self, text: str | None) -> Mask:
        """Rows matching a free-text query (``schemas/text.py``)."""
        return self._text.mask(text)

    def text_scores(self, text: str | None) -> np.ndarray:
        """Per row, how well it matches ``text`` (for ``sort: relevance``)."""
        return self._text.scores(text)

    def field_mask(
        self, name: str, flt: FieldFilter, rows: np.ndarray | None = None
    ) -> np.ndarray:
        """Which of ``rows`` (row indices; None = all rows) match one field's filter: any of
        its values, any of its ranges, or (``missing``) no value."""
        spec = FIELDS[name]

        def pick(values: np.ndarray) -> np.ndarray:
            return values if rows is None else values[rows]

        if spec.kind == "range":
            values = pick(self.numeric[name])
            out = np.isnan(values) if flt.missing else np.zeros(len(values), bool)
            if flt.values:
                out |= np.isin(values, [float(v) for v in flt.values])  # type: ignore[arg-type]
            for r in flt.ranges:
                out |= _in_range(values, r)
            return out
        if name in self.multi:
            values_, inc = self.multi[name]
            wanted = [values_.index(str(v)) for v in flt.values if str(v) in values_]
            in_dataset = np.asarray(inc[:, wanted].any(axis=1), bool)
            if flt.missing:
                in_dataset |= inc.sum(axis=1) == 0
            return in_dataset[pick(self.dataset)]
        if name == "series_uid":  # a million distinct values: matched by Arrow, not a lut
            arr = self.table.column("series_uid")
            if rows is not None:
                arr = arr.take(pa.array(rows))
            out = np.asarray(pc.fill_null(pc.is_in(arr, pa.array(
                [str(v) for v in flt.values], pa.string())), False).to_numpy(
                zero_copy_only=False), bool)
            if flt.missing:
                out |= np.asarray(pc.is_null(arr).to_numpy(zero_copy_only=False), bool)
            return out
        kw = self.boolean[name] if spec.kind == "boolean" else self.keyword[name]
        lut = np.zeros(kw.size, bool)
        for v in flt.values:
            c = kw.code_of(v)
            if c is not None:
                lut[c] = True
        lut[-1] = flt.missing  # the null code
        return lut[pick(kw.codes)]

    def where_mask(self, expr: Expr, rows: np.ndarray | None = None) -> np.ndarray:
        """Which of ``rows`` satisfy a ``where`` expression (all / any / not / match)."""
        if isinstance(expr, Match):
            return self.field_mask(expr.field, expr.any_of, rows)
        if isinstance(expr, Not):
            return ~self.where_mask(expr.not_, rows)
        parts = expr.all if isinstance(expr, All) else expr.any
        masks = [self.where_mask(e, rows) for e in parts]
        return np.logical_and.reduce(masks) if isinstance(expr, All) \
            else np.logical_or.reduce(masks)


def _in_range(values: np.ndarray, r: RangeFilter) -> np.ndarray:
    """Rows within ``r`` (NaN never is)."""
    out = ~np.isnan(values)
    if r.gte is not None:
        out &= values >= r.gte
    if r.gt is not None:
        out &= values > r.gt
    if r.lte is not None:
        out &= values <= r.lte
    if r.lt is not None:
        out &= values < r.lt
    return out


def _present(codes: np.ndarray) -> np.ndarray | None:
    """Rows with a value (code >= 0); None when every row has one."""
    mask = codes >= 0
    return None if mask.all() else mask


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
