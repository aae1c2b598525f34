"""Any DICOMweb server (Orthanc, dcm4chee, cloud DICOM stores), harvested with QIDO-RS.

Studies are paged with ``limit``/``offset`` (a server that caps the page size, or ignores
``limit`` or ``offset``, is handled: paging continues until an empty page, or a page it gave
already), then each study's series are queried with bounded concurrency. The listings are
grouped into series in bounded memory (``dicomweb_stage``), however many studies the server
lists. ``StudyDate`` windows make incremental runs; the store reconciles the window (new,
changed, vanished series).

Configuration (``type = "dicomweb"``): ``url`` (the DICOMweb root), ``auth``, ``collection``,
``license``, paging/concurrency/timeouts, ``incremental_days``/``full_every_days``,
``wado_url``, ``viewer_url``, plus the keys every source has (``imaging_hub.source_types``);
records are ``controlled`` unless ``access`` says otherwise.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx
from pydantic import Field, model_validator

from imaging_hub.errors import SourceFormatError
from imaging_hub.indexers import dicomweb_stage as stage
from imaging_hub.indexers.base import (
    HarvestResult,
    ProgressFn,
    StudyDateWindow,
    Tally,
    no_progress,
    spill_records,
)
from imaging_hub.indexers.dicom_values import (
    SERIES_FIELDS,
    STUDY_FIELDS,
    Context,
    json_value,
    series_record,
)
from imaging_hub.indexers.http import AuthConfig, HttpSettings, build_client, get_json
from imaging_hub.iterate import in_order
from imaging_hub.schemas.columnar import COLLECTION_SCHEMA
from imaging_hub.schemas.query import Link
from imaging_hub.schemas.records import AccessTier, SeriesRecord
from imaging_hub.schemas.report import HarvestReport
from imaging_hub.search_ui.links import Params, viewer_template, wado_rs
from imaging_hub.source_types import BuildOptions, SourceType, WindowedConfig
from imaging_hub.store.arrowio import bounded_duckdb, spill

JSON = "application/dicom+json"
WINDOW = 4  # series listings in flight per worker thread
T = TypeVar("T")


class DicomwebSource(WindowedConfig):
    """``[sources.NAME] type = "dicomweb"``: any DICOMweb server, harvested over QIDO-RS."""

    type: Literal["dicomweb"]
    url: str = Field(description="DICOMweb root, e.g. http://host:8042/dicom-web")
    auth: AuthConfig = Field(default_factory=lambda: AuthConfig.model_validate({}))
    collection: str | None = Field(None, description="Collection id (default: source name)")
    license: str | None = None
    page_size: int = Field(100, ge=1, le=10_000)
    concurrency: int = Field(4, ge=1, le=32)
    connect_timeout: float = Field(5.0, gt=0)
    read_timeout: float = Field(30.0, gt=0)
    max_attempts: int = Field(4, ge=1, le=20)
    wado_url: str | None = Field(None, description="WADO-RS root (default: url)")
    viewer_url: str | None = Field(
        None, description="Viewer URL template with {study_uid} and {series_uid}")

    @model_validator(mode="after")
    def _http_url(self) -> DicomwebSource:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, got {self.url!r}")
        return self


@dataclass
class QidoClient:
    """QIDO-RS over an injected ``httpx.Client`` whose base URL is the DICOMweb root."""

    client: httpx.Client
    page_size: int = 100
    settings: HttpSettings = field(default_factory=HttpSettings)

    def _pages(self, path: str, params: dict[str, Any]) -> Iterator[stage.Page]:
        """The pages of a paged listing as the server gives them, each entry with its digest
        (``dicomweb_stage.digest``, computed once), until an empty page or a page given
        already (the first or the previous one, in any order): a server that
        ignores ``offset`` answers every page with its first. That page short, it held the
        whole listing; full, the listing cannot be completed (``SourceFormatError``). An
        entry a later page lists again (a server reordering between pages) is left to the
        caller: ``dicomweb_stage`` keeps it from the first page that lists it. Memory holds
        two pages' digests, however long the listing."""
        first: list[str] | None = None
        previous: list[str] = []
        offset = 0
        while True:
            page = get_json(self.client, path, {**params, "limit": self.page_size,
                                                 "offset": offset}, self.settings, JSON)
            if page is None:
                return
            if not isinstance(page, list) or not all(isinstance(i, dict) for i in page):
                raise SourceFormatError(f"{path}: expected a JSON array of objects")
            if not page:
                return
            listed = [(stage.digest(item), item) for item in page]
            digests = sorted(d for d, _ in listed)
            if digests in (first, previous):
                if len(page) != self.page_size:
                    return  # a server ignoring offset whose answer was not cut short
                raise SourceFormatError(
                    f"{path}: the server repeats the page at offset {offset}; it ignores "
                    f"'offset', so the listing cannot be completed (raise page_size above the "
                    f"number of results or fix the server)")
            yield listed
            first = digests if first is None else first
            previous = digests
            offset += len(page)

    def studies(self, window: StudyDateWindow | None = None,
                ) -> Iterator[stage.Page]:
        """The pages of the (windowed) study listing."""
        params: dict[str, Any] = {"includefield": list(STUDY_FIELDS)}
        if window is not None:
            params["StudyDate"] = window.qido()
        return self._pages("studies", params)

    def series(self, study_uid: str) -> tuple[str, list[stage.Page]]:
        """A study's UID and the pages of its series listing."""
        return study_uid, list(self._pages(f"studies/{study_uid}/series",
                                           {"includefield": list(SERIES_FIELDS)}))

    def sop_uids(self, study_uid: str, series_uid: str) -> set[str]:
        """Distinct SOPInstanceUIDs the server lists for a series (QIDO-RS instances)."""
        pages = self._pages(f"studies/{study_uid}/series/{series_uid}/instances",
                            {"includefield": ["SOPInstanceUID"]})
        return {uid for page in pages for _, i in page
                if (uid := json_value(i, "SOPInstanceUID"))}


