"""The Cancer Imaging Archive (TCIA), harvested from NBIA's v4 REST API (``type = "tcia"``).

A full run lists the collections the credentials may read (the guest user's without
credentials), their descriptions and patient counts, then per collection its patients
(species), studies and series (modality, body part, manufacturer, image counts, sizes,
licence, DOI). Each collection's citation comes from its DOI by content negotiation.

Collections are normalised one after the other, in name order, with at most
``concurrency`` listings read ahead: a collection's records go to the run's spill file and
its collection record is made once its listing arrives, so memory holds a few collections'
listings (NBIA answers each in one piece), not TCIA's. A series listed twice keeps its first
record (``dedupe.first_copies``).

An incremental run reads the series released since the cursor (``getUpdatedSeries``) and
replaces only those (``SeriesScope``); the server's feed covers public collections only, so
limited-access collections the credentials may read are re-read in full. The API has no
deletion feed: a full, reconciling run every ``full_every_days`` (default 7) catches deleted
series.

Access tiers: collections the guest user can read are ``open``; collections only the
configured account can read are TCIA's *limited access* collections (a TCIA account and an
approved licence agreement; TCIA stopped hosting controlled-access data in July 2025), kept
as ``registration`` — the tier IDC gives the same collections. ``access`` overrides both.
Every record carries its collection's citation, and its links include TCIA's data usage
policy, which asks tools giving access to TCIA data to attribute it and link back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from typing import Any, Literal
from urllib.parse import quote

from pydantic import Field, model_validator

from imaging_hub.errors import ConfigError, SourceFormatError, SourceUnavailable
from imaging_hub.indexers import tcia_normalise as tn
from imaging_hub.indexers.base import (
    HarvestResult,
    ProgressFn,
    SeriesScope,
    Tally,
    no_progress,
    spill_records,
)
from imaging_hub.indexers.dedupe import first_copies
from imaging_hub.indexers.http import HttpSettings, build_client, secret
from imaging_hub.indexers.tcia_client import CitationClient, NbiaClient, NbiaTokenAuth
from imaging_hub.iterate import in_order
from imaging_hub.schemas.columnar import collection_table
from imaging_hub.schemas.query import Link
from imaging_hub.schemas.records import AccessTier, CollectionRecord, SeriesRecord
from imaging_hub.schemas.report import HarvestReport
from imaging_hub.search_ui.links import Params, doi, policy
from imaging_hub.source_types import BuildOptions, SourceType, WindowedConfig

Listing = tuple[list[Any], list[Any], list[Any]]  # a collection's patients, studies, series
NBIA_V4 = "https://nbia.cancerimagingarchive.net/nbia-api/services/v4"
NBIA_PORTAL = "https://nbia.cancerimagingarchive.net/nbia-search/"
USAGE_POLICY = "https://www.cancerimagingarchive.net/data-usage-policies-and-restrictions/"


class TciaSource(WindowedConfig):
    """``[sources.NAME] type = "tcia"``: TCIA through NBIA's v4 REST API."""

    type: Literal["tcia"]
    url: str = Field(NBIA_V4, description="NBIA v4 services base URL")
    collections: list[str] = Field(
        default_factory=list, description="Only these collections (default: every one the "
        "credentials, or the guest user, may read)")
    username_env: str | None = Field(
        None, description="Environment variable holding the TCIA username (limited-access "
        "collections)")
    password_env: str | None = Field(None, description="Environment variable with its password")
    token_url: str | None = Field(
        None, description="OAuth token endpoint (default: <host>/nbia-api/oauth/token)")
    client_id: str = "nbia"
    citations: bool = Field(True, description="Fetch each collection's formatted citation")
    citation_url: str = Field("https://doi.org", description="DOI content negotiation base")
    portal_url: str = Field(NBIA_PORTAL, description="NBIA search portal (links)")
    concurrency: int = Field(4, ge=1, le=16)
    connect_timeout: float = Field(10.0, gt=0)
    read_timeout: float = Field(300.0, gt=0, description="getSeries of a large collection "
                                "takes minutes")
    max_attempts: int = Field(4, ge=1, le=20)

    @model_validator(mode="after")
    def _check(self) -> TciaSource:
        for key in ("url", "citation_url", "portal_url"):
            if not str(getattr(self, key)).startswith(("http://", "https://")):
                raise ValueError(f"{key} must start with http:// or https://")
        if (self.username_env is None) != (self.password_env is None):
            raise ValueError("username_env and password_env go together")
        if self.username_env and self.token_url is None and "/services" not in self.url:
            raise ValueError("token_url is needed when url has no /services part")
        return self

    def token_endpoint(self) -> str:
        """The token URL: configured, or NBIA's ``/nbia-api/oauth/token`` beside ``url``."""
        return self.token_url or self.url.split("/services")[0] + "/oauth/token"


