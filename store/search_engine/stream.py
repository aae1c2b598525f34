"""``IndexStore.records`` on OpenSearch / Elasticsearch: a point in time over the served
generation's series index, read page by page with ``search_after``.

The point in time is opened on the generation's own index (by name, not through the alias),
so a publish that swaps the aliases meanwhile changes nothing here. Each page is one search
of ``CHUNK`` series documents: the first matching record of each (inner hit, full record)
and the sources of all its records (for its hosts). Restricted to series UIDs, the UIDs are
asked ``UID_BATCH`` at a time (a ``terms`` query on the document key) on the same point in
time, so every batch reads the same generation.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from imaging_hub.errors import StoreError
from imaging_hub.schemas.query import CohortQuery, SeriesHit, Visibility
from imaging_hub.schemas.records import CollectionRecord
from imaging_hub.store.responses import index_info
from imaging_hub.store.search_engine import hits as hit_module
from imaging_hub.store.search_engine import query as dsl
from imaging_hub.store.search_engine.client import JSON, EngineClient
from imaging_hub.store.search_engine.docs import collection_from_doc
from imaging_hub.store.streaming import CHUNK, UID_BATCH, SeriesStream

PIT_KEEP = "10m"  # between two pages (a slow reader of a large export)


class EngineStream(SeriesStream):
    """The series of one query on one generation's series index."""

    def __init__(self, client: EngineClient, index: str, generation: str, meta: JSON,
                 collections: list[JSON], query: CohortQuery, vis: Visibility,
                 datasets_matching: dict[str, list[str]],
                 series_uids: Sequence[str] | None = None, chunk: int = CHUNK) -> None:
        super().__init__()
        self._client, self._vis, self._chunk = client, vis, chunk
        self._colls = collections
        self.generation = generation
        self.index = index_info(generation, meta["sources"])
        self._clauses = dsl.for_unit_index(dsl.row_filter(query, vis, datasets_matching),
                                           "series")
        self._batches: list[list[str] | None] = [None]
        if series_uids is not None:
            wanted = sorted(set(series_uids))
            self._batches = [wanted[i:i + UID_BATCH] for i in range(0, len(wanted), UID_BATCH)]
        self._flat = not meta.get("multi_copy_series")
        self._pit: str | None = client.open_pit(index, PIT_KEEP)
        try:
            self.total = sum(self._count(b) for b in self._batches)
        except BaseException:
            self.close()
            raise

    def _query(self, batch: list[str] | None, inner: JSON | None) -> JSON:
        must: JSON = {"bool": {"must": [dsl.has_row(self._clauses, inner)]}}
        if batch is not None:
            must["bool"]["filter"] = [{"terms": {"key": batch}}]
        return must

    def _search(self, body: JSON) -> JSON:
        """One search on the stream's point in time (which the answer may renew)."""
        if self._pit is None:
            raise StoreError("the export's point in time is closed")
        try:
            got = self._client.search(None, {**body, "pit": {"id": self._pit,
                                                            "keep_alive": PIT_KEEP}})
        except StoreError as exc:
            raise StoreError(f"reading generation {self.generation} stopped: {exc} (a "
                             f"generation is kept while it is served and one publish "
                             f"after; start the export again)") from exc
        self._pit = got.get("pit_id") or self._pit
        return got

    def _count(self, batch: list[str] | None) -> int:
        if batch == []:
            return 0
        got = self._search({"size": 0, "track_total_hits": True,
                            "query": self._query(batch, None)})
        return int(got["hits"]["total"]["value"])

    def _pages(self, body: Callable[[list[str] | None], JSON]) -> Iterator[list[JSON]]:
        """Pages of hits of every batch, ``search_after`` within a batch."""
        for batch in self._batches:
            after: list[Any] | None = None
            while True:
                page = {**body(batch), "size": self._chunk, "track_total_hits": False}
                if after is not None:
                    page["search_after"] = after
                hits = self._search(page)["hits"]["hits"]
                if hits:
                    yield hits
                if len(hits) < self._chunk:
                    break
                after = hits[-1]["sort"]

    def _chunks(self) -> Iterator[list[SeriesHit]]:
        inner = {"size": 1, "_source": True, "sort": hit_module.FIRST_RECORD}
        sort = ([{"key": "asc"}] if self._batches != [None] else
                hit_module.level_sort(self._clauses, None, flat=self._flat))

        def body(batch: list[str] | None) -> JSON:
            return {"query": self._query(batch, inner), "sort": sort,
                    "_source": hit_module.HIT_SOURCE}

        for hits in self._pages(body):
            yield [hit_module.series_hit(h, self._vis) for h in hits]

    def _uid_chunks(self) -> Iterator[list[str]]:
        def body(batch: list[str] | None) -> JSON:
            return {"query": self._query(batch, None), "sort": [{"key": "asc"}],
                    "_source": False, "docvalue_fields": ["key"]}

        for hits in self._pages(body):
            yield [str(h["fields"]["key"][0]) for h in hits]

    def collections(self) -> dict[tuple[str, str], CollectionRecord]:
        out = {}
        for doc in self._colls:
            record = CollectionRecord(**collection_from_doc(doc))
            out[(record.source, record.collection)] = record
        return out

    def _release(self) -> None:
        if self._pit is not None:
            pit, self._pit = self._pit, None
            with contextlib.suppress(StoreError):  # else its keep-alive frees it
                self._client.close_pit(pit)
