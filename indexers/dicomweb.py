"""Any DICOMweb server (Orthanc, dcm4chee, cloud DICOM stores), harvested with QIDO-RS.

Studies are paged with ``limit``/``offset`` (a server that caps the page size, or ignores
``limit`` or ``offset``, is handled: paging continues until a page adds no new study), then
each study's series are queried with bounded concurrency. ``StudyDate`` windows make
incremental runs; the store reconciles the window (new, changed, vanished series).

Configuration (``type = "dicomweb"``): ``url`` (the DICOMweb root), ``auth``, ``collection``,
``license``, paging/concurrency/timeouts, ``incremental_days``/``full_every_days``,
``wado_url``, ``viewer_url``, plus the keys every source has (``imaging_hub.source_types``);
records are ``controlled`` unless ``access`` says otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
from pydantic import Field, model_validator

from imaging_hub.errors import SourceFormatError
from imaging_hub.indexers.base import (
    HarvestResult,
    ProgressFn,
    StudyDateWindow,
    Tally,
    no_progress,
)
from imaging_hub.indexers.dicom_values import (
    SERIES_FIELDS,
    STUDY_FIELDS,
    Context,
    json_value,
    series_record,
)
from imaging_hub.indexers.http import AuthConfig, HttpSettings, build_client, get_json
from imaging_hub.schemas.columnar import COLLECTION_SCHEMA, series_table
from imaging_hub.schemas.query import Link
from imaging_hub.schemas.records import AccessTier, SeriesRecord
from imaging_hub.schemas.report import HarvestReport
from imaging_hub.search_ui.links import Params, viewer_template, wado_rs
from imaging_hub.source_types import BuildOptions, SourceType, WindowedConfig

JSON = "application/dicom+json"


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

    def _pages(self, path: str, params: dict[str, Any], key: str) -> Iterator[dict[str, Any]]:
        seen: set[str] = set()
        offset = 0
        while True:
            page = get_json(self.client, path, {**params, "limit": self.page_size,
                                                 "offset": offset}, self.settings, JSON)
            if page is None:
                return
            if not isinstance(page, list) or not all(isinstance(i, dict) for i in page):
                raise SourceFormatError(f"{path}: expected a JSON array of objects")
            fresh = 0
            for item in page:
                uid = json_value(item, key)
                if uid is None or uid not in seen:
                    fresh += 1
                    if uid is not None:
                        seen.add(uid)
                    yield item
            if not page or (fresh == 0 and len(page) != self.page_size):
                return  # the end; or a server ignoring offset whose answer was not cut short
            if fresh == 0:  # the same full page again: offset ignored, more may exist
                raise SourceFormatError(
                    f"{path}: the server repeats the page at offset {offset}; it ignores "
                    f"'offset', so the listing cannot be completed (raise page_size above the "
                    f"number of results or fix the server)")
            offset += len(page)

    def studies(self, window: StudyDateWindow | None = None) -> Iterator[dict[str, Any]]:
        params: dict[str, Any] = {"includefield": list(STUDY_FIELDS)}
        if window is not None:
            params["StudyDate"] = window.qido()
        return self._pages("studies", params, "StudyInstanceUID")

    def series(self, study_uid: str) -> list[dict[str, Any]]:
        return list(self._pages(f"studies/{study_uid}/series",
                                {"includefield": list(SERIES_FIELDS)}, "SeriesInstanceUID"))


@dataclass
class DicomwebIndexer:
    """Harvest one DICOMweb server into series records."""

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
        studies = list(self.qido.studies(self.window))
        records: list[SeriesRecord] = []
        done = 0
        with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
            futures = [(s, pool.submit(self._study_series, s)) for s in studies]
            for study, future in futures:
                records += self._normalise(study, future.result(), ctx, tally)
                done += 1
                progress(f"{self.name}: studies", done, len(studies))
        report.read = len(records) + sum(tally.rejected.values())
        unique: dict[str, SeriesRecord] = {}
        for r in records:
            if r.id in unique:
                tally.reject("duplicate_series_uid", r.identifiers.series_uid)
            else:
                unique[r.id] = r
        tally.into(report)
        report.series = len(unique)
        return HarvestResult(
            series=series_table(unique.values()), collections=COLLECTION_SCHEMA.empty_table(),
            report=report, scope=self.window, link_params=self.link_params)

    def _study_series(self, study: dict[str, Any]) -> list[dict[str, Any]]:
        uid = json_value(study, "StudyInstanceUID")
        return self.qido.series(uid) if uid else []

    @staticmethod
    def _normalise(study: dict[str, Any], series: list[dict[str, Any]], ctx: Context,
                   tally: Tally) -> list[SeriesRecord]:
        study_uid = json_value(study, "StudyInstanceUID")
        if study_uid is None:
            tally.reject("missing_study_uid", None, "study without StudyInstanceUID")
            return []
        out = []
        study_values = {k: json_value(study, k) for k in STUDY_FIELDS}
        for item in series:
            values: dict[str, str | None] = {**study_values, "StudyInstanceUID": study_uid}
            values.update({k: json_value(item, k) for k in (*SERIES_FIELDS, "SeriesInstanceUID")})
            count = values.pop("NumberOfSeriesRelatedInstances")
            try:
                instances = int(count) if count is not None else 0
            except ValueError:
                tally.warn("instance_count_unparseable")
                instances = 0
            retrieve = json_value(item, "RetrieveURL")
            record = series_record(values, instances, None, ctx, tally,
                                   {"retrieve_url": retrieve} if retrieve else None)
            if record is not None:
                out.append(record)
        return out


# -- links -----------------------------------------------------------------------------------
def series_links(r: SeriesRecord, params: Params) -> list[Link]:
    """The configured viewer and WADO-RS retrieve URL of a series."""
    ids = r.identifiers
    links = []
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
