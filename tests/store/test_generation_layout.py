"""What a search-engine generation looks like once published (real nodes, both engines):
every level index merged to one segment per shard, doc values only on the nested fields a
search reads by value, and study and subject records without the fields no search of
theirs uses; and what a load that fails while an earlier index settles leaves behind."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from imaging_hub.errors import StoreError
from imaging_hub.store.search_engine import SearchEngineStore, docs, mapping, publish
from tests.store import synthetic as syn
from tests.store.backends import engine_settings


@pytest.mark.parametrize("kind", ["opensearch", "elasticsearch"])
def test_a_published_generation_is_merged_and_lean(
        request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    store = SearchEngineStore(engine_settings(request, kind))
    client = store.client
    level_docs = docs.Rows.level_docs
    prefix = client.settings.index_prefix
    first: dict[str, Any] = {}

    def in_pieces(self: docs.Rows, level: str) -> Iterator[str]:
        """The level's documents, the index refreshed half-way: loading leaves several
        segments, as a load larger than the engine's indexing buffer does."""
        for i, doc in enumerate(level_docs(self, level)):
            first.setdefault(level, json.loads(doc)[mapping.NESTED][0])
            if i == 100:
                client.request("POST", f"/{prefix}-{level}-g*/_refresh")
            yield doc

    monkeypatch.setattr(docs.Rows, "level_docs", in_pieces)
    data = syn.random_records(seed=11, n=400)["alpha"]
    store.publish(syn.result("alpha", data, syn.COLLECTIONS))

    segments = client.request("GET", f"/_cat/segments/{prefix}-*",
                              params={"format": "json", "h": "index,shard,prirep,searchable"})
    per_shard: dict[tuple[str, str], int] = {}
    # what searches read: the merged segment, open once published
    assert all(s["searchable"] == "true" for s in segments), segments
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


@pytest.mark.parametrize("kind", ["opensearch", "elasticsearch"])
def test_a_level_that_fails_while_another_settles_leaves_only_the_served_generation(
        request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    """Each loaded index is refreshed and merged in the background while the next loads;
    a load that fails then drops the settles still queued, waits for the running one and
    deletes every index of the new generation."""
    store = SearchEngineStore(engine_settings(request, kind))
    client, prefix = store.client, store.client.settings.index_prefix
    data = syn.random_records(seed=12, n=120)["alpha"]
    store.publish(syn.result("alpha", data, syn.COLLECTIONS))
    served = store.generation_name()
    level_docs, settle = docs.Rows.level_docs, publish._settle
    released = threading.Event()
    settled: list[str] = []

    def held_settle(c: Any, index: str) -> None:
        """The first settle (the collections') runs until the load has failed and the
        executor is shut down, so the series' and the study's are still queued then."""
        assert released.wait(60)
        settle(c, index)
        settled.append(index.split("-")[-3])

    class Watched(ThreadPoolExecutor):
        def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
            super().shutdown(wait=False, cancel_futures=cancel_futures)
            released.set()
            super().shutdown(wait=wait)

    def refused_subject(self: docs.Rows, level: str) -> Iterator[str]:
        yield from level_docs(self, level)
        if level == "subject":
            yield json.dumps({"key": "bad", mapping.NESTED: [{"age": "not a number"}]})

    monkeypatch.setattr(publish, "_settle", held_settle)
    monkeypatch.setattr(publish, "ThreadPoolExecutor", Watched)
    monkeypatch.setattr(docs.Rows, "level_docs", refused_subject)
    with pytest.raises(StoreError, match="parsing_exception"):
        store.publish(syn.result("alpha", data[:60], syn.COLLECTIONS, run="run-2"))
    assert store.generation_name() == served
    assert settled == ["coll"]  # ran to its end; the queued ones never started
    assert not [t for t in threading.enumerate() if t.name.startswith("settle")]
    left = client.request("GET", f"/_cat/indices/{prefix}-*-g*",
                          params={"format": "json", "h": "index"})
    assert {i["index"].split("-", 2)[2] for i in left} == {served}
    store.close()
