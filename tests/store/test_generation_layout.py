"""What a search-engine generation looks like once published (real nodes, both engines):
every level index merged to one segment per shard, doc values only on the nested fields a
search reads by value, and study and subject records without the fields no search of
theirs uses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from imaging_hub.store.search_engine import SearchEngineStore, docs, mapping
from tests.store import synthetic as syn
from tests.store.backends import engine_settings


@pytest.mark.parametrize("kind", ["opensearch", "elasticsearch"])
def test_a_published_generation_is_merged_and_lean(
        request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    store = SearchEngineStore(engine_settings(request, kind))
    client = store.client
    level_docs = docs.Rows.level_docs

    first: dict[str, Any] = {}

    def in_pieces(self: docs.Rows, level: str, index: str) -> Iterator[Any]:
        """The level's documents, the index refreshed half-way: loading leaves several
        segments, as a load larger than the engine's indexing buffer does."""
        for i, action in enumerate(level_docs(self, level, index)):
            first.setdefault(level, json.loads(action["_source"])[mapping.NESTED][0])
            if i == 100:
                client.request("POST", f"/{index}/_refresh")
            yield action

    monkeypatch.setattr(docs.Rows, "level_docs", in_pieces)
    data = syn.random_records(seed=11, n=400)["alpha"]
    store.publish(syn.result("alpha", data, syn.COLLECTIONS))

    prefix = client.settings.index_prefix
    segments = client.request("GET", f"/_cat/segments/{prefix}-*",
                              params={"format": "json", "h": "index,shard,prirep"})
    per_shard: dict[tuple[str, str], int] = {}
    for s in segments:
        key = (s["index"], s["shard"])
        per_shard[key] = per_shard.get(key, 0) + 1
    levels = {k for k in per_shard if any(f"-{lv}-" in k[0] for lv in mapping.LEVEL_INDICES)}
    assert len(levels) == len(mapping.LEVEL_INDICES)
    assert all(per_shard[k] == 1 for k in levels), per_shard

    for level in mapping.LEVEL_INDICES:
        alias = mapping.alias_name(prefix, level)
        got = next(iter(client.request("GET", f"/{alias}/_mapping").values()))
        rows = got["mappings"]["properties"][mapping.NESTED]["properties"]
        assert rows["modality"].get("doc_values", True)  # a facet
        assert rows["doi"]["doc_values"] is False  # matched only
        assert rows["subject_key"]["index"] is False
        assert rows["series_uid"].get("doc_values", True) == (level != "series")
        # what the documents carry: the series' records whole, the study and subject
        # records only what their searches use
        unused = {"id", "copies", "subject_key"}
        assert unused.isdisjoint(first[level]) == (level != "series"), first[level].keys()
    store.close()
