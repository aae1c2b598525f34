"""What every indexer returns, and the small helpers they share."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Protocol

import pyarrow as pa

from imaging_hub.iterate import chunked
from imaging_hub.schemas.columnar import SERIES_SCHEMA, series_table
from imaging_hub.schemas.records import SeriesRecord
from imaging_hub.schemas.report import HarvestReport, Reject
from imaging_hub.store.arrowio import spill

RECORD_BATCH = 10_000  # records (models) held at a time on their way to a spill file
# (stage description, completed, total) — drives the CLI's progress bar.
ProgressFn = Callable[[str, int, int], None]


def no_progress(stage: str, done: int, total: int) -> None:
    """Progress sink that ignores updates."""


def new_run_id(source: str) -> str:
    """A sortable, unique harvest run id."""
    return f"{source}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class StudyDateWindow:
    """An incremental harvest's scope: studies dated within [start, end] (inclusive; ``None``
    = open). Published records of the source outside it, or undated, are kept as they are."""

    start: date | None = None
    end: date | None = None

    def qido(self) -> str:
        """As a DICOM date range for QIDO-RS matching, e.g. ``20240101-``."""
        start = f"{self.start:%Y%m%d}" if self.start else ""
        end = f"{self.end:%Y%m%d}" if self.end else ""
        return f"{start}-{end}"

    def describe(self) -> str:
        """How run reports show the scope: the StudyDate range."""
        return self.qido()


@dataclass(frozen=True)
class SeriesScope:
    """An incremental harvest that brings only some series, e.g. TCIA's updated-series feed:
    published records of the source with these SeriesInstanceUIDs are replaced, all the
    others are kept (no deletions: a periodic full pass reconciles those)."""

    series_uids: frozenset[str]

    def describe(self) -> str:
        return f"{len(self.series_uids)} updated series"


# What an incremental harvest replaces (``None`` in a result = the whole source).
Scope = StudyDateWindow | SeriesScope


@dataclass
class HarvestResult:
    """Records of one source, columnar (``SERIES_SCHEMA``/``COLLECTION_SCHEMA``), the report
    of how they were produced, the scope they replace (``None`` = the whole source) and the
    parameters its links need at query time (e.g. WADO-RS base URL, viewer URL template)."""

    series: pa.Table
    collections: pa.Table
    report: HarvestReport
    scope: Scope | None = None
    link_params: dict[str, str] = field(default_factory=dict)
    # the source's small-count threshold (sources.toml min_count), recorded in the manifest
    # at publish for the query layer (None: the default, 10)
    min_count: int | None = None


class Indexer(Protocol):
    """A configured source that can be harvested as a whole."""

    name: str

    def harvest(self, run_id: str, progress: ProgressFn = no_progress) -> HarvestResult:
        """Read the source and normalise it; raise ``HarvestError`` if it cannot complete."""
        ...


@dataclass
class Tally:
    """Per-record outcomes of a harvest: rejects (with samples) and warnings, by reason."""

    rejected: dict[str, int]
    samples: list[Reject]
    warnings: dict[str, int]
    max_samples: int = 20
    warning_samples: list[Reject] = field(default_factory=list)

    @classmethod
    def new(cls) -> Tally:
        return cls(rejected={}, samples=[], warnings={})

    def reject(self, reason: str, key: str | None = None, detail: str | None = None) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1
        if len(self.samples) < self.max_samples:
            self.samples.append(Reject(reason=reason, key=key, detail=detail))

    def warn(self, kind: str, n: int = 1, key: str | None = None,
             detail: str | None = None) -> None:
        """Count ``n`` warnings of ``kind``; with a ``key`` (e.g. the UID in conflict) the
        first few are kept as samples."""
        self.warnings[kind] = self.warnings.get(kind, 0) + n
        if key is not None and len(self.warning_samples) < self.max_samples:
            self.warning_samples.append(Reject(reason=kind, key=key, detail=detail))

    def into(self, report: HarvestReport) -> None:
        report.rejected.update(self.rejected)
        report.reject_samples.extend(self.samples)
        report.warnings.update(self.warnings)
        report.warning_samples.extend(self.warning_samples)


def spill_records(records: Iterable[SeriesRecord], folder: Path | None = None) -> pa.Table:
    """``records`` as a ``SERIES_SCHEMA`` table backed by a memory-mapped spill file (in
    ``folder``; ``store.arrowio.spill``), converted ``RECORD_BATCH`` at a time: memory holds
    one batch of records, however many there are."""
    return spill((b for chunk in chunked(records, RECORD_BATCH)
                  for b in series_table(chunk).to_batches()), SERIES_SCHEMA, folder)
