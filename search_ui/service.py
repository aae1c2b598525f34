"""The query layer between callers (HTTP API, CLI) and the index store: it decides what a
caller may see (``Visibility``) and adds the links back to the hosts, built from identifiers
by ``search_ui.links``, to whatever the store returns. Backends never build links and never
decide visibility; they apply it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeAlias

from imaging_hub.errors import NoIndexError
from imaging_hub.indexers import vocab
from imaging_hub.indexers.vocab import Vocabularies
from imaging_hub.schemas.dictionary import DictionaryResponse
from imaging_hub.schemas.fields import FIELDS
from imaging_hub.schemas.query import (
    DEFAULT_VISIBILITY,
    CohortQuery,
    CollectionHit,
    CountResponse,
    FacetsResponse,
    IndexInfo,
    Link,
    RecordResponse,
    SearchRequest,
    SearchResponse,
    SeriesHit,
    SourcesResponse,
    SourceVersion,
    StoreHealth,
    StudyHit,
    SubjectHit,
    Suggestion,
    Visibility,
)
from imaging_hub.schemas.records import SeriesIdentifiers, SeriesRecord
from imaging_hub.schemas.text import parse_text, words
from imaging_hub.search_ui import dictionary, links
from imaging_hub.store.base import IndexStore


class QueryService:
    """What the API and the CLI call; holds one ``IndexStore`` and the vocabularies (for
    the labels of coded values and the data dictionary; default: the shipped tables)."""

    def __init__(self, store: IndexStore, vocabularies: Vocabularies | None = None) -> None:
        self.store = store
        self.vocabularies = vocabularies or vocab.load(None)

    def search(self, request: SearchRequest,
               visibility: Visibility = DEFAULT_VISIBILITY) -> SearchResponse:
        result = self.store.search(request, visibility)
        hosts = _hosts(result.index)
        result.hits = [_with_links(hit, hosts) for hit in result.hits]
        if request.text and not result.total.count:
            result.suggestions = self.suggestions(request.text, visibility)
        return result

    def suggestions(self, text: str, visibility: Visibility = DEFAULT_VISIBILITY,
                    limit: int = 10) -> list[Suggestion]:
        """Facet values holding a word of ``text`` (whole word or its start), most series
        first: "glioblastoma" finds Disease type "Glioblastoma" when no description has it."""
        wanted = parse_text(text).words
        if not wanted:
            return []
        facets = self.store.facets(visibility).facets
        out = []
        for name, values in facets.items():
            spec = FIELDS[name]
            if spec.kind != "keyword":
                continue
            for b in values:
                value_words = words(str(b.value)) if b.value is not None else []
                if b.count and any(v.startswith(w) for w in wanted for v in value_words):
                    out.append(Suggestion(field=name, label=spec.label or name,
                                          value=str(b.value), count=b.count))
        return sorted(out, key=lambda s: -s.count)[:limit]

    def count(self, query: CohortQuery,
              visibility: Visibility = DEFAULT_VISIBILITY) -> CountResponse:
        return self.store.count(query, visibility)

    def facets(self, visibility: Visibility = DEFAULT_VISIBILITY) -> FacetsResponse:
        """Fields and unfiltered counts; coded values get their meanings as labels (the
        vocabulary tables'), so the page shows 'Chest (816094009)' for a SNOMED code."""
        answer = self.store.facets(visibility)
        answer.fields = [f.model_copy(update={"display": {
            **self.vocabularies.labels(f.name), **f.display}}) for f in answer.fields]
        return answer

    def dictionary(self, visibility: Visibility = DEFAULT_VISIBILITY) -> DictionaryResponse:
        """The data dictionary with each searchable field's coverage per source (none
        while nothing is published)."""
        try:
            coverage = self.store.coverage(visibility)
        except NoIndexError:
            coverage = None
        return dictionary.build(self.vocabularies, coverage)

    def record(self, record_id: str,
               visibility: Visibility = DEFAULT_VISIBILITY) -> RecordResponse | None:
        """One record with its links, or None when it does not exist or is not visible."""
        index = self.store.index_info()
        found = self.store.record(record_id, visibility)
        if found is None:
            return None
        hosts = _hosts(index)
        hit: SeriesHit | CollectionHit
        if isinstance(found, SeriesRecord):
            hit = SeriesHit(**found.model_dump(), hosts=[found.source])
            hit = hit.model_copy(update={"links": series_hit_links(hit, hosts)})
        else:
            hit = CollectionHit(**found.model_dump())
            hit = hit.model_copy(update={"links": _collection_links(hit, hosts)})
        return RecordResponse(index=index, record=hit)

    def sources(self) -> SourcesResponse:
        return self.store.sources()

    def health(self) -> StoreHealth:
        return self.store.health()


Hit: TypeAlias = SeriesHit | StudyHit | SubjectHit | CollectionHit


def _with_links(hit: Hit, hosts: Mapping[str, SourceVersion]) -> Hit:
    if isinstance(hit, SeriesHit):
        return hit.model_copy(update={"links": series_hit_links(hit, hosts)})
    if isinstance(hit, CollectionHit):
        return hit.model_copy(update={"links": _collection_links(hit, hosts)})
    if isinstance(hit, StudyHit):
        return hit.model_copy(update={"links": links.study_links(
            hit.study_uid, hit.modalities,
            [(hosts[h].type, hosts[h].links) for h in hit.hosts if h in hosts])})
    return hit


def _hosts(index: IndexInfo) -> dict[str, SourceVersion]:
    return {s.source: s for s in index.sources}


def series_hit_links(hit: SeriesHit, hosts: Mapping[str, SourceVersion]) -> list[Link]:
    """The hit's own source's links, then each other host's (a series held by several
    platforms gets a way to each of them; duplicates dropped)."""
    out: list[Link] = []
    seen: set[tuple[str, str]] = set()
    ids = hit.identifiers  # other hosts' own ids (GUIDs, folders) are not in this record
    shared = hit.model_copy(update={"identifiers": SeriesIdentifiers(
        study_uid=ids.study_uid, series_uid=ids.series_uid, doi=ids.doi)})
    for name in [hit.source, *[h for h in hit.hosts if h != hit.source]]:
        host = hosts.get(name)
        if host is None:
            continue
        record = hit if name == hit.source else shared
        for link in links.series_links(record, host.type, host.links):
            if (link.rel, link.href) not in seen:
                seen.add((link.rel, link.href))
                out.append(link)
    return out


def _collection_links(hit: CollectionHit, hosts: Mapping[str, SourceVersion]) -> list[Link]:
    host = hosts.get(hit.source)
    return links.collection_links(hit, host.type if host else "", host.links if host else {})
