"""Any Gen3 data commons (MIDRC, the Biomedical Imaging Hub, ...): ``type = "gen3"``.

    [sources.midrc]
    type = "gen3"
    url = "https://data.midrc.org"
    credentials = "~/.gen3/midrc-credentials.json"   # the API key from the profile page
    model = "midrc"                                  # or "bih", or a mapping file

A harvest: exchange the API key at fence (``gen3_auth``); check that the commons' Guppy
types have every field the mapping reads (``_mapping``); choose the records' access tier;
read the series type (GraphQL pages within Guppy's 10k window, ``/guppy/download`` past it)
and the collections (a Guppy type, or the metadata service's discovery records); check one
GUID against indexd's DRS endpoint. Series are normalised by ``gen3_normalise`` as they
are read and written to a spill file (``/guppy/download``'s one JSON array is itself read
row by row from a temporary file); a series listed twice keeps its first row
(``dedupe.first_copies``). Memory does not grow with the commons.

**Access.** Records keep the commons' authz resource path (``source_native["authz"]``).
Raw data is requested with ``accessibility: accessible``, so a private or regular-tier
commons returns what the operator's key can read (the number it cannot read is reported as
the warning ``not_readable_with_key``). The tier recorded is the source's ``access`` key,
else what the commons shows: if an anonymous caller sees as many rows as the key, the
metadata is public (``open``, e.g. the hub, ``tierAccessLevel: libre``); if it sees fewer,
reading needs an account at the commons (``registration``, e.g. MIDRC, ``private``).
Set ``access = "controlled"`` for a commons whose data needs an approved request.

**Hosts.** A record's ``source`` is the configured source (``bih``); the platform behind a
hub row (IDC, TCIA, MIDRC, ...) is kept in ``source_native["platform"]`` and
``extra["platform"]``, and its links carry that platform as ``host``. A hub series with the
same SeriesInstanceUID as one harvested from IDC or TCIA directly is the same series: the
store counts it once and lists both sources among its hosts.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from pydantic import Field, model_validator

from imaging_hub.errors import ConfigError, SourceUnavailable
from imaging_hub.indexers.base import (
    HarvestResult,
    ProgressFn,
    Tally,
    no_progress,
    spill_records,
)
from imaging_hub.indexers.dedupe import first_copies
from imaging_hub.indexers.gen3_auth import ApiKey, FenceAuth
from imaging_hub.indexers.gen3_client import (
    DrsClient,
    GuppyClient,
    GuppyQueryError,
    MdsClient,
)
from imaging_hub.indexers.gen3_mapping import Gen3Mapping, load_mapping
from imaging_hub.indexers.gen3_normalise import (
    Gen3Context,
    collection_record,
    series_record,
)
from imaging_hub.indexers.http import HttpSettings, build_client
from imaging_hub.schemas.columnar import collection_table
from imaging_hub.schemas.query import Link
from imaging_hub.schemas.records import AccessTier, CollectionRecord, SeriesRecord
from imaging_hub.schemas.report import HarvestReport
from imaging_hub.search_ui.links import doi
from imaging_hub.source_types import BuildOptions, SourceConfigBase, SourceType


class Gen3Source(SourceConfigBase):
    """``[sources.NAME] type = "gen3"``: any Gen3 data commons."""

    type: Literal["gen3"]
    url: str = Field(description="The commons' root, e.g. https://data.midrc.org")
    credentials: Path | None = Field(
        None, description="API key JSON from the commons' profile page (optional for a "
        "public commons such as the Biomedical Imaging Hub)")
    model: str = Field("midrc", description='"midrc", "bih", or a mapping file (TOML/JSON)')
    page_size: int = Field(1_000, ge=1, le=10_000, description="Guppy GraphQL page size")
    connect_timeout: float = Field(10.0, gt=0)
    read_timeout: float = Field(
        300.0, gt=0, description="Guppy's download answers only after scrolling the whole "
        "index: minutes on a large commons")
    max_attempts: int = Field(4, ge=1, le=20)

    @model_validator(mode="after")
    def _http_url(self) -> Gen3Source:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, got {self.url!r}")
        return self


@dataclass
class Gen3Indexer:
    """Harvest one Gen3 commons through ``mapping``."""

    name: str
    url: str
    mapping: Gen3Mapping
    guppy: GuppyClient
    mds: MdsClient
    drs: DrsClient
    anonymous: GuppyClient | None = None  # the same Guppy without a token (access probe)
    access: AccessTier | None = None
    link_params: dict[str, str] = field(default_factory=dict)

    def harvest(self, run_id: str, progress: ProgressFn = no_progress) -> HarvestResult:
        """Read the commons. Raises ``ConfigError`` (the mapping names fields the commons
        lacks), ``SourceUnavailable`` (unreachable, key refused), ``SourceFormatError``."""
        now = datetime.now(UTC)
        host = urlparse(self.url).hostname or self.url
        version = f"Gen3 {host} ({self.mapping.name}) as of {now:%Y-%m-%dT%H:%MZ}"
        report = HarvestReport(source=self.name, run_id=run_id, source_version=version,
                               started_at=now)
        tally = Tally.new()
        progress(f"{self.name}: checking the data model", 0, 1)
        self._check_fields()
        s = self.mapping.series
        total = self.guppy.total(s.type, s.filter)
        ctx = Gen3Context(source=self.name, host=host, source_version=version,
                          harvested_at=now, run_id=run_id, tier=self._tier(total, tally))
        sample: list[SeriesRecord] = []  # the first record with a GUID: the DRS check's
        series = first_copies(spill_records(self._series(total, ctx, tally, progress,
                                                         sample)), tally)
        collections = self._collections(ctx, tally)
        self._check_drs(sample[0] if sample else None, tally)
        report.read = total + len(collections)
        report.series, report.collections = series.num_rows, len(collections)
        tally.into(report)
        return HarvestResult(series=series, collections=collection_table(collections),
                             report=report, link_params=self.link_params)

    def _check_fields(self) -> None:
        wanted = self.mapping.guppy_fields()
        try:
            listed = self.guppy.mapping(list(wanted))
        except GuppyQueryError as exc:
            raise ConfigError(f"model {self.mapping.name!r}: the commons at {self.url} "
                              f"does not have these Guppy types ({exc})") from exc
        for type_, fields in wanted.items():
            missing = sorted(set(fields) - set(listed[type_]))
            if missing:
                raise ConfigError(
                    f"model {self.mapping.name!r}: Guppy type {type_!r} at {self.url} has "
                    f"no field {', '.join(missing)} ({len(listed[type_])} fields listed)")

    def _tier(self, total: int, tally: Tally) -> AccessTier:
        """The access tier of every record (see the module docstring) and the rows the
        key cannot read, reported as a warning."""
        s = self.mapping.series
        everything = self.guppy.total(s.type, s.filter, accessibility="all")
        if everything > total:
            tally.warn("not_readable_with_key", everything - total)
        if self.access is not None:
            return self.access
        if self.anonymous is None:  # harvesting without a key: all we see is public
            return "open"
        try:
            public = self.anonymous.total(s.type, s.filter)
        except (GuppyQueryError, SourceUnavailable):
            public = 0  # the commons refuses anonymous callers
        return "open" if total and public >= total else "registration"

    def _series(self, total: int, ctx: Gen3Context, tally: Tally, progress: ProgressFn,
                sample: list[SeriesRecord]) -> Iterator[SeriesRecord]:
        """The series rows' records as they are read (a series listed twice is left to
        ``first_copies``); the first record with a GUID goes into ``sample``."""
        s = self.mapping.series
        fields = self.mapping.guppy_fields()[s.type]
        received = 0
        for row in self.guppy.rows(s.type, fields, s.filter, [{s.sort: "asc"}], total):
            received += 1
            record = series_record(row, self.mapping, ctx, tally)
            if record is not None:
                if not sample and record.identifiers.source_native.get("object_id"):
                    sample.append(record)
                yield record
            if received % 1000 == 0:
                progress(f"{self.name}: series", received, total)
        progress(f"{self.name}: series", received, max(total, received))
        if received != total:  # the index changed while we read it
            tally.warn("rows_differ_from_count", abs(received - total))

    def _collections(self, ctx: Gen3Context, tally: Tally) -> list[CollectionRecord]:
        found: list[CollectionRecord | None] = []
        c, d = self.mapping.collections, self.mapping.discovery
        if c is not None:
            fields = self.mapping.guppy_fields()[c.type]
            count = self.guppy.total(c.type, c.filter)
            for row in self.guppy.rows(c.type, fields, c.filter, [{c.sort: "asc"}], count):
                found.append(collection_record(row, c.fields, ctx, tally))
        if d is not None:
            for guid, meta in self.mds.records(d.guid_type):
                study = meta.get(d.study_field) if isinstance(meta, dict) else meta
                found.append(collection_record(study, d.fields, ctx, tally, key=guid))
        out: dict[str, CollectionRecord] = {}
        for record in found:
            if record is None:
                continue
            if record.id in out:
                tally.reject("duplicate_collection", record.collection)
            else:
                out[record.id] = record
        return list(out.values())

    def _check_drs(self, sample: SeriesRecord | None, tally: Tally) -> None:
        """Resolve one stored GUID (``sample``'s) at the commons' DRS endpoint: a GUID the
        commons does not know, or a DRS URI unlike the one indexd gives, is reported."""
        if sample is None:
            return
        try:
            obj = self.drs.object(sample.identifiers.source_native["object_id"])
        except SourceUnavailable:
            tally.warn("drs_check_failed")
            return
        if obj is None:
            tally.warn("drs_guid_not_found")
        elif obj.get("self_uri") and obj["self_uri"] != sample.identifiers.drs_uri:
            tally.warn("drs_uri_differs")


def make_indexer(name: str, url: str, credentials: Path | None, model: str,
                 settings: HttpSettings, access: AccessTier | None = None,
                 page_size: int = 1_000) -> Gen3Indexer:
    """A ``Gen3Indexer`` with its HTTP clients: authenticated with the API key file
    ``credentials`` (checked now: ``ConfigError`` naming the file), anonymous without."""
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"url must start with http:// or https://, got {url!r}")
    mapping = load_mapping(model)
    auth = None
    anonymous = None
    if credentials is not None:
        path = credentials.expanduser()
        key = ApiKey.load(path)
        key.check_commons(url, path)
        auth = FenceAuth(key, build_client(url, settings=settings), settings)
        anonymous = GuppyClient(build_client(url, settings=settings), settings, page_size)
    client = build_client(url, auth=auth, settings=settings)
    params = {"commons": url.rstrip("/"), "commons_host": urlparse(url).hostname or url}
    params.update({f"platform:{k}": v for k, v in mapping.platform_urls.items()})
    return Gen3Indexer(name=name, url=url, mapping=mapping,
                       guppy=GuppyClient(client, settings, page_size),
                       mds=MdsClient(client, settings), drs=DrsClient(client, settings),
                       anonymous=anonymous, access=access, link_params=params)


# -- links (pure; built at query time from stored identifiers) ------------------------------

def _host(name: str | None, params: Mapping[str, str], fallback: str) -> str:
    """The platform a link points to: a hub row's platform when the hub lists it, else the
    commons itself."""
    if name and f"platform:{name}" in params:
        return name
    return params.get("commons_host") or fallback


def series_links(r: SeriesRecord, params: Mapping[str, str]) -> list[Link]:
    """The platform's viewer and home page, the DOI, the DRS URI (resolved by any DRS
    client, e.g. gen3-client)."""
    ids = r.identifiers
    native = ids.source_native
    host = _host(native.get("platform"), params, r.source)
    links = []
    if native.get("viewer_url"):
        links.append(Link(rel="viewer", host=host, title=f"Viewer ({host})",
                          href=native["viewer_url"]))
    home = params.get(f"platform:{host}") or params.get("commons")
    if home:
        links.append(Link(rel="landing", host=host, title=f"{host} home page", href=home))
    if ids.doi:
        links.append(doi(ids.doi, host))
    if ids.drs_uri:
        links.append(Link(rel="drs", host=params.get("commons_host") or r.source,
                          title="GA4GH DRS URI", href=ids.drs_uri))
    return links


def collection_links(r: CollectionRecord, params: Mapping[str, str]) -> list[Link]:
    """The platform's (or the commons') home page and the collection's DOIs."""
    host = _host(r.program, params, r.source)
    links = [doi(d, host) for d in r.doi]
    home = params.get(f"platform:{host}") or params.get("commons")
    if home:
        links.insert(0, Link(rel="landing", host=host, title=f"{host} home page", href=home))
    return links


def build(name: str, config: Gen3Source, options: BuildOptions) -> Gen3Indexer:
    """The indexer of a configured Gen3 source (full runs only: Guppy has no change feed).
    Raises ``ConfigError`` for a bad key file or mapping."""
    settings = HttpSettings(connect_timeout=config.connect_timeout,
                            read_timeout=config.read_timeout, max_attempts=config.max_attempts)
    try:
        return make_indexer(name, config.url, config.credentials, config.model, settings,
                            access=config.access, page_size=config.page_size)
    except ConfigError as exc:  # name the source: the key file or mapping may be shared
        raise ConfigError(f"sources.toml [sources.{name}]: {exc}") from exc


SOURCE_TYPE = SourceType(
    name="gen3", config=Gen3Source, build_indexer=build,
    default_schedule="0 5 * * *",  # daily: commons re-run their ETL as data arrive
    schedule_period_hours=24,
    series_links=series_links, collection_links=collection_links,
)
