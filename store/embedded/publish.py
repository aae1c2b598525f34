"""Publishing one source's harvest as a new generation of the embedded index.

The served generation's files are read (no query structures needed), merged with the
harvest (``store/merge.py``, shared by every backend), sorted and coded, written beside the
served generation and switched to atomically (``layout.commit_generation``); on any failure
the served one stays.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from imaging_hub.errors import NoIndexError, StoreError
from imaging_hub.indexers.base import HarvestResult, Scope
from imaging_hub.schemas.columnar import COLLECTION_SCHEMA, SERIES_SCHEMA
from imaging_hub.store.arrowio import read_arrow, write_arrow
from imaging_hub.store.embedded import layout
from imaging_hub.store.embedded.build import build_tables
from imaging_hub.store.merge import Published, count_in_scope, merging


def published_count(index_dir: Path, source: str, scope: Scope | None) -> int:
    """Records of ``source`` the served generation holds within ``scope``. Raises
    ``NoIndexError`` when nothing is published."""
    served = layout.current_name(index_dir)
    if served is None:
        raise NoIndexError(f"no index published under {index_dir}")
    return count_in_scope(read_arrow(index_dir / served / layout.SERIES_FILE), source, scope)


def publish_generation(index_dir: Path, result: HarvestResult, source_type: str) -> Published:
    """Build, write and switch to the generation holding ``result``. Raises ``StoreError``."""
    with layout.publish_lock(index_dir):
        served = layout.current_name(index_dir)
        sources: dict[str, Any] = {}
        old_s, old_c = SERIES_SCHEMA.empty_table(), COLLECTION_SCHEMA.empty_table()
        if served:
            gen_dir = index_dir / served
            old_s = read_arrow(gen_dir / layout.SERIES_FILE)
            old_c = read_arrow(gen_dir / layout.COLLECTIONS_FILE)
            sources = dict(layout.read_manifest(gen_dir)["sources"])
        with merging(old_s, old_c, sources, result, source_type) as merged:
            series, colls = build_tables(merged.series(), merged.collections)
        name = _write(index_dir, series, colls, merged.sources)
        layout.collect_garbage(index_dir)
    return Published(name, merged.report)


def _write(index_dir: Path, series: pa.Table, colls: pa.Table, sources: dict[str, Any]) -> str:
    name = layout.new_generation_name()
    tmp = index_dir / f".tmp-{name}"
    tmp.mkdir(parents=True)
    try:
        write_arrow(series, tmp / layout.SERIES_FILE)
        write_arrow(colls, tmp / layout.COLLECTIONS_FILE)
        manifest = {"generation": name, "layout": layout.LAYOUT_VERSION,
                    "created_at": datetime.now(UTC).isoformat(),
                    "series": series.num_rows, "collections": colls.num_rows,
                    "sources": sources}
        (tmp / layout.MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))
        layout.commit_generation(index_dir, tmp, name)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise StoreError(f"could not write generation {name}: {exc}") from exc
    return name
