"""Folders of DICOM files (contributed datasets, exports, media with a DICOMDIR).

Headers only are read (``stop_before_pixels`` and the few tags we index), in parallel on all
cores, then grouped into series with instance counts and bytes. Files that are not DICOM,
are truncated or unreadable, or lack their UIDs are skipped and reported with path and
reason; odd character sets and malformed values are decoded or nulled with a warning.

Configuration (``type = "dicom_folder"``): ``path``, ``collection`` (default: the folder's
name), ``license``, ``workers``, plus the keys every source has
(``imaging_hub.source_types``); records are ``controlled`` unless ``access`` says otherwise.
"""

from __future__ import annotations

import logging
import os
import struct
import warnings
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pydicom
from pydantic import Field
from pydicom.errors import InvalidDicomError

from imaging_hub.errors import SourceUnavailable
from imaging_hub.indexers.base import HarvestResult, ProgressFn, Tally, no_progress
from imaging_hub.indexers.dicom_values import Context, series_record
from imaging_hub.schemas.columnar import COLLECTION_SCHEMA, series_table
from imaging_hub.schemas.query import Link
from imaging_hub.schemas.records import AccessTier, SeriesRecord
from imaging_hub.schemas.report import HarvestReport
from imaging_hub.search_ui.links import Params, folder
from imaging_hub.source_types import BuildOptions, SourceConfigBase, SourceType

KEYWORDS = ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "PatientID",
            "PatientSex", "PatientAge", "StudyDate", "StudyDescription", "SeriesDescription",
            "Modality", "BodyPartExamined", "Manufacturer", "SpecificCharacterSet",
            "SOPClassUID")
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"
CHUNK = 64
REPORTED_FILES = 10_000  # rejected paths listed in the report (all are counted)


class DicomFolderSource(SourceConfigBase):
    """``[sources.NAME] type = "dicom_folder"``: a directory tree of DICOM files."""

    type: Literal["dicom_folder"]
    path: Path
    collection: str | None = Field(None, description="Collection id (default: folder name)")
    license: str | None = None
    workers: int | None = Field(None, ge=1, description="Processes (default: all cores)")


@dataclass(frozen=True)
class FileHeader:
    """What a worker learned about one file: values by keyword, or why it was skipped."""

    path: str
    size: int
    values: dict[str, str | None] | None = None
    reject: str | None = None
    detail: str | None = None
    warnings: tuple[str, ...] = ()
    dicomdir: bool = False


def _text(ds: pydicom.Dataset, keyword: str, warnings: list[str]) -> str | None:
    try:
        value = ds.get(keyword)
        if value is None or value == "":
            return None
        if isinstance(value, pydicom.multival.MultiValue):
            value = value[0] if len(value) else None
        return None if value is None else str(value)
    except (UnicodeError, ValueError, TypeError, LookupError):
        warnings.append(f"{keyword}_unreadable")
        return None


def _truncated(path: str, ds: pydicom.Dataset, size: int) -> bool:
    """Whether the Pixel Data element announces more bytes than the file holds."""
    offset = getattr(ds, "_pixel_data_offset", None)
    if offset is None:
        return False
    with open(path, "rb") as fh:
        fh.seek(offset)
        head = fh.read(12)
    if len(head) < 8:
        return True
    implicit, little = ds.original_encoding
    little = True if little is None else little
    fmt = "<" if little else ">"
    group, element = struct.unpack(fmt + "HH", head[:4])
    if (group, element) not in ((0x7FE0, 0x0010), (0x7FE0, 0x0008), (0x7FE0, 0x0009)):
        return False  # not positioned on pixel data: nothing to check
    if not implicit and head[4:6] in (b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"UN"):
        if len(head) < 12:
            return True
        length, start = struct.unpack(fmt + "I", head[8:12])[0], offset + 12
    else:  # implicit VR (also seen for Pixel Data inside explicit-VR files)
        length, start = struct.unpack(fmt + "I", head[4:8])[0], offset + 8
    return length != 0xFFFFFFFF and start + length > size


