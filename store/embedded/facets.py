"""Facet counts of the embedded engine, in any unit: distinct series, studies, subjects or
collections (datasets) per value, exact.

Every facet value is a dense code per row (keywords: their dictionary code; age: its decade;
study year: year minus the first year; the last code is "not recorded"). Counting distinct
entities per value uses a per-generation table of the distinct (value, entity) pairs: a
query marks the pairs its rows touch and counts marked pairs per value. When every series
is held by one source, series counts are plain row counts (``bincount``).
Collection-level list fields (disease type, ...) hang off the row's dataset: their pairs are
(dataset, entity), expanded to (value, entity) through the dataset's values.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, Literal

import numpy as np

from imaging_hub.schemas.fields import AGE_BUCKET_YEARS
from imaging_hub.store.embedded.engine import Generation
from imaging_hub.store.identity import dense

Unit = Literal["series", "studies", "subjects", "collections"]
ENTITY = {"series": "_series", "studies": "_study", "subjects": "_subject"}
AGE_BUCKETS = 11  # 0-9 ... 90-99, 100+


def age_label(bucket: int) -> str:
    lo = bucket * AGE_BUCKET_YEARS
    return f"{lo}+" if bucket >= AGE_BUCKETS - 1 else f"{lo}-{lo + AGE_BUCKET_YEARS - 1}"


class FacetCounter:
    """Facet counts for one generation; per-field tables are built on first use."""

    def __init__(self, gen: Generation) -> None:
        self.gen = gen
        self._pairs: dict[tuple[str, Unit], tuple[np.ndarray, np.ndarray]] = {}
        self._all: dict[tuple[str, Unit], list[tuple[Any, int]]] = {}

    def counts(self, name: str, rows: np.ndarray | None, unit: Unit,
               ) -> list[tuple[Any, int]]:
        """(value, count of distinct ``unit``) for one facet over ``rows`` (None = all)."""
        if rows is None:
            key = (name, unit)
            if key not in self._all:
                self._all[key] = self._counts(name, None, unit)
            return self._all[key]
        return self._counts(name, rows, unit)

    def _counts(self, name: str, rows: np.ndarray | None, unit: Unit,
                ) -> list[tuple[Any, int]]:
        if unit == "series":  # records without a series / study UID are none
            rows = self.gen.series_rows(rows)
        elif unit == "studies":
            rows = self.gen.study_rows(rows)
        if name in self.gen.multi:
            return self._multi(name, rows, unit)
        codes, labels = self._values(name)
        if unit == "series" and self.series_unique:
            per = np.bincount(codes if rows is None else codes[rows], minlength=len(labels) + 1)
        else:
            pair_of_row, pair_value = self._pair_table(name, unit)
            hit = np.zeros(len(pair_value), bool)
            hit[pair_of_row if rows is None else pair_of_row[rows]] = True
            per = np.bincount(pair_value[hit], minlength=len(labels) + 1)
        out: list[tuple[Any, int]] = [(labels[i], int(per[i])) for i in np.flatnonzero(per[:-1])]
        if per[-1]:  # "not recorded"
            out.append((None, int(per[-1])))
        return out

    # -- tables -----------------------------------------------------------------------------
    @cached_property
    def series_unique(self) -> bool:
        """No series is held by two sources: series rows are distinct series."""
        codes = self.gen.codes["_series"]
        present = codes[codes >= 0]
        return not len(present) or int(present.max()) + 1 == len(present)

    def entity(self, unit: Unit) -> np.ndarray:
        return self.gen.dataset if unit == "collections" else self.gen.codes[ENTITY[unit]]

    def _values(self, name: str) -> tuple[np.ndarray, list[Any]]:
        """Per row the value code of ``name`` (null = len(labels)) and the labels."""
        cache = self._value_cache
        if name not in cache:
            g = self.gen
            if name == "age":
                ages = g.numeric["age"]
                b = np.minimum(np.nan_to_num(ages, nan=0) // AGE_BUCKET_YEARS, AGE_BUCKETS - 1)
                codes = np.where(np.isnan(ages), AGE_BUCKETS, b).astype(np.int64)
                cache[name] = (codes, [age_label(i) for i in range(AGE_BUCKETS)])
            elif name == "study_year":
                years = g.numeric["study_year"]
                present = years[~np.isnan(years)].astype(np.int64)
                lo, hi = (int(present.min()), int(present.max())) if len(present) else (0, -1)
                codes = np.where(np.isnan(years), hi - lo + 1,
                                 np.nan_to_num(years, nan=lo) - lo).astype(np.int64)
                cache[name] = (codes, list(range(lo, hi + 1)))
            else:
                kw = g.boolean[name] if name in g.boolean else g.keyword[name]
                cache[name] = (kw.codes.astype(np.int64), list(kw.values))
        return cache[name]

    @cached_property
    def _value_cache(self) -> dict[str, tuple[np.ndarray, list[Any]]]:
        return {}

    def _pair_table(self, name: str, unit: Unit) -> tuple[np.ndarray, np.ndarray]:
        """(pair of each row, value code of each pair) for distinct (value, entity) pairs."""
        key = (name, unit)
        if key not in self._pairs:
            codes, _ = self._values(name) if name != "_dataset" else (self.gen.dataset, [])
            entity = self.entity(unit)
            pair_of_row = dense(codes, entity)
            pair_value = np.zeros(int(pair_of_row.max()) + 1 if len(pair_of_row) else 0,
                                  np.int64)
            pair_value[pair_of_row] = codes
            self._pairs[key] = (pair_of_row, pair_value)
        return self._pairs[key]

    def _multi(self, name: str, rows: np.ndarray | None, unit: Unit) -> list[tuple[Any, int]]:
        g = self.gen
        values, inc = self._incidence(name)
        ds = g.dataset if rows is None else g.dataset[rows]
        if unit == "collections" or (unit == "series" and self.series_unique):
            if unit == "collections":  # each dataset once
                per_ds = (np.bincount(ds, minlength=g.n_datasets + 1) > 0).astype(np.int64)
            else:
                per_ds = np.bincount(ds, minlength=g.n_datasets + 1)
            counts = per_ds @ inc
            return [(v, int(c)) for v, c in zip(values, counts, strict=True) if c]
        pair_of_row, _ = self._pair_table("_dataset", unit)
        ptr, vpair, vpair_value = self._multi_table(name, unit)
        hit = np.zeros(len(ptr) - 1, bool)
        hit[pair_of_row if rows is None else pair_of_row[rows]] = True
        marked = np.zeros(len(vpair_value), bool)
        marked[vpair[_expand(ptr, np.flatnonzero(hit))]] = True
        counts = np.bincount(vpair_value[marked], minlength=len(values))
        return [(v, int(c)) for v, c in zip(values, counts, strict=True) if c]

    def _multi_table(self, name: str, unit: Unit) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For the (dataset, entity) pairs: CSR pointers into the distinct (value, entity)
        pairs they stand for, and the value of each of those."""
        key = (f"multi:{name}", unit)
        if key not in self._multi_cache:
            pair_of_row, pair_ds = self._pair_table("_dataset", unit)
            pair_entity = np.zeros(len(pair_ds), np.int64)
            pair_entity[pair_of_row] = self.entity(unit)
            _, inc = self._incidence(name)
            ds_ptr = np.concatenate([[0], np.cumsum(inc.sum(axis=1))]).astype(np.int64)
            ds_vals = np.nonzero(inc)[1].astype(np.int64)  # row-major: grouped by dataset
            n_per_pair = ds_ptr[pair_ds + 1] - ds_ptr[pair_ds]
            ptr = np.concatenate([[0], np.cumsum(n_per_pair)]).astype(np.int64)
            flat = _expand(ds_ptr, pair_ds)  # positions in ds_vals, pair by pair
            value = ds_vals[flat]
            entity = np.repeat(pair_entity, n_per_pair)
            vpair = dense(value, entity) if len(value) else value
            vpair_value = np.zeros(int(vpair.max()) + 1 if len(vpair) else 0, np.int64)
            vpair_value[vpair] = value
            self._multi_cache[key] = (ptr, vpair, vpair_value)
        return self._multi_cache[key]

    def _incidence(self, name: str) -> tuple[list[Any], np.ndarray]:
        """The dataset x value incidence of a list field, with a last "not recorded" column
        (datasets holding no value), so null counts like any value."""
        if name not in self._inc_cache:
            values, inc = self.gen.multi[name]
            none = (inc.sum(axis=1) == 0).astype(inc.dtype)[:, None]
            self._inc_cache[name] = ([*values, None], np.hstack([inc, none]))
        return self._inc_cache[name]

    @cached_property
    def _inc_cache(self) -> dict[str, tuple[list[Any], np.ndarray]]:
        return {}

    @cached_property
    def _multi_cache(self) -> dict[tuple[str, Unit], tuple[np.ndarray, np.ndarray, np.ndarray]]:
        return {}


def _expand(ptr: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Concatenated ranges ptr[g]..ptr[g+1] for each g in ``groups`` (CSR gather)."""
    lengths = ptr[groups + 1] - ptr[groups]
    if not len(lengths) or not lengths.sum():
        return np.zeros(0, np.int64)
    starts = np.repeat(ptr[groups] - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return starts + np.arange(int(lengths.sum()))
