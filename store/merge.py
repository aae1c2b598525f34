"""What every backend's publish does before it writes: merge one source's harvest into the
served records.

The new generation holds every other source's records unchanged, this source's records
outside the harvest's scope (an incremental StudyDate window, or the series an updated-series
feed brings) unchanged, and the harvest's records in place of the rest; the report says what
was added, updated, unchanged, deleted. Each record also gets its linked subject's key
(``store/identity.py``).

The merge runs in DuckDB. On disk (``spill=True``, the search engines) the served records
arrive as record batches and everything is a table in a database file under a temporary
folder, within ``MEMORY_LIMIT``: a source of 100 M series needs no more memory than one of
1 M. In memory (the embedded engine, which holds its generation in memory anyway) the Arrow
tables are scanned in place. Backends read the served records their own way, call
``merging``, and write ``Merged``'s records their own way (Arrow files and a pointer
switch; new indices and an alias swap).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from imaging_hub.indexers.base import HarvestResult, Scope, SeriesScope
from imaging_hub.schemas.columnar import COLLECTION_SCHEMA, SERIES_SCHEMA
from imaging_hub.schemas.report import HarvestReport
from imaging_hub.store.identity import link_subjects
from imaging_hub.store.reconcile import diff

DEFAULT_MIN_COUNT = 10  # sources.toml min_count when none was recorded
MEMORY_LIMIT = "768MB"  # DuckDB's own; beyond it DuckDB spills to the temporary folder
RECORDS = "records"  # the merged records (SERIES_SCHEMA columns and subject_key)


@dataclass(frozen=True)
class Published:
    """A publish's outcome: the generation now served and the source's report."""

    generation: str
    report: HarvestReport


@dataclass
class Merged:
    """The new generation's records: ``RECORDS`` on ``con`` (read it with ``series`` or
    through the connection), its collections, the source's report and the manifest."""

    con: duckdb.DuckDBPyConnection
    collections: pa.Table  # COLLECTION_SCHEMA, including minimal records (see below)
    report: HarvestReport
    sources: dict[str, Any]  # per source: type, report, link parameters
    series_count: int

    def series(self) -> pa.Table:
        """Every record as one Arrow table (SERIES_SCHEMA, then ``subject_key``), in no
        particular order."""
        table = self.con.sql(f"SELECT * FROM {RECORDS}").to_arrow_table()
        return conform(table, SERIES_SCHEMA).append_column(
            "subject_key", table.column("subject_key"))


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


def literal(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def scope_sql(con: duckdb.DuckDBPyConnection, source: str, scope: Scope | None) -> str:
    """The records of ``source`` that a harvest with ``scope`` replaces, as a SQL condition
    on the series columns that is never NULL (a ``SeriesScope`` registers its UIDs on
    ``con`` as ``scope_uids``)."""
    mine = f"coalesce(source = {literal(source)}, false)"
    if scope is None:
        return mine
    if isinstance(scope, SeriesScope):  # only the series the harvest brings
        con.register("scope_uids", pa.table({"uid": pa.array(sorted(scope.series_uids),
                                                             pa.string())}))
        return (f"{mine} AND coalesce(series_uid IN (SELECT uid FROM scope_uids), false)")
    dated = ["study_date IS NOT NULL"]
    if scope.start:
        dated.append(f"study_date >= DATE '{scope.start.isoformat()}'")
    if scope.end:
        dated.append(f"study_date <= DATE '{scope.end.isoformat()}'")
    return f"{mine} AND {' AND '.join(dated)}"


def count_in_scope(table: pa.Table, source: str, scope: Scope | None) -> int:
    """Records of ``source`` in ``table`` (series columns) that ``scope`` covers."""
    con = duckdb.connect()
    try:
        con.register("served", table.select(["source", "study_date", "series_uid"]))
        return _scalar(con, f"SELECT count(*) FROM served WHERE {scope_sql(con, source, scope)}")
    finally:
        con.close()


def _connect(folder: str, spill: bool) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(Path(folder) / "merge.duckdb") if spill else ":memory:")
    for setting in ("enable_progress_bar = false", "TimeZone = 'UTC'",
                    f"temp_directory = '{Path(folder) / 'spill'}'",
                    f"memory_limit = '{MEMORY_LIMIT}'", "preserve_insertion_order = false"):
        con.execute(f"SET {setting}")
    return con


def _load_old(con: duckdb.DuckDBPyConnection, old: pa.Table | Iterable[pa.Table],
              spill: bool) -> None:
    """The served records as ``old``: a table in the database file, filled batch by batch
    (``spill``), or a view over the Arrow table."""
    if isinstance(old, pa.Table) and not spill:
        con.register("old_arrow", conform(old, SERIES_SCHEMA))
        con.execute("CREATE VIEW old AS SELECT * FROM old_arrow")
        return
    con.register("schema_arrow", SERIES_SCHEMA.empty_table())
    con.execute("CREATE TABLE old AS SELECT * FROM schema_arrow")
    for batch in [old] if isinstance(old, pa.Table) else old:
        con.register("batch_arrow", conform(batch, SERIES_SCHEMA))
        con.execute("INSERT INTO old SELECT * FROM batch_arrow")
        con.unregister("batch_arrow")