def _counted(items: Iterable[T], seen: Callable[[int], None]) -> Iterator[T]:
    """``items``, with ``seen(n)`` called after each."""
    for n, item in enumerate(items, start=1):
        yield item
        seen(n)


@dataclass
class DicomwebIndexer:
    """Harvest one DICOMweb server into series records.

    A server may list one UID more than once: Orthanc keeps a study or series sent under two
    PatientIDs as two resources with the same UIDs. A study listed with several PatientIDs
    takes the smallest (trimmed, non-empty first) and is warned ``study_uid_conflict``; a
    series listed several times is one record whose instances are the distinct
    SOPInstanceUIDs of all its copies (asked with QIDO-RS), warned ``series_uid_conflict``.
    """

    name: str
    qido: QidoClient
    collection: str | None = None
    access: AccessTier = "controlled"
    license: str | None = None
    concurrency: int = 4
    window: StudyDateWindow | None = None
    link_params: dict[str, str] = field(default_factory=dict)

    def harvest(self, run_id: str, progress: ProgressFn = no_progress) -> HarvestResult:
        """Read every (windowed) study and its series. Raises ``SourceUnavailable`` or
        ``SourceFormatError``; nothing is published then."""
        now = datetime.now(UTC)
        base = str(self.qido.client.base_url)
        ctx = Context(source=self.name, collection=self.collection or self.name,
                      source_version=f"DICOMweb {base} as of {now:%Y-%m-%dT%H:%MZ}",
                      harvested_at=now, run_id=run_id, access=self.access, license=self.license)
        report = HarvestReport(source=self.name, run_id=run_id,
                               source_version=ctx.source_version, started_at=now)
        tally = Tally.new()
        progress(f"{self.name}: listing studies", 0, 1)
        with tempfile.TemporaryDirectory(prefix="ihub-dicomweb-") as tmp:
            scratch = Path(tmp)
            con = bounded_duckdb(scratch)
            try:
                listed = spill(stage.study_rows(self.qido.studies(self.window)), stage.STUDIES,
                               scratch)
                total = stage.pick_studies(con, listed, tally)
                workers = max(1, self.concurrency)
                with ThreadPoolExecutor(max_workers=workers) as pool:
                    found = in_order(pool, self.qido.series, stage.study_uids(con),
                                     WINDOW * workers)
                    listed = spill(stage.series_rows(_counted(
                        found, lambda n: progress(f"{self.name}: studies", n, total))),
                        stage.SERIES, scratch)
                report.read = stage.group_copies(con, listed) + sum(tally.rejected.values())
                del listed
                series = spill_records((r for s in stage.series(con)
                                        if (r := self._record(s, ctx, tally))), scratch)
            finally:
                con.close()
        tally.into(report)
        report.series = series.num_rows
        return HarvestResult(
            series=series, collections=COLLECTION_SCHEMA.empty_table(),
            report=report, scope=self.window, link_params=self.link_params)

    def _record(self, listed: stage.Series, ctx: Context, tally: Tally,
                ) -> SeriesRecord | None:
        item, study_uid, study_values, copies, studies = listed
        values: dict[str, str | None] = {**study_values, "StudyInstanceUID": study_uid}
        values.update({k: json_value(item, k) for k in (*SERIES_FIELDS, "SeriesInstanceUID")})
        count = values.pop("NumberOfSeriesRelatedInstances")
        try:
            instances = int(count) if count is not None else 0
        except ValueError:
            tally.warn("instance_count_unparseable")
            instances = 0
        series_uid = values["SeriesInstanceUID"]
        if series_uid and copies > 1:  # one UID, several copies: count their instances
            sops: set[str] = set()
            for study in studies:
                sops |= self.qido.sop_uids(study, series_uid)
            tally.warn("series_uid_conflict", key=series_uid,
                       detail=f"listed {copies} times (studies {', '.join(studies)}); "
                              f"{len(sops)} distinct instances")
            instances = len(sops)
        retrieve = json_value(item, "RetrieveURL")
        return series_record(values, instances, None, ctx, tally,
                             {"retrieve_url": retrieve} if retrieve else None)


