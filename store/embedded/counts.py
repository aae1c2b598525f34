"""Exact cohort counts over a set of matching rows of a ``Generation``.

Subjects, studies and series are counted distinct through the dense codes built at publish
time, so a study present at two sources counts once overall (and once per source in the
breakdown). Instances and bytes are summed once per distinct series.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from imaging_hub.schemas.counts import CountBlock
from imaging_hub.store.embedded.engine import Generation
from imaging_hub.store.responses import count_block


@dataclass
class _Lookups:
    """Per-generation lookup tables from a code to what it belongs to (built once)."""

    series_instances: np.ndarray
    series_bytes: np.ndarray
    coll_of: dict[str, np.ndarray]  # code column -> collection code of each code
    src_of_subject: np.ndarray
    src_of_study: np.ndarray
    series_of_coll_series: np.ndarray
    sizes: dict[str, int]
    row_instances: np.ndarray  # per row, 0 when unknown
    row_bytes: np.ndarray
    row_size_unknown: np.ndarray  # per row: the source gave no size (e.g. QIDO-RS)


def _owner(codes: np.ndarray, owner: np.ndarray, size: int) -> np.ndarray:
    out = np.zeros(size, np.int64)
    out[codes] = owner
    return out


class Counter:
    """Counts for one generation; lookups are computed on first use and cached."""

    def __init__(self, gen: Generation) -> None:
        self.gen = gen

    @cached_property
    def lookups(self) -> _Lookups:
        g = self.gen
        inst = g.numeric["instances"]
        size = np.nan_to_num(g.numeric["size_bytes"])
        n_series = _size(g.codes["_series"])
        series_instances = np.zeros(n_series, np.float64)
        series_bytes = np.zeros(n_series, np.float64)
        # copies of one series at several hosts carry the same counts; keep the largest
        sr = g.series_rows(None)
        codes = g.codes["_series"] if sr is None else g.codes["_series"][sr]
        np.maximum.at(series_instances, codes, np.nan_to_num(_take(inst, sr)))
        np.maximum.at(series_bytes, codes, _take(size, sr))
        coll = g.keyword["collection"].codes
        src = g.keyword["source"].codes
        coll_of = {
            c: _owner(g.codes[c], coll, _size(g.codes[c]))
            for c in ("_coll_subject", "_coll_study", "_coll_series")
        }
        sizes = {name: _size(codes) for name, codes in g.codes.items()}
        return _Lookups(
            series_instances=series_instances, series_bytes=series_bytes, coll_of=coll_of,
            src_of_subject=_owner(g.codes["_src_subject"], src, sizes["_src_subject"]),
            src_of_study=_owner(g.codes["_src_study"], src, sizes["_src_study"]),
            series_of_coll_series=_owner(
                g.codes["_coll_series"], g.codes["_series"], sizes["_coll_series"]),
            sizes=sizes, row_instances=np.nan_to_num(inst).astype(np.int64),
            row_bytes=size.astype(np.int64),
            row_size_unknown=np.isnan(g.numeric["size_bytes"]),
        )

    def _distinct(self, code: str, rows: np.ndarray | None) -> np.ndarray:
        """Distinct codes of column ``code`` among ``rows`` as a boolean array (series and
        study codes only over rows that have a series / study)."""
        if code in SERIES_CODES:
            rows = self.gen.series_rows(rows)
        elif code in STUDY_CODES:
            rows = self.gen.study_rows(rows)
        codes = self.gen.codes[code]
        seen = np.zeros(self.lookups.sizes[code], bool)
        seen[codes if rows is None else codes[rows]] = True
        return seen

    @cached_property
    def series_unique(self) -> bool:
        """True when no series is held by two sources (then series rows are distinct
        series)."""
        sr = self.gen.series_rows(None)
        n_rows = self.gen.n if sr is None else len(sr)
        return self.lookups.sizes.get("_series", 0) == n_rows

    def overall(self, rows: np.ndarray | None) -> CountBlock:
        if rows is None:
            return self._overall_all
        return self._overall(rows)

    @cached_property
    def _overall_all(self) -> CountBlock:
        return self._overall(None)

    def _overall(self, rows: np.ndarray | None) -> CountBlock:
        lk, g = self.lookups, self.gen
        subjects = np.count_nonzero(self._distinct("_subject", rows))
        studies = np.count_nonzero(self._distinct("_study", rows))
        srows = g.series_rows(rows)
        unknown = np.count_nonzero(_take(lk.row_size_unknown, srows))
        if self.series_unique:
            n = g.n if srows is None else len(srows)
            inst = _take(lk.row_instances, srows)
            size = _take(lk.row_bytes, srows)
            return count_block(subjects, studies, n, int(inst.sum()), int(size.sum()), unknown)
        series = self._distinct("_series", rows)
        return count_block(subjects, studies, np.count_nonzero(series),
                      lk.series_instances[series].sum(), lk.series_bytes[series].sum(), unknown)

    def by_source(self, rows: np.ndarray | None,
                  overall: CountBlock | None = None) -> dict[str, CountBlock]:
        """Per-source counts; pass ``overall`` when already computed for the same rows."""
        g, lk = self.gen, self.lookups
        kw = g.keyword["source"]
        if len(kw.values) == 1:  # one source: its breakdown is the overall count
            block = overall or self.overall(rows)
            return {kw.values[0]: block} if block.subjects.count else {}
        srows = g.series_rows(rows)
        src = _take(kw.codes, srows)
        k = kw.size
        subjects = np.bincount(lk.src_of_subject[self._distinct("_src_subject", rows)],
                               minlength=k)
        studies = np.bincount(lk.src_of_study[self._distinct("_src_study", rows)], minlength=k)
        series = np.bincount(src, minlength=k)  # rows are unique per (source, series)
        inst = np.bincount(src, weights=_take(lk.row_instances, srows), minlength=k)
        size = np.bincount(src, weights=_take(lk.row_bytes, srows), minlength=k)
        unknown = np.bincount(src, weights=_take(lk.row_size_unknown, srows), minlength=k)
        return {
            kw.values[i]: count_block(subjects[i], studies[i], series[i], inst[i], size[i],
                                      unknown[i])
            for i in np.flatnonzero(subjects[:-1])
        }

    def by_collection(self, rows: np.ndarray | None) -> dict[str, CountBlock]:
        g, lk = self.gen, self.lookups
        kw = g.keyword["collection"]
        k = kw.size
        per: dict[str, np.ndarray] = {}
        for name in ("_coll_subject", "_coll_study", "_coll_series"):
            per[name] = np.bincount(lk.coll_of[name][self._distinct(name, rows)], minlength=k)
        cs = self._distinct("_coll_series", rows)
        # series code of each (collection, series) pair, to sum instances/bytes once per pair
        pair_series = lk.series_of_coll_series[cs]
        owner = lk.coll_of["_coll_series"][cs]
        inst = np.bincount(owner, weights=lk.series_instances[pair_series], minlength=k)
        size = np.bincount(owner, weights=lk.series_bytes[pair_series], minlength=k)
        srows = g.series_rows(rows)
        coll = _take(kw.codes, srows)
        unknown = np.bincount(coll, weights=_take(lk.row_size_unknown, srows), minlength=k)
        return {
            kw.values[i]: count_block(per["_coll_subject"][i], per["_coll_study"][i],
                                      per["_coll_series"][i], inst[i], size[i], unknown[i])
            for i in np.flatnonzero(per["_coll_subject"][:-1])
        }


SERIES_CODES = frozenset({"_series", "_coll_series"})
STUDY_CODES = frozenset({"_study", "_src_study", "_coll_study"})


def _size(codes: np.ndarray) -> int:
    return int(codes.max()) + 1 if len(codes) else 0


def _take(values: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
    return values if rows is None else values[rows]
