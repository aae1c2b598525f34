"""Field coverage of the embedded engine: per source, the records having a value in each
searchable field, exact (one ``bincount`` per field over the visible rows)."""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc

from imaging_hub.schemas.dictionary import SourceCoverage
from imaging_hub.schemas.fields import FIELDS
from imaging_hub.store.embedded.engine import Generation


def has_value(gen: Generation, name: str) -> np.ndarray:
    """Per row, whether field ``name`` has a value (a collection-level list: whether the
    row's collection has at least one)."""
    spec = FIELDS[name]
    if name in gen.multi:
        _, incidence = gen.multi[name]
        return np.asarray(incidence.sum(axis=1) > 0, bool)[gen.dataset]
    if spec.kind == "range":
        return ~np.isnan(gen.numeric[name])
    if spec.kind == "boolean":
        return np.asarray(gen.boolean[name].codes != 2, bool)
    if name in gen.keyword:
        kw = gen.keyword[name]
        return np.asarray(kw.codes != len(kw.values), bool)
    return np.asarray(pc.is_valid(gen.table.column(name)).to_numpy(zero_copy_only=False), bool)


def coverage(gen: Generation, rows: np.ndarray | None) -> dict[str, SourceCoverage]:
    """Per source (of ``rows``; None = every row): its records and, per searchable field,
    how many have a value."""
    source = gen.keyword["source"]
    codes = source.codes if rows is None else source.codes[rows]
    size = source.size
    records = np.bincount(codes, minlength=size)
    filled = {}
    for name in FIELDS:
        present = has_value(gen, name)
        if rows is not None:
            present = present[rows]
        filled[name] = np.bincount(codes[present], minlength=size)
    return {source.values[i]: SourceCoverage(
        records=int(records[i]), fields={n: int(c[i]) for n, c in filled.items()})
        for i in range(len(source.values)) if records[i]}
