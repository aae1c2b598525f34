"""Publishing one source's harvest as a new generation of the embedded index.

The new generation holds every other source's records unchanged, this source's records
outside the harvest's scope (an incremental StudyDate window) unchanged, and the harvest's
records in place of the rest. It is written beside the served generation and switched to
atomically (``layout.commit_generation``); on any failure the served one stays.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from imaging_hub.errors import NoIndexError, StoreError
from imaging_hub.indexers.base import HarvestResult, Scope, SeriesScope
from imaging_hub.schemas.columnar import COLLECTION_SCHEMA, SERIES_SCHEMA
from imaging_hub.schemas.report import HarvestReport
from imaging_hub.store import layout
from imaging_hub.store.build import build_tables, plain, read_arrow, write_arrow
from imaging_hub.store.reconcile import diff


@dataclass(frozen=True)
class Published:
    generation: str
    report: HarvestReport


def _of_source(table: pa.Table, source: str) -> np.ndarray:
    column = table.column("source").cast(pa.string())
    return np.asarray(pc.fill_null(pc.equal(column, source), False)
                      .to_numpy(zero_copy_only=False), bool)


def _in_scope(table: pa.Table, source: str, scope: Scope | None) -> np.ndarray:
    """Rows of ``source`` that a harvest with ``scope`` replaces."""
    mine = _of_source(table, source)
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


def published_count(index_dir: Path, source: str, scope: Scope | None) -> int:
    """Records of ``source`` the served generation holds within ``scope``. Raises
    ``NoIndexError`` when nothing is published."""
    served = layout.current_name(index_dir)
    if served is None:
        raise NoIndexError(f"no index published under {index_dir}")
    table = read_arrow(index_dir / served / layout.SERIES_FILE)
    columns = table.select(["source", "study_date", "series_uid"])
    return int(np.count_nonzero(_in_scope(columns, source, scope)))


def publish_generation(index_dir: Path, result: HarvestResult,
                       source_type: str | None = None) -> Published:
    """Build, write and switch to the generation holding ``result``. Raises ``StoreError``."""
    src = result.report.source
    with layout.publish_lock(index_dir):
        served = layout.current_name(index_dir)
        sources: dict[str, Any] = {}
        old_s, old_c = SERIES_SCHEMA.empty_table(), COLLECTION_SCHEMA.empty_table()
        if served:
            gen_dir = index_dir / served  # read as files: no query structures needed here
            old_s = plain(read_arrow(gen_dir / layout.SERIES_FILE)).select(SERIES_SCHEMA.names)
            old_c = read_arrow(gen_dir / layout.COLLECTIONS_FILE)
            sources = dict(layout.read_manifest(gen_dir)["sources"])
        replaced = _in_scope(old_s, src, result.scope)
        changes = diff(old_s.filter(pa.array(replaced)), result.series)
        kept_s = old_s.filter(pa.array(~replaced))
        if result.scope is None:
            drop_c = _of_source(old_c, src)
        else:  # incremental: only the collections the harvest brings again are replaced
            drop_c = np.asarray(pc.is_in(old_c.column("id"), result.collections.column("id"))
                                .to_numpy(zero_copy_only=False), bool)
        kept_c = old_c.filter(pa.array(~drop_c))
        series, colls = build_tables(kept_s, result.series, kept_c, result.collections)
        report = result.report.model_copy(update={
            "status": "published", "finished_at": datetime.now(UTC),
            "scope": result.scope.describe() if result.scope else None,
            "series": result.series.num_rows + int(np.count_nonzero(
                _of_source(old_s, src) & ~replaced)),
            "collections": int(np.count_nonzero(_of_source(colls, src))),
            **changes})
        sources[src] = {"type": source_type or src, "report": report.model_dump(mode="json"),
                        "links": dict(result.link_params)}
        name = _write(index_dir, series, colls, sources)
        layout.collect_garbage(index_dir)
    return Published(name, report)


def _write(index_dir: Path, series: pa.Table, colls: pa.Table, sources: dict[str, Any]) -> str:
    name = layout.new_generation_name()
    tmp = index_dir / f".tmp-{name}"
    tmp.mkdir(parents=True)
    try:
        write_arrow(series, tmp / layout.SERIES_FILE)
        write_arrow(colls, tmp / layout.COLLECTIONS_FILE)
        manifest = {"generation": name, "created_at": datetime.now(UTC).isoformat(),
                    "series": series.num_rows, "collections": colls.num_rows,
                    "sources": sources}
        (tmp / layout.MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))
        layout.commit_generation(index_dir, tmp, name)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise StoreError(f"could not write generation {name}: {exc}") from exc
    return name