@dataclass
class TciaIndexer:
    """Harvest TCIA collections and series from NBIA's v4 API."""

    name: str
    api: NbiaClient
    citations: CitationClient | None = None
    collections: Sequence[str] = ()
    updated_since: date | None = None  # incremental: series released after this day
    access: AccessTier | None = None
    concurrency: int = 4
    link_params: dict[str, str] = field(default_factory=dict)
    # the collection descriptions and patient counts, once read (``_collection``)
    _about: tuple[dict[str, Any], dict[str, Any]] | None = field(default=None, repr=False,
                                                                 init=False)

    def harvest(self, run_id: str, progress: ProgressFn = no_progress) -> HarvestResult:
        """Read the wanted collections (all of them, or the updated series) and normalise.

        Raises ``ConfigError`` for configured collections TCIA does not list,
        ``SourceUnavailable``/``SourceFormatError`` when the API fails; nothing is
        published then.
        """
        now = datetime.now(UTC)
        base = str(self.api.client.base_url)
        report = HarvestReport(source=self.name, run_id=run_id, started_at=now,
                               source_version=f"NBIA v4 {base} as of {now:%Y-%m-%dT%H:%MZ}")
        tally = Tally.new()
        self._about = None  # read again by each run
        progress(f"{self.name}: listing collections", 0, 1)
        visible = self.api.collections()
        wanted = self._wanted(visible)
        public = ({c.upper() for c in self.api.collections(public=True)}
                  if self.api.anonymous is not None else {c.upper() for c in visible})
        tiers: dict[str, AccessTier] = {
            c: self.access or ("open" if c.upper() in public else "registration")
            for c in wanted}
        ctx = tn.Context(source=self.name, source_version=report.source_version,
                         harvested_at=now, run_id=run_id, tiers=tiers)
        listings: Mapping[str, Callable[[], Listing]]
        if self.updated_since is None:
            listings, full = {c: partial(self._whole, c) for c in wanted}, set(wanted)
        else:
            listings, full = self._updated(wanted, public, progress)
        collections: list[CollectionRecord] = []
        read = [0]
        series = first_copies(spill_records(self._records(
            listings, full, ctx, tally, collections, read, progress)), tally)
        report.read = read[0]
        tally.into(report)
        report.series, report.collections = series.num_rows, len(collections)
        scope = None if self.updated_since is None else SeriesScope(
            frozenset(series.column("series_uid").to_pylist()))
        return HarvestResult(series=series, collections=collection_table(collections),
                             report=report, scope=scope, link_params=self.link_params)

    def _wanted(self, visible: list[str]) -> list[str]:
        if not self.collections:
            return sorted(visible)
        spelled = {c.upper(): c for c in visible}  # NBIA matches collection names uppercased
        missing = [c for c in self.collections if c.upper() not in spelled]
        if missing:
            raise ConfigError(f"{self.name}: TCIA lists no collection(s) {', '.join(missing)} "
                              f"for these credentials")
        return sorted({spelled[c.upper()] for c in self.collections})

    def _whole(self, collection: str) -> Listing:
        return (self.api.patients(collection), self.api.studies(collection),
                self.api.series(collection))

    def _records(self, listings: Mapping[str, Callable[[], Listing]], full: set[str],
                 ctx: tn.Context, tally: Tally, collections: list[CollectionRecord],
                 read: list[int], progress: ProgressFn) -> Iterator[SeriesRecord]:
        """Each collection's series records, collection after collection (in name order,
        ``concurrency`` listings read at a time, only those in memory); its collection
        records go into ``collections``, the rows read are added to ``read[0]``. A series
        listed twice is left to ``first_copies`` (its later copies still count in their
        collection's DOI and licence)."""
        names = sorted(listings)

        def listing(name: str) -> Listing:
            return listings[name]()

        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            for i, (name, rows) in enumerate(zip(names, in_order(
                    pool, listing, names, self.concurrency), strict=True)):
                patients, studies, series = rows
                read[0] += len(series)
                by_study = tn.studies_by_uid(studies)
                mine: dict[str, dict[str, SeriesRecord]] = {}
                for row in series:
                    record = tn.series_record(row, ctx, by_study, tally)
                    if record is not None:
                        mine.setdefault(record.collection, {}).setdefault(record.id, record)
                        yield record
                for coll in sorted(set(mine) | ({name} & full)):
                    collections.append(self._collection(
                        coll, patients if coll == name else [],
                        tuple(mine.get(coll, {}).values()), ctx, tally))
                progress(f"{self.name}: collections", i + 1, len(names))

    def _updated(self, wanted: list[str], public: set[str], progress: ProgressFn,
                 ) -> tuple[dict[str, Callable[[], Listing]], set[str]]:
        """What an updated-series run reads: the feed's series grouped by collection (with
        each one's patients and studies), and the limited-access collections whole (the
        feed leaves them out); and the collections read whole."""
        assert self.updated_since is not None
        progress(f"{self.name}: series released since {self.updated_since}", 0, 1)
        spelled = {c.upper(): c for c in wanted}
        by_coll: dict[str, list[Any]] = {}
        for row in self.api.updated_series(self.updated_since):
            coll = row.get("Collection") if isinstance(row, dict) else None
            if not isinstance(coll, str) or not coll.strip():
                by_coll.setdefault("", []).append(row)  # the normaliser rejects it, says why
            elif coll.upper() in spelled:
                by_coll.setdefault(spelled[coll.upper()], []).append(row)
            # else: a collection this source does not harvest
        limited = [c for c in wanted if c.upper() not in public]  # not in the feed: re-read
        listings: dict[str, Callable[[], Listing]] = {c: partial(self._whole, c)
                                                      for c in limited}
        for c, rows in by_coll.items():
            listings[c] = partial(self._with_series, c, rows)
        return listings, set(limited)

    def _with_series(self, collection: str, series: list[Any]) -> Listing:
        if not collection:
            return [], [], series
        return self.api.patients(collection), self.api.studies(collection), series

    def _collection(self, name: str, patients: list[Any], series: tuple[SeriesRecord, ...],
                    ctx: tn.Context, tally: Tally) -> CollectionRecord:
        """A collection's record; the collection descriptions and patient counts are read
        once, when the first one is needed."""
        if self._about is None:
            descriptions = {str(d.get("collectionName", "")).upper(): d
                            for d in self.api.descriptions() if isinstance(d, dict)}
            counts = {k.upper(): v for k, v in
                      tn.patient_counts(self.api.patient_counts()).items()}
            self._about = descriptions, counts
        descriptions, counts = self._about
        desc = descriptions.get(name.upper())
        dois = tn.doi_of((desc or {}).get("descriptionURI")) or next(
            (r.identifiers.doi for r in series if r.identifiers.doi), None)
        return tn.collection_record(tn.CollectionFacts(
            name=name, description=desc, patients=counts.get(name.upper()),
            species=tn.species_of(patients), series=series,
            citation=self._citation(dois, tally)), ctx)

    def _citation(self, value: str | None, tally: Tally) -> str | None:
        if value is None or self.citations is None:
            return None
        try:
            return tn.plain(self.citations.citation(quote(value, safe="/")))
        except (SourceUnavailable, SourceFormatError):
            tally.warn("citation_unavailable")  # the record gets the plain attribution
            return None