def read_header(path: str) -> FileHeader:
    """Read one file's header; never raises (problems become a reject reason)."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            ds = pydicom.dcmread(fh, stop_before_pixels=True)
            pixel_offset = fh.tell()
    except InvalidDicomError:
        return FileHeader(path, _size(path), reject="not_dicom")
    except (OSError, EOFError, ValueError, KeyError, TypeError, struct.error,
            NotImplementedError, AttributeError) as exc:
        return FileHeader(path, _size(path), reject="unreadable",
                          detail=f"{type(exc).__name__}: {str(exc)[:200]}")
    if len(ds) == 0:  # pydicom stops quietly at EOF: an empty data set is a cut file
        return FileHeader(path, size, reject="truncated",
                          detail="no data set after the file meta information")
    meta_class = str(getattr(ds.file_meta, "MediaStorageSOPClassUID", "") or "")
    if meta_class == MEDIA_STORAGE_DIRECTORY or "DirectoryRecordSequence" in ds:
        return FileHeader(path, size, dicomdir=True)
    warnings: list[str] = []
    values = {k: _text(ds, k, warnings) for k in KEYWORDS}
    if "Rows" in ds and pixel_offset >= size:  # an image whose file ends before its pixels
        return FileHeader(path, size, reject="truncated", detail="ends before its Pixel Data")
    if "PixelData" not in ds and pixel_offset < size:
        ds._pixel_data_offset = pixel_offset  # type: ignore[attr-defined]
        try:
            if _truncated(path, ds, size):
                return FileHeader(path, size, reject="truncated",
                                  detail="Pixel Data longer than the file")
        except (OSError, struct.error, TypeError):
            pass
    if not values["SOPInstanceUID"]:
        return FileHeader(path, size, reject="missing_sop_instance_uid")
    return FileHeader(path, size, values=values, warnings=tuple(warnings))


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def read_chunk(paths: list[str]) -> list[FileHeader]:
    """Headers of ``paths``; pydicom's warnings about irregular files are not printed (the
    files' problems are reported per file instead)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.getLogger("pydicom").setLevel(logging.ERROR)
        return [read_header(p) for p in paths]


def walk(root: Path) -> list[str]:
    """Every regular file under ``root`` plus files a DICOMDIR references inside it."""
    found: dict[str, None] = {}
    for dirpath, _dirs, files in os.walk(root.resolve()):
        for name in files:
            found[os.path.join(dirpath, name)] = None
    for path in [p for p in found if os.path.basename(p).upper().startswith("DICOMDIR")]:
        for ref in _dicomdir_refs(Path(path), root):
            found.setdefault(ref, None)
    return sorted(found)


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
        paths = walk(self.path)
        progress(f"{self.name}: reading headers", 0, len(paths))
        headers = self._read_all(paths, progress)
        report.read = len(headers)
        records = self._group(headers, ctx, tally)
        tally.into(report)
        report.series = len(records)
        return HarvestResult(series=series_table(records),
                             collections=COLLECTION_SCHEMA.empty_table(), report=report,
                             link_params={"path": str(self.path), **self.link_params})

    def _read_all(self, paths: list[str], progress: ProgressFn) -> list[FileHeader]:
        workers = self.workers or os.cpu_count() or 1
        chunks = [paths[i:i + CHUNK] for i in range(0, len(paths), CHUNK)]
        out: list[FileHeader] = []
        if workers <= 1 or len(chunks) <= 1:
            for chunk in chunks:
                out += read_chunk(chunk)
                progress(f"{self.name}: reading headers", len(out), len(paths))
            return out
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for result in pool.map(read_chunk, chunks):
                out += result
                progress(f"{self.name}: reading headers", len(out), len(paths))
        return out

    @staticmethod
    def _group(headers: list[FileHeader], ctx: Context, tally: Tally) -> list[SeriesRecord]:
        series: dict[str, dict[str, Any]] = {}
        for h in headers:
            if h.dicomdir:
                tally.warn("dicomdir_read")
                continue
            if h.reject or h.values is None:
                tally.reject(h.reject or "unreadable", h.path, h.detail)
                continue
            for w in h.warnings:
                tally.warn(w)
            uid = h.values["SeriesInstanceUID"]
            if not uid or not h.values["StudyInstanceUID"]:
                tally.reject("missing_series_uid" if not uid else "missing_study_uid", h.path)
                continue
            acc = series.setdefault(uid, {"values": h.values, "sops": set(), "bytes": 0,
                                          "dir": os.path.dirname(h.path)})
            sop = h.values["SOPInstanceUID"]
            if sop in acc["sops"]:
                tally.warn("duplicate_instance")
                continue
            if h.values["StudyInstanceUID"] != acc["values"]["StudyInstanceUID"]:
                tally.warn("series_in_several_studies")
            acc["sops"].add(sop)
            acc["bytes"] += h.size
        records = []
        for acc in series.values():
            rec = series_record(acc["values"], len(acc["sops"]), acc["bytes"], ctx, tally,
                                {"folder": acc["dir"]})
            if rec is not None:
                records.append(rec)
        return records


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
