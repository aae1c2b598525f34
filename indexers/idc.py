"""NCI Imaging Data Commons, from the ``idc-index-data`` package (no network needed).

The package ships IDC's whole series index (``idc_index.parquet``, one row per series) and
its collection metadata (``collections_index.parquet``). Series are normalised in one
vectorised DuckDB pass, in bounded memory: DuckDB reads only the columns used, spills past
``memory_limit`` to a scratch folder, and streams the normalised rows batch by batch into a
memory-mapped spill file (``store.arrowio.spill``); the scratch folder is removed when the
harvest returns or fails. Small value domains (PatientAge, PatientSex) go through the pure
normalisers in ``indexers.normalise`` once per distinct value, so the rules live in one place
(the subject rule too: a series with an empty PatientID is kept, under one placeholder subject
per study, and counted as a ``patient_id_empty`` warning).

Configuration (``type = "idc"``): ``collections`` (optional list of collection ids),
``series_parquet``/``collections_parquet`` (default: the installed package's files),
``drs_prefix``, plus the keys every source has (``imaging_hub.source_types``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import duckdb
import pyarrow as pa
from pydantic import Field

from imaging_hub.errors import ConfigError, SourceFormatError
from imaging_hub.indexers import normalise
from imaging_hub.indexers.base import HarvestResult, ProgressFn, no_progress
from imaging_hub.schemas.columnar import SERIES_SCHEMA, collection_table, with_all_columns
from imaging_hub.schemas.query import Link
from imaging_hub.schemas.records import (
    Access,
    AccessTier,
    CollectionRecord,
    Provenance,
    SeriesRecord,
)
from imaging_hub.schemas.report import HarvestReport, Reject
from imaging_hub.search_ui.links import Params, doi, drs, s3
from imaging_hub.source_types import BuildOptions, SourceConfigBase, SourceType
from imaging_hub.store.arrowio import BATCH_ROWS, bounded_duckdb, spill

DRS_PREFIX = "dg.4DFC"  # the CRDC DRS namespace of IDC's GUIDs
REQUIRED = ("collection_id", "PatientID", "StudyInstanceUID", "SeriesInstanceUID")
USED = REQUIRED + (  # every column of the series index the harvest reads
    "PatientAge", "PatientSex", "StudyDate", "Modality", "BodyPartExamined", "Manufacturer",
    "StudyDescription", "SeriesDescription", "instanceCount", "license_short_name",
    "source_DOI", "crdc_series_uuid", "aws_bucket", "series_size_MB")
REJECT_SAMPLES = 20
IDC_VIEWER = "https://viewer.imaging.datacommons.cancer.gov"
IDC_PORTAL = "https://portal.imaging.datacommons.cancer.gov"
SLIDE_MODALITIES = frozenset({"SM"})


class IdcSource(SourceConfigBase):
    """``[sources.NAME] type = "idc"``: IDC from the installed idc-index-data package."""

    type: Literal["idc"] = "idc"
    collections: list[str] = Field(default_factory=list)
    series_parquet: Path | None = None
    collections_parquet: Path | None = None
    drs_prefix: str = DRS_PREFIX


@dataclass
class IdcIndexer:
    """Harvest IDC series and collections from the installed idc-index-data package."""

    name: str = "idc"
    collections: Sequence[str] = ()
    series_parquet: Path | None = None  # default: the package's idc_index.parquet
    collections_parquet: Path | None = None
    drs_prefix: str = DRS_PREFIX
    access: AccessTier | None = None  # override of every record's tier
    threads: int = 2
    memory_limit: str = "768MB"  # DuckDB's; past it, it spills to the harvest's scratch folder
    batch_rows: int = BATCH_ROWS  # normalised rows streamed out at a time
    _now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def _paths(self) -> tuple[Path, Path]:
        import idc_index_data

        series = Path(self.series_parquet or str(idc_index_data.IDC_INDEX_PARQUET_FILEPATH))
        colls = Path(self.collections_parquet or series.with_name("collections_index.parquet"))
        for p in (series, colls):
            if not p.is_file():
                raise SourceFormatError(f"IDC index file not found: {p}")
        return series, colls

    def source_version(self) -> str:
        v = package_version("idc-index-data")
        return f"IDC v{v.split('.')[0]} (idc-index-data {v})"

    def harvest(self, run_id: str, progress: ProgressFn = no_progress) -> HarvestResult:
        """Normalise every IDC series (or those of ``collections``) and every collection.

        Raises ``ConfigError`` for collection ids IDC does not have, ``SourceFormatError``
        when the index files are missing or lack the expected columns.
        """
        series_path, colls_path = self._paths()
        report = HarvestReport(
            source=self.name, run_id=run_id, source_version=self.source_version(),
            started_at=self._now,
        )
        prov = {"version": report.source_version, "at": self._now, "run": run_id}
        with tempfile.TemporaryDirectory(prefix="ihub-idc-") as scratch:
            con = self._connect(Path(scratch))
            try:
                progress("IDC: reading collections", 0, 3)
                coll_records = self._collections(con, colls_path, prov)
                progress("IDC: reading series", 1, 3)
                series = self._series(con, series_path, coll_records, report, prov,
                                      Path(scratch))
                progress("IDC: normalised", 3, 3)
            except duckdb.Error as exc:
                raise SourceFormatError(f"IDC index unreadable: {exc}") from exc
            finally:
                con.close()
        if self.collections:
            coll_records = [r for r in coll_records if r.collection in set(self.collections)]
        report.collections = len(coll_records)
        report.series = series.num_rows
        return HarvestResult(series=series, collections=collection_table(coll_records),
                             report=report)

    def _connect(self, scratch: Path) -> duckdb.DuckDBPyConnection:
        return bounded_duckdb(scratch, self.memory_limit, int(self.threads))

    # -- collections -----------------------------------------------------------------------
    def _collections(
        self, con: duckdb.DuckDBPyConnection, path: Path, prov: dict[str, Any]
    ) -> list[CollectionRecord]:
        rows = con.execute(
            "SELECT collection_id, collection_name, description, cancer_types, tumor_locations,"
            " species, subjects, program_id, status, updated, sources"
            " FROM read_parquet($path) ORDER BY collection_id",
            {"path": str(path)},
        ).fetchall()
        return [self._collection(row, prov) for row in rows]

    def _collection(self, row: tuple[Any, ...], prov: dict[str, Any]) -> CollectionRecord:
        cid, name, desc, cancer, sites, species, subjects, program, status, updated, srcs = row
        originals = [s for s in (srcs or []) if s.get("source_type") == "original_data"]
        main = originals[0] if originals else ((srcs or [None])[0] or {})
        lic = main.get("license") or {}
        return CollectionRecord(
            id=f"{self.name}:collection:{cid}", source=self.name, collection=cid,
            name=name or cid, description=normalise.text(desc),
            disease_type=normalise.split_list(cancer), primary_site=normalise.split_list(sites),
            species=normalise.split_list(species), subjects=subjects, program=program,
            status=status, updated=updated,
            doi=list(dict.fromkeys(s["source_doi"] for s in originals if s.get("source_doi"))),
            citation=_plain(main.get("citation")),
            access=Access(
                tier=self.access or _tier(main.get("Access")),
                license=lic.get("license_short_name"),
                license_url=lic.get("license_url"),
                commercial_use=normalise.commercial_use(lic.get("license_short_name")),
            ),
            provenance=Provenance(source=self.name, source_version=prov["version"],
                                  harvested_at=prov["at"], run_id=prov["run"]),
        )

    # -- series ----------------------------------------------------------------------------
    def _series(
        self, con: duckdb.DuckDBPyConnection, path: Path, colls: list[CollectionRecord],
        report: HarvestReport, prov: dict[str, Any], scratch: Path,
    ) -> pa.Table:
        self._check_columns(con, path)
        con.execute(_CLASSIFY_SQL, {"path": str(path), "wanted": list(self.collections)})
        if self.collections:
            have = {r[0] for r in con.execute(
                "SELECT DISTINCT collection_id FROM classified").fetchall()}
            missing = sorted(set(self.collections) - have)
            if missing:
                raise ConfigError(f"IDC has no collection(s): {', '.join(missing)}")
        self._value_maps(con, colls)
        for reason, n in con.execute(
            "SELECT reason, count(*) FROM classified WHERE reason IS NOT NULL GROUP BY 1"
        ).fetchall():
            report.rejected[reason] = n
        for reason, key in con.execute(
            "SELECT reason, coalesce(SeriesInstanceUID, PatientID, collection_id) FROM classified"
            " WHERE reason IS NOT NULL ORDER BY reason LIMIT $n", {"n": REJECT_SAMPLES}
        ).fetchall():
            report.reject_samples.append(Reject(reason=reason, key=key))
        report.read = con.execute("SELECT count(*) FROM classified").fetchall()[0][0]
        for kind, n in con.execute(_WARNINGS_SQL).fetchall():
            if n:
                report.warnings[kind] = n
        params = {"src": self.name, "drs": f"drs://{self.drs_prefix}:",
                  "access": self.access or "open",
                  "version": prov["version"], "at": prov["at"], "run": prov["run"]}
        reader = con.sql(_SERIES_SQL, params=params).to_arrow_reader(self.batch_rows)
        return spill(_all_columns(reader), SERIES_SCHEMA, scratch)

    @staticmethod
    def _check_columns(con: duckdb.DuckDBPyConnection, path: Path) -> None:
        cols = {r[0] for r in con.execute(
            "DESCRIBE SELECT * FROM read_parquet($path)", {"path": str(path)}).fetchall()}
        needed = set(USED)
        if needed - cols:
            raise SourceFormatError(f"IDC index lacks columns: {', '.join(sorted(needed - cols))}")

    @staticmethod
    def _value_maps(con: duckdb.DuckDBPyConnection, colls: list[CollectionRecord]) -> None:
        ages = [r[0] for r in con.execute(
            "SELECT DISTINCT PatientAge FROM classified WHERE PatientAge IS NOT NULL").fetchall()]
        no_pid = [r[0] for r in con.execute(
            f"SELECT DISTINCT trim(StudyInstanceUID) FROM classified WHERE {_blank('PatientID')}"
            f" AND NOT {_blank('StudyInstanceUID')}").fetchall()]
        con.register("subject_map", pa.table({
            "study": pa.array(no_pid, pa.string()),
            "subject": pa.array([normalise.subject_id(None, s) for s in no_pid], pa.string())}))
        sexes = [r[0] for r in con.execute(
            "SELECT DISTINCT PatientSex FROM classified WHERE PatientSex IS NOT NULL").fetchall()]
        licenses: dict[str, str | None] = {}
        for c in colls:
            if c.access.license and c.access.license_url:
                licenses.setdefault(c.access.license, c.access.license_url)
        lic_names = [r[0] for r in con.execute(
            "SELECT DISTINCT license_short_name FROM classified"
            " WHERE license_short_name IS NOT NULL"
        ).fetchall()]
        read = [normalise.parse_age(a) for a in ages]
        con.register("age_map", pa.table({
            "raw": pa.array(ages, pa.string()),
            "age": pa.array([a.years for a in read], pa.float64()),
            "warning": pa.array([a.warning for a in read], pa.string())}))
        con.register("sex_map", pa.table({
            "raw": pa.array(sexes, pa.string()),
            "sex": pa.array([normalise.sex(s) for s in sexes], pa.string())}))
        con.register("lic_map", pa.table({
            "raw": pa.array(lic_names, pa.string()),
            "url": pa.array([licenses.get(n) for n in lic_names], pa.string()),
            "commercial": pa.array([normalise.commercial_use(n) for n in lic_names], pa.bool_()),
        }))


def _tier(access: str | None) -> str:
    """IDC's per-source 'Access' value to our tier; IDC serves public data only."""
    return "registration" if access and access.strip().lower() == "limited" else "open"