# -- links -----------------------------------------------------------------------------------
def _portal(params: Params, key: str, value: str, title: str) -> Link:
    base = params.get("portal") or NBIA_PORTAL
    return Link(rel="landing", host="tcia", title=title,
                href=f"{base}?{key}={quote(value, safe='')}")


def series_links(r: SeriesRecord, params: Params) -> list[Link]:
    """NBIA search portal (the series), DOI, and TCIA's data usage policy."""
    uid = r.identifiers.series_uid  # (a record without one has no series to search for)
    links = [_portal(params, "SeriesCriteria", uid, "TCIA (NBIA search)")] if uid else []
    if r.identifiers.doi:
        links.append(doi(r.identifiers.doi, "tcia"))
    return links + [policy(params.get("policy") or USAGE_POLICY, "tcia",
                           "TCIA data usage policy")]


def collection_links(r: CollectionRecord, params: Params) -> list[Link]:
    links = [_portal(params, "CollectionCriteria", r.collection, "TCIA (NBIA search)")]
    links += [doi(d, "tcia") for d in r.doi]
    return links + [policy(params.get("policy") or USAGE_POLICY, "tcia",
                           "TCIA data usage policy")]


def study_links(study_uid: str, modalities: list[str], params: Params) -> list[Link]:
    return [_portal(params, "StudyCriteria", study_uid, "TCIA (NBIA search)")]


def build(name: str, config: TciaSource, options: BuildOptions) -> TciaIndexer:
    """The indexer of a configured TCIA source; ``options.window.start`` makes it an
    updated-series run. Raises ``ConfigError`` when a credential variable is not set."""
    settings = HttpSettings(connect_timeout=config.connect_timeout,
                            read_timeout=config.read_timeout, max_attempts=config.max_attempts)
    anonymous = build_client(config.url, settings=settings)
    api = NbiaClient(anonymous, None, settings)
    if config.username_env and config.password_env:
        auth = NbiaTokenAuth(config.token_endpoint(), secret(None, config.username_env),
                             secret(None, config.password_env), config.client_id)
        api = NbiaClient(build_client(config.url, auth, settings=settings), anonymous, settings)
    citations = CitationClient(build_client(config.citation_url, settings=settings),
                               settings) if config.citations else None
    since = None if options.full or options.window is None else options.window.start
    return TciaIndexer(
        name=name, api=api, citations=citations,
        collections=list(options.collections or config.collections), updated_since=since,
        access=config.access, concurrency=config.concurrency,
        link_params={"portal": config.portal_url, "policy": USAGE_POLICY})


SOURCE_TYPE = SourceType(
    name="tcia", config=TciaSource, build_indexer=build,
    default_schedule="0 4 * * *",  # daily: an incremental run is one getUpdatedSeries call
    schedule_period_hours=24, windows=True,
    series_links=series_links, collection_links=collection_links, study_links=study_links,
    usage_policy_url=USAGE_POLICY,
)
