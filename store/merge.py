"""What every backend's publish does before it writes: merge one source's harvest into the
served records.

The new generation holds every other source's records unchanged, this source's records
outside the harvest's scope (an incremental StudyDate window, or the series an updated-series
feed brings) unchanged, and the harvest's
records in place of the rest; the report says what was added, updated, unchanged, deleted.
Backends read the served records their own way, call ``merge``, and write the result their
own way (Arrow files and a pointer switch; new indices and an alias swap).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from imaging_hub.indexers.base import HarvestResult, Scope, SeriesScope
from imaging_hub.schemas.columnar import COLLECTION_SCHEMA, SERIES_SCHEMA
from imaging_hub.schemas.report import HarvestReport
from imaging_hub.store.reconcile import diff

DEFAULT_MIN_COUNT = 10  # sources.toml min_count when none was recorded


@dataclass(frozen=True)
class Published:
    """A publish's outcome: the generation now served and the source's report."""

    generation: str
    report: HarvestReport


@dataclass
class Merged:
    series: pa.Table  # every row of the new generation (SERIES_SCHEMA, plain, unsorted)
    collections: pa.Table  # COLLECTION_SCHEMA, including minimal records (see below)
    report: HarvestReport
    sources: dict[str, Any]  # per source: type, report, link parameters


def of_source(table: pa.Table, source: str) -> np.ndarray:
    column = table.column("source").cast(pa.string())
    return np.asarray(pc.fill_null(pc.equal(column, source), False)
                      .to_numpy(zero_copy_only=False), bool)


def in_scope(table: pa.Table, source: str, scope: Scope | None) -> np.ndarray:
    """Rows of ``source`` that a harvest with ``scope`` replaces."""
    mine = of_source(table, source)
    if scope is None:
        return mine
    if isinstance(scope, SeriesScope):  # only the series the harvest brings
        uids = pa.array(sorted(scope.series_uids), pa.string())
        listed = pc.is_in(table.column("series_uid").cast(pa.string()), value_set=uids)
        return mine & np.asarray(pc.fill_null(listed, False).to_numpy(zero_copy_only=False),
                                 bool)
    dates = table.column("study_date")
    inside = pc.is_valid(dates)
    if scope.start:
        inside = pc.and_(inside, pc.greater_equal(dates, pa.scalar(scope.start, pa.date32())))
    if scope.end:
        inside = pc.and_(inside, pc.less_equal(dates, pa.scalar(scope.end, pa.date32())))
    return mine & np.asarray(pc.fill_null(inside, False).to_numpy(zero_copy_only=False), bool)


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly ``schema``'s columns and types (plain, not dictionary);
    columns it lacks (records published by an older version) are null."""
    cols = []
    for f in schema:
        if f.name not in table.column_names:  # written before the field existed: unknown
            cols.append(pa.nulls(table.num_rows, f.type))
            continue
        col = table.column(f.name)
        if pa.types.is_dictionary(col.type):
            col = pc.cast(col, col.type.value_type)
        cols.append(col.cast(f.type))
    return pa.table(cols, schema=schema)


def merge(old_series: pa.Table, old_colls: pa.Table, old_sources: dict[str, Any],
          result: HarvestResult, source_type: str) -> Merged:
    """Merge ``result`` (one source's harvest) into the served records."""
    src = result.report.source
    old_series = conform(old_series, SERIES_SCHEMA)
    new_series = conform(result.series, SERIES_SCHEMA)
    replaced = in_scope(old_series, src, result.scope)
    changes = diff(old_series.filter(pa.array(replaced)), new_series)
    kept_s = old_series.filter(pa.array(~replaced))
    if result.scope is None:
        drop_c = of_source(old_colls, src)
    else:  # incremental: only the collections the harvest brings again are replaced
        drop_c = np.asarray(pc.is_in(old_colls.column("id"), result.collections.column("id"))
                            .to_numpy(zero_copy_only=False), bool)
    colls = pa.concat_tables([
        conform(old_colls.filter(pa.array(~drop_c)), COLLECTION_SCHEMA),
        conform(result.collections, COLLECTION_SCHEMA)])
    series = pa.concat_tables([kept_s, new_series]).combine_chunks()
    colls = pa.concat_tables([colls, missing_collections(series, colls)]).combine_chunks()
    report = result.report.model_copy(update={
        "status": "published", "finished_at": datetime.now(UTC),
        "scope": result.scope.describe() if result.scope else None,
        "series": new_series.num_rows + int(np.count_nonzero(
            of_source(old_series, src) & ~replaced)),
        "collections": int(np.count_nonzero(of_source(colls, src))),
        **changes})
    sources = dict(old_sources)
    sources[src] = {"type": source_type, "report": report.model_dump(mode="json"),
                    "links": dict(result.link_params),
                    "tiers": tier_summary(series, colls, src),
                    "min_count": result.min_count or DEFAULT_MIN_COUNT}
    return Merged(series, colls, report, sources)


def tier_summary(series: pa.Table, colls: pa.Table, source: str) -> dict[str, dict[str, int]]:
    """Per access tier, the source's published series and collection records: the access
    policy lists a source, and its counts, only to callers who may count those tiers."""
    out: dict[str, dict[str, int]] = {}
    for kind, table in (("series", series), ("collections", colls)):
        tiers = table.column("access").filter(pa.array(of_source(table, source)))
        for pair in pc.value_counts(tiers).to_pylist():
            if pair["values"] is not None:
                out.setdefault(pair["values"], {"series": 0, "collections": 0})[kind] = \
                    pair["counts"]
    return out


def missing_collections(series: pa.Table, colls: pa.Table) -> pa.Table:
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