# -- links -----------------------------------------------------------------------------------
def series_links(r: SeriesRecord, params: Params) -> list[Link]:
    """The configured viewer and WADO-RS retrieve URL of a series."""
    ids = r.identifiers
    links: list[Link] = []
    if ids.series_uid is None or ids.study_uid is None:  # nothing a viewer or WADO-RS opens
        return links
    if params.get("viewer"):
        links.append(viewer_template(params["viewer"], ids.study_uid, ids.series_uid))
    if params.get("wado_rs"):
        links.append(wado_rs(params["wado_rs"], ids.study_uid, ids.series_uid))
    return links


def study_links(study_uid: str, modalities: list[str], params: Params) -> list[Link]:
    links = []
    if params.get("viewer"):
        links.append(viewer_template(params["viewer"], study_uid))
    if params.get("wado_rs"):
        links.append(wado_rs(params["wado_rs"], study_uid))
    return links


def build(name: str, config: DicomwebSource, options: BuildOptions) -> DicomwebIndexer:
    """The indexer of a configured DICOMweb server; ``options.window`` limits it to a
    StudyDate window. Raises ``ConfigError`` when an auth secret's variable is not set."""
    settings = HttpSettings(connect_timeout=config.connect_timeout,
                            read_timeout=config.read_timeout, max_attempts=config.max_attempts)
    auth, headers = config.auth.build()
    client = build_client(config.url, auth, headers, settings)
    links = {"wado_rs": (config.wado_url or config.url).rstrip("/")}
    if config.viewer_url:
        links["viewer"] = config.viewer_url
    return DicomwebIndexer(
        name=name, qido=QidoClient(client, config.page_size, settings),
        collection=config.collection, access=config.access or "controlled",
        license=config.license, concurrency=config.concurrency,
        window=None if options.full else options.window, link_params=links)


SOURCE_TYPE = SourceType(
    name="dicomweb", config=DicomwebSource, build_indexer=build,
    default_schedule="0 2 * * *", schedule_period_hours=24,  # servers change daily
    windows=True, series_links=series_links, study_links=study_links,
)
