"""The generation a cluster serves, as the store reads it once a second: its manifest, its
collection records, and the collections that hold no record (``store/rowless.py``)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from imaging_hub.errors import StoreError
from imaging_hub.schemas.text import collection_texts, normalise, parse_text
from imaging_hub.store.search_engine import mapping, publish
from imaging_hub.store.search_engine import query as dsl
from imaging_hub.store.search_engine.client import JSON, EngineClient


@dataclass
class Served:
    generation: str
    meta: JSON
    collections: list[JSON]
    rowless: list[JSON]  # collection records without any record (store/rowless.py)
    at: float = field(default_factory=time.monotonic)
    _texts: list[tuple[str, str]] | None = None

    def index(self, prefix: str, kind: str) -> str:
        return mapping.index_name(prefix, kind, self.generation)

    def datasets_matching(self, text: str | None) -> dict[str, list[str]]:
        """For each pattern of a free-text query (by needle), the datasets whose collection
        text holds it."""
        if self._texts is None:
            self._texts = [(c["dataset"], normalise(*collection_texts(c)))
                           for c in self.collections]
        return {needle: sorted(d for d, t in self._texts if needle in t)
                for needle in parse_text(text).terms}


def read_served(client: EngineClient, prefix: str, gen: str) -> Served:
    """Generation ``gen`` under ``prefix``; ``StoreError`` when another layout wrote it."""
    meta = publish.read_meta(client, prefix, gen)
    if meta.get("layout") != mapping.LAYOUT_VERSION:
        raise StoreError(
            f"generation {gen} on the {client.kind} cluster was written by another "
            f"imaging-hub version (layout {meta.get('layout')}, this one reads "
            f"{mapping.LAYOUT_VERSION}); run 'ihub harvest' (any source) to rebuild it")
    colls = [h["_source"] for h in publish.scan(
        client, mapping.index_name(prefix, "coll", gen), {}, "id")]
    got = client.search(mapping.index_name(prefix, "series", gen), {
        "size": 0, "aggs": {"rows": {"nested": {"path": mapping.NESTED}, "aggs": {
            "d": {"terms": {"field": dsl.f("dataset"), "size": dsl.TERMS_SIZE}}}}}})
    have = {b["key"] for b in got["aggregations"]["rows"]["d"]["buckets"]}
    return Served(gen, meta, colls, [c for c in colls if c["dataset"] not in have])