@contextmanager
def merging(old_series: pa.Table | Iterable[pa.Table], old_colls: pa.Table,
            old_sources: dict[str, Any], result: HarvestResult, source_type: str,
            spill: bool = False) -> Iterator[Merged]:
    """Merge ``result`` (one source's harvest) into the served records; the records are
    readable while the context is open."""
    src = result.report.source
    with tempfile.TemporaryDirectory(prefix="ihub-merge-") as folder:
        con = _connect(folder, spill)
        try:
            _load_old(con, old_series, spill)
            con.register("new_arrow", conform(result.series, SERIES_SCHEMA))
            con.execute(f"CREATE {'TABLE' if spill else 'VIEW'} new AS SELECT * FROM new_arrow")
            replaced = scope_sql(con, src, result.scope)
            changes = diff(con, f"SELECT * FROM old WHERE {replaced}", "SELECT * FROM new")
            kept_mine = _scalar(con, f"SELECT count(*) FROM old WHERE source = {literal(src)}"
                                     f" AND NOT ({replaced})")
            con.execute(f"CREATE {'TABLE' if spill else 'VIEW'} plain AS"
                        f" SELECT * FROM old WHERE NOT ({replaced}) UNION ALL SELECT * FROM new")
            if spill:  # copied into plain: their space goes back to the database file
                con.execute("DROP TABLE old; DROP TABLE new")
            link_subjects(con, "plain")
            con.execute(f"CREATE VIEW {RECORDS} AS SELECT p.*, k.subject_key FROM plain p"
                        " LEFT JOIN subject_of k ON p.source = k.source"
                        " AND p.subject_id IS NOT DISTINCT FROM k.subject_id")
            colls = _collections(con, old_colls, result)
            report = result.report.model_copy(update={
                "status": "published", "finished_at": datetime.now(UTC),
                "scope": result.scope.describe() if result.scope else None,
                "series": result.series.num_rows + kept_mine,
                "collections": int(pc.sum(pc.equal(colls.column("source"), src)).as_py()
                                   or 0),
                **changes})
            sources = dict(old_sources)
            sources[src] = {"type": source_type, "report": report.model_dump(mode="json"),
                            "links": dict(result.link_params),
                            "tiers": _tiers(con, colls, src),
                            "min_count": result.min_count or DEFAULT_MIN_COUNT}
            yield Merged(con, colls, report, sources,
                         _scalar(con, "SELECT count(*) FROM plain"))
        finally:
            con.close()


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    rows = con.execute(sql).fetchall()  # every row: DuckDB 2 refuses new work on a result left open
    return int(rows[0][0]) if rows and rows[0][0] is not None else 0


def _collections(con: duckdb.DuckDBPyConnection, old_colls: pa.Table,
                 result: HarvestResult) -> pa.Table:
    """The generation's collection records: the others', the harvest's, and minimal ones
    for series without a record of their own."""
    src = result.report.source
    old_colls = conform(old_colls, COLLECTION_SCHEMA)
    if result.scope is None:
        drop = pc.equal(old_colls.column("source"), src)
    else:  # incremental: only the collections the harvest brings again are replaced
        drop = pc.is_in(old_colls.column("id"), result.collections.column("id"))
    colls = pa.concat_tables([old_colls.filter(pc.invert(pc.fill_null(drop, False))),
                              conform(result.collections, COLLECTION_SCHEMA)])
    return pa.concat_tables([colls, missing_collections(con, colls)]).combine_chunks()


def _tiers(con: duckdb.DuckDBPyConnection, colls: pa.Table,
           source: str) -> dict[str, dict[str, int]]:
    """Per access tier, the source's published series and collection records: the access
    policy lists a source, and its counts, only to callers who may count those tiers."""
    out: dict[str, dict[str, int]] = {}
    series = con.execute(f"SELECT access, count(*) FROM plain WHERE source = {literal(source)}"
                         " AND access IS NOT NULL GROUP BY 1").fetchall()
    mine = colls.filter(pc.fill_null(pc.equal(colls.column("source"), source), False))
    collections = [(p["values"], p["counts"]) for p in
                   pc.value_counts(mine.column("access")).to_pylist()
                   if p["values"] is not None]
    for kind, pairs in (("series", series), ("collections", collections)):
        for tier, n in pairs:
            out.setdefault(tier, {"series": 0, "collections": 0})[kind] = int(n)
    return out


def missing_collections(con: duckdb.DuckDBPyConnection, colls: pa.Table) -> pa.Table:
    """Minimal collection records for (source, collection) pairs that have series but no
    record of their own (DICOMweb or folder sources), so every series has a dataset to
    browse at collection level. Access/licence: the smallest value among its series."""
    con.register("known_colls", colls.select(["source", "collection"]))
    groups = con.sql("""
        SELECT source, collection, min(access) AS access, min(license) AS license,
               min(license_url) AS license_url, max(source_version) AS source_version,
               max(harvested_at) AS harvested_at, max(run_id) AS run_id
        FROM plain p
        WHERE NOT EXISTS (SELECT 1 FROM known_colls k WHERE k.source = p.source
                          AND k.collection IS NOT DISTINCT FROM p.collection)
        GROUP BY source, collection ORDER BY source, collection""").to_arrow_table()
    con.unregister("known_colls")
    rows = [{**g, "id": f"{g['source']}:collection:{g['collection']}", "name": g["collection"],
             "disease_type": [], "primary_site": [], "species": [], "doi": [],
             "commercial_use": None} for g in groups.to_pylist()]
    return pa.Table.from_pylist(rows, schema=COLLECTION_SCHEMA)
