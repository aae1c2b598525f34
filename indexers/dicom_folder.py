"""Folders of DICOM files (contributed datasets, exports, media with a DICOMDIR).

Headers only are read (``stop_before_pixels`` and the few tags we index), in parallel on all
cores, then grouped into series with instance counts and bytes, in bounded memory
(``dicom_folder_stage``). Files that are not DICOM, are truncated or unreadable, or lack
their UIDs are skipped and counted with their reason (the first 10,000 listed with their
path); odd character sets and malformed values are decoded or nulled with a warning.

Configuration (``type = "dicom_folder"``): ``path``, ``collection`` (default: the folder's
name), ``license``, ``workers``, plus the keys every source has
(``imaging_hub.source_types``); records are ``controlled`` unless ``access`` says otherwise.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import pydicom
from pydantic import Field
from pydicom.errors import InvalidDicomError

from imaging_hub.errors import SourceUnavailable
from imaging_hub.indexers import dicom_folder_stage as stage
from imaging_hub.indexers.base import HarvestResult, ProgressFn, Tally, no_progress
from imaging_hub.indexers.dicom_file import FileHeader, read_header
from imaging_hub.indexers.dicom_values import Context
from imaging_hub.schemas.columnar import COLLECTION_SCHEMA
from imaging_hub.schemas.query import Link
from imaging_hub.schemas.records import AccessTier, SeriesRecord
from imaging_hub.schemas.report import HarvestReport
from imaging_hub.search_ui.links import Params, folder
from imaging_hub.source_types import BuildOptions, SourceConfigBase, SourceType
from imaging_hub.store.arrowio import bounded_duckdb, spill

CHUNK = 64
REPORTED_FILES = 10_000  # rejected paths listed in the report (all are counted)


class DicomFolderSource(SourceConfigBase):
    """``[sources.NAME] type = "dicom_folder"``: a directory tree of DICOM files."""

    type: Literal["dicom_folder"]
    path: Path
    collection: str | None = Field(None, description="Collection id (default: folder name)")
    license: str | None = None
    workers: int | None = Field(None, ge=1, description="Processes (default: all cores)")


def read_chunk(paths: list[str]) -> list[FileHeader]:
    """Headers of ``paths``; pydicom's warnings about irregular files are not printed (the
    files' problems are reported per file instead)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.getLogger("pydicom").setLevel(logging.ERROR)
        return [read_header(p) for p in paths]


def _dicomdir_refs(path: Path, root: Path) -> Iterator[str]:
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        records = ds.get("DirectoryRecordSequence") or []
    except (InvalidDicomError, OSError, ValueError, EOFError, AttributeError):
        return
    for rec in records:
        parts = rec.get("ReferencedFileID")
        if not parts:
            continue
        parts = [parts] if isinstance(parts, str) else list(parts)
        ref = (path.parent / Path(*parts)).resolve()
        if ref.is_file() and root.resolve() in ref.parents:
            yield str(ref)


@dataclass
class DicomFolderIndexer:
    """Harvest a directory tree of DICOM files."""

    name: str
    path: Path
    collection: str | None = None
    access: AccessTier = "controlled"
    license: str | None = None
    workers: int | None = None
    link_params: dict[str, str] = field(default_factory=dict)

    def harvest(self, run_id: str, progress: ProgressFn = no_progress) -> HarvestResult:
        """Read every file's header and group into series. Raises ``SourceUnavailable``
        when the folder does not exist."""
        if not self.path.is_dir():
            raise SourceUnavailable(f"{self.name}: folder {self.path} does not exist")
        now = datetime.now(UTC)
        ctx = Context(source=self.name, collection=self.collection or self.path.name,
                      source_version=f"folder {self.path} as of {now:%Y-%m-%dT%H:%MZ}",
                      harvested_at=now, run_id=run_id, access=self.access, license=self.license)
        report = HarvestReport(source=self.name, run_id=run_id,
                               source_version=ctx.source_version, started_at=now)
        tally = Tally(rejected={}, samples=[], warnings={}, max_samples=REPORTED_FILES)
        workers = self.workers or os.cpu_count() or 1
        with tempfile.TemporaryDirectory(prefix="ihub-folder-") as tmp:
            scratch = Path(tmp)
            con = bounded_duckdb(scratch)
            try:
                total = stage.walk(con, self.path, _dicomdir_refs)
                progress(f"{self.name}: reading headers", 0, total)
                headers = stage.read_headers(stage.path_chunks(con, CHUNK), read_chunk,
                                             workers if total > CHUNK else 1)
                accepted = spill(stage.accepted(headers, tally, lambda n: progress(
                    f"{self.name}: reading headers", n, total)), stage.HEADERS, scratch)
                progress(f"{self.name}: grouping into series", 0, 1)
                series = stage.group(con, accepted, ctx, tally, scratch)
            finally:
                con.close()
        report.read = total  # every file yields one header: a record's, a reject's, ...
        tally.into(report)
        report.series = series.num_rows
        return HarvestResult(series=series, collections=COLLECTION_SCHEMA.empty_table(),
                             report=report,
                             link_params={"path": str(self.path), **self.link_params})


def series_links(r: SeriesRecord, params: Params) -> list[Link]:
    """The folder holding the series' files."""
    where = r.identifiers.source_native.get("folder")
    return [folder(where)] if where else []


def build(name: str, config: DicomFolderSource, options: BuildOptions) -> DicomFolderIndexer:
    """The indexer of a configured folder (always a full pass: no windows)."""
    return DicomFolderIndexer(name=name, path=config.path, collection=config.collection,
                              access=config.access or "controlled", license=config.license,
                              workers=config.workers)


SOURCE_TYPE = SourceType(
    name="dicom_folder", config=DicomFolderSource, build_indexer=build,
    default_schedule="30 2 * * *", schedule_period_hours=24, series_links=series_links,
)