def _plain(citation: str | None) -> str | None:
    """Citation HTML (``<i>``, ``&amp;``) to plain text."""
    return normalise.html_text(citation)


def _blank(col: str) -> str:
    return f"nullif(trim({col}), '') IS NULL"


def _all_columns(batches: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    """Each batch with every series column (the harmonised ones are filled by the harvest
    runner), cast to ``SERIES_SCHEMA``."""
    for batch in batches:
        yield from with_all_columns(pa.Table.from_batches([batch])).to_batches()


# the used columns only, and why a row is rejected (NULL: kept)
_CLASSIFY_SQL = f"""
CREATE TEMP TABLE classified AS
SELECT {', '.join(USED)}, CASE
    WHEN {_blank('SeriesInstanceUID')} THEN 'missing_series_uid'
    WHEN {_blank('StudyInstanceUID')} THEN 'missing_study_uid'
    WHEN {_blank('collection_id')} THEN 'missing_collection'
    WHEN instanceCount IS NULL OR instanceCount < 0 THEN 'bad_instance_count'
    WHEN row_number() OVER (PARTITION BY trim(SeriesInstanceUID) ORDER BY collection_id) > 1
        THEN 'duplicate_series_uid'
    END AS reason
FROM read_parquet($path)
WHERE len($wanted) = 0 OR list_contains($wanted, collection_id)
"""

_WARNINGS_SQL = f"""
SELECT 'patient_id_empty', count(*) FROM classified
    WHERE reason IS NULL AND {_blank('PatientID')}
UNION ALL SELECT a.warning, count(*) FROM classified c
    JOIN age_map a ON c.PatientAge = a.raw
    WHERE reason IS NULL AND a.warning IS NOT NULL GROUP BY a.warning
UNION ALL SELECT 'sex_unrecognised', count(*) FROM classified c
    JOIN sex_map s ON c.PatientSex = s.raw WHERE reason IS NULL AND s.sex IS NULL
    AND nullif(trim(c.PatientSex), '') IS NOT NULL
UNION ALL SELECT 'study_date_unparseable', count(*) FROM classified
    WHERE reason IS NULL AND nullif(trim(StudyDate), '') IS NOT NULL
    AND try_cast(StudyDate AS DATE) IS NULL
"""

_SERIES_SQL = """
SELECT
    $src || ':' || trim(c.SeriesInstanceUID) AS id,
    $src AS source,
    trim(c.collection_id) AS collection,
    coalesce(nullif(trim(c.PatientID), ''), m.subject) AS subject_id,
    trim(c.StudyInstanceUID) AS study_uid,
    trim(c.SeriesInstanceUID) AS series_uid,
    nullif(trim(c.source_DOI), '') AS doi,
    nullif(trim(c.crdc_series_uuid), '') AS crdc_series_uuid,
    CASE WHEN nullif(trim(c.crdc_series_uuid), '') IS NOT NULL
         THEN $drs || trim(c.crdc_series_uuid) END AS drs_uri,
    nullif(trim(c.aws_bucket), '') AS aws_bucket,
    NULL AS source_native,
    nullif(upper(trim(c.Modality)), '') AS modality,
    nullif(upper(trim(c.BodyPartExamined)), '') AS body_part,
    c.BodyPartExamined AS body_part_raw,
    s.sex AS sex,
    c.PatientSex AS sex_raw,
    a.age AS age,
    c.PatientAge AS age_raw,
    nullif(trim(c.Manufacturer), '') AS manufacturer,
    try_cast(c.StudyDate AS DATE) AS study_date,
    year(try_cast(c.StudyDate AS DATE))::INTEGER AS study_year,
    nullif(trim(c.StudyDescription), '') AS study_description,
    nullif(trim(c.SeriesDescription), '') AS series_description,
    c.instanceCount AS instances,
    round(c.series_size_MB * 1000000)::BIGINT AS size_bytes,
    $access AS access,
    c.license_short_name AS license,
    l.url AS license_url,
    l.commercial AS commercial_use,
    $version AS source_version,
    $at::TIMESTAMPTZ AS harvested_at,
    $run AS run_id,
    NULL::VARCHAR AS extra  -- IDC has no attributes beyond the fields
FROM classified c
LEFT JOIN age_map a ON c.PatientAge = a.raw
LEFT JOIN sex_map s ON c.PatientSex = s.raw
LEFT JOIN lic_map l ON c.license_short_name = l.raw
LEFT JOIN subject_map m ON trim(c.StudyInstanceUID) = m.study
WHERE c.reason IS NULL
"""


# -- links (built at query time from stored identifiers) -----------------------------------
def idc_viewer(r: SeriesRecord) -> list[Link]:
    """IDC's viewer: Slim for slide microscopy, OHIF v3 for everything else (none for a
    record without a series UID, which no viewer can open)."""
    if r.identifiers.series_uid is None or r.identifiers.study_uid is None:
        return []
    study, series = quote(r.identifiers.study_uid), quote(r.identifiers.series_uid)
    if r.modality in SLIDE_MODALITIES:
        return [Link(rel="viewer", host="idc", title="Slim viewer (IDC)",
                     href=f"{IDC_VIEWER}/slim/studies/{study}/series/{series}")]
    return [Link(rel="viewer", host="idc", title="OHIF v3 viewer (IDC)",
                 href=f"{IDC_VIEWER}/v3/viewer/?StudyInstanceUIDs={study}"
                      f"&initialSeriesInstanceUID={series}")]


def idc_study_viewer(study_uid: str, modalities: list[str], params: Params) -> list[Link]:
    """IDC's viewer for a whole study (Slim when the study holds slides)."""
    study = quote(study_uid)
    if SLIDE_MODALITIES & set(modalities):
        return [Link(rel="viewer", host="idc", title="Slim viewer (IDC)",
                     href=f"{IDC_VIEWER}/slim/studies/{study}")]
    return [Link(rel="viewer", host="idc", title="OHIF v3 viewer (IDC)",
                 href=f"{IDC_VIEWER}/v3/viewer/?StudyInstanceUIDs={study}")]


def idc_collection_page(collection: str) -> Link:
    return Link(rel="landing", host="idc", title="IDC portal",
                href=f"{IDC_PORTAL}/explore/filters/?collection_id={quote(collection)}")


def series_links(r: SeriesRecord, params: Params) -> list[Link]:
    """Viewer, DOI, DRS URI and S3 prefix of an IDC series."""
    links = idc_viewer(r)
    if r.identifiers.doi:
        links.append(doi(r.identifiers.doi, "idc"))
    return links + drs(r) + s3(r)


def collection_links(r: CollectionRecord, params: Params) -> list[Link]:
    return [idc_collection_page(r.collection)] + [doi(d, "idc") for d in r.doi]


def build(name: str, config: IdcSource, options: BuildOptions) -> IdcIndexer:
    """The indexer of a configured IDC source (``options.collections`` overrides its list)."""
    return IdcIndexer(
        name=name, collections=list(options.collections or config.collections),
        series_parquet=config.series_parquet, collections_parquet=config.collections_parquet,
        drs_prefix=config.drs_prefix, access=config.access)


SOURCE_TYPE = SourceType(
    name="idc", config=IdcSource, build_indexer=build,
    default_schedule="0 3 * * 1",  # IDC releases every few months: weekly is plenty
    schedule_period_hours=24 * 7,
    series_links=series_links, collection_links=collection_links,
    study_links=idc_study_viewer,
)
