"""``IndexStore.records`` on the embedded store: the matching rows of the loaded generation,
one per series, read in chunks.

The stream holds the ``Generation`` object it started with (memory-mapped Arrow files), so a
publish that switches CURRENT, or removes the generation's folder, does not change what it
reads: on Linux a removed file stays readable through an open mapping. Only the row indices
of the matches (8 bytes each) are computed up front; records are built ``CHUNK`` at a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from imaging_hub.schemas.columnar import collection_fields, series_fields
from imaging_hub.schemas.query import SeriesHit
from imaging_hub.schemas.records import CollectionRecord
from imaging_hub.store.embedded import pages
from imaging_hub.store.embedded.engine import Generation
from imaging_hub.store.responses import index_info
from imaging_hub.store.streaming import CHUNK, SeriesStream


def _plain(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Dictionary-encoded values decoded (some Arrow kernels take plain strings only)."""
    if pa.types.is_dictionary(values.type):
        return pc.cast(values, values.type.value_type)
    return values


def _pylist(values: pa.ChunkedArray) -> list[Any]:
    """A column as Python values; dictionary columns decoded through their dictionary
    (about three times faster than Arrow's ``to_pylist`` on them)."""
    arr = values.combine_chunks()
    if not pa.types.is_dictionary(arr.type):
        return list(arr.to_pylist())
    lookup = np.asarray([*arr.dictionary.to_pylist(), None], dtype=object)
    codes = arr.indices.fill_null(len(lookup) - 1).to_numpy(zero_copy_only=False)
    return list(lookup[codes].tolist())


def _rows_of(gen: Generation, rows: np.ndarray) -> list[dict[str, Any]]:
    """The records of ``rows`` as dictionaries (what ``series_fields`` reads)."""
    part = gen.table.take(pa.array(rows))
    names = part.column_names
    columns = [_pylist(part.column(n)) for n in names]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def member_rows(gen: Generation, rows: np.ndarray | None, uids: Sequence[str]) -> np.ndarray:
    """``rows`` (None = all) whose series UID is one of ``uids``."""
    column = _plain(gen.table.column("series_uid"))
    wanted = pc.fill_null(pc.is_in(column, value_set=pa.array(list(uids), pa.string())),
                          False)
    mask = np.asarray(wanted.to_numpy(zero_copy_only=False), bool)
    return np.flatnonzero(mask) if rows is None else rows[mask[rows]]


class EmbeddedStream(SeriesStream):
    """Rows ``ordered`` (one per series, in output order) of ``gen``."""

    def __init__(self, gen: Generation, ordered: np.ndarray, visible: np.ndarray | None,
                 chunk: int = CHUNK) -> None:
        super().__init__()
        self._gen = gen
        self._rows = ordered
        self._visible = visible
        self._chunk = chunk
        self.generation = gen.name
        self.index = index_info(gen.name, gen.manifest["sources"])
        self.total = len(ordered)

    def _slices(self) -> Iterator[np.ndarray]:
        for start in range(0, len(self._rows), self._chunk):
            yield self._rows[start:start + self._chunk]

    def _chunks(self) -> Iterator[list[SeriesHit]]:
        gen = self._gen
        colls = gen.collection_rows
        for rows in self._slices():
            hits = []
            for row, ds, code in zip(_rows_of(gen, rows), gen.codes["_dataset"][rows],
                                     gen.codes["_series"][rows], strict=True):
                fields = series_fields(row, colls[ds] if ds >= 0 else None)
                hits.append(SeriesHit.model_construct(
                    **fields, level="series", links=[],
                    hosts=pages.hosts_of_series(gen, int(code), self._visible)))
            yield hits

    def _uid_chunks(self) -> Iterator[list[str]]:
        column = self._gen.table.column("series_uid")
        for rows in self._slices():
            yield [str(u) for u in column.take(pa.array(rows)).to_pylist()]

    def collections(self) -> dict[tuple[str, str], CollectionRecord]:
        out = {}
        for row in self._gen.collection_rows:
            record = CollectionRecord(**collection_fields(row))
            out[(record.source, record.collection)] = record
        return out

    def _release(self) -> None:
        self._rows = np.zeros(0, np.int64)


def series_order(gen: Generation, rows: np.ndarray | None) -> np.ndarray:
    """The first row of each series among ``rows`` (None = all), in index order, without
    rows that are no series (subject-level records)."""
    series = gen.series_rows(rows)
    ordered = np.arange(gen.n) if series is None else series
    return pages.first_of_each_series(gen, ordered)


def uid_order(gen: Generation, rows: np.ndarray) -> np.ndarray:
    """``rows`` sorted by series UID (what a stream restricted to UIDs yields)."""
    if not len(rows):
        return rows
    uids = _plain(gen.table.column("series_uid").take(pa.array(rows)))
    order = pc.sort_indices(uids)
    return rows[np.asarray(order.to_numpy(zero_copy_only=False), np.int64)]
