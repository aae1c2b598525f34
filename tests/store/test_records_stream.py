"""``IndexStore.records``: every matching series once, pinned to one generation, read in
chunks — the same contract on every backend (embedded, OpenSearch, Elasticsearch), checked
against the brute-force oracle of the conformance suite."""

from __future__ import annotations

import pytest

from imaging_hub.schemas.query import CohortQuery, SearchRequest, SeriesHit, Visibility
from imaging_hub.schemas.records import SeriesRecord
from imaging_hub.store.base import IndexStore
from imaging_hub.store.streaming import CHUNK, UID_BATCH
from tests.store import synthetic as syn
from tests.store.backends import BACKENDS, StoreFactory, two_sources
from tests.store.test_conformance import QUERIES, WHERE

pytestmark = pytest.mark.slow

LARGE = 12_500  # more than 10,000 (the result window engines page within) and 6 chunks


@pytest.fixture(scope="module", params=BACKENDS)
def loaded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           ) -> tuple[IndexStore, list[SeriesRecord]]:
    return two_sources(request, tmp_path_factory.mktemp("stream"), seed=11)


def _searched(store: IndexStore, body: dict[str, object]) -> list[str]:
    """Series ids of every page of a series search, in order."""
    out: list[str] = []
    after = None
    while True:
        page = store.search(SearchRequest.model_validate({**body, "page": {
            "size": 1000, "after": after}}))
        out += [h.id for h in page.hits]
        if page.next is None:
            return out
        after = page.next


def _oracle_uids(records: list[SeriesRecord], filters: dict[str, object], text: str | None,
                 where: dict[str, object] | None = None) -> set[str]:
    return {str(r.identifiers.series_uid) for r in records
            if syn.matches(r, filters, text, where)}


@pytest.mark.parametrize(("text", "filters"), QUERIES)
def test_records_are_every_match_once_like_search(
        loaded: tuple[IndexStore, list[SeriesRecord]], text: str | None,
        filters: dict[str, object]) -> None:
    store, records = loaded
    query = CohortQuery.model_validate({"text": text, "filters": filters})
    with store.records(query) as stream:
        hits = list(stream)
        assert stream.generation == store.generation_name()
    uids = [h.identifiers.series_uid for h in hits]
    assert len(uids) == len(set(uids))  # a series at two hosts is one hit
    assert set(uids) == _oracle_uids(records, filters, text)
    assert stream.total == len(hits)
    # the same hits, in the same order, as paging through search
    assert [h.id for h in hits] == _searched(store, {"text": text, "filters": filters})
    with store.records(query) as again:
        assert set(again.uids()) == set(uids)


@pytest.mark.parametrize("where", WHERE)
def test_records_apply_where_expressions(
        loaded: tuple[IndexStore, list[SeriesRecord]], where: dict[str, object]) -> None:
    store, records = loaded
    query = CohortQuery.model_validate({"filters": {"modality": ["CT", "MR"]}, "where": where})
    with store.records(query) as stream:
        got = {h.identifiers.series_uid for h in stream}
    assert got == _oracle_uids(records, {"modality": ["CT", "MR"]}, None, where)


def test_hits_are_full_records_with_every_host(
        loaded: tuple[IndexStore, list[SeriesRecord]]) -> None:
    store, records = loaded
    by_id = {r.id: r for r in records}
    hosts: dict[str, set[str]] = {}
    for r in records:
        hosts.setdefault(str(r.identifiers.series_uid), set()).add(r.source)
    with store.records(CohortQuery()) as stream:
        hits = list(stream)
    assert any(len(h.hosts) == 2 for h in hits)
    for h in hits:
        assert isinstance(h, SeriesHit)
        want = by_id[h.id]
        assert (h.identifiers, h.age, h.sex, h.study_date, h.body_part, h.access) == (
            want.identifiers, want.age, want.sex, want.study_date, want.body_part, want.access)
        assert set(h.hosts) == hosts[str(h.identifiers.series_uid)]


def test_restricted_to_series_uids_in_uid_order(
        loaded: tuple[IndexStore, list[SeriesRecord]]) -> None:
    store, records = loaded
    uids = sorted({str(r.identifiers.series_uid) for r in records})[::3]
    wanted = [*uids, "9.9.9.not-in-the-index"]
    with store.records(CohortQuery(), series_uids=wanted) as stream:
        got = [h.identifiers.series_uid for h in stream]
    assert got == sorted(uids) and stream.total == len(uids)
    ct = CohortQuery.model_validate({"filters": {"modality": ["CT"]}})
    with store.records(ct, series_uids=wanted) as stream:
        only_ct = {h.identifiers.series_uid for h in stream}
    assert only_ct == set(uids) & _oracle_uids(records, {"modality": ["CT"]}, None)
    with store.records(CohortQuery(), series_uids=[]) as stream:
        assert list(stream) == [] and stream.total == 0


def test_records_respect_visibility(make_store: StoreFactory) -> None:
    store = make_store()
    open_ = [syn.series("alpha", "lungs", "P1", "1.1", f"1.1.{i}") for i in range(3)]
    gated = [syn.series("vault", "lungs", "V1", "1.1", "1.1.0"),  # a copy of an open series
             syn.series("vault", "lungs", "V1", "7.1", "7.1.1")]
    gated = [r.model_copy(update={"access": r.access.model_copy(update={"tier": tier})})
             for r, tier in zip(gated, ["controlled", "sequestered"], strict=True)]
    store.publish(syn.result("alpha", open_))
    store.publish(syn.result("vault", gated))
    with store.records(CohortQuery(), Visibility.of_tiers("open")) as stream:
        hits = list(stream)
    assert sorted(h.id for h in hits) == ["alpha:1.1.0", "alpha:1.1.1", "alpha:1.1.2"]
    assert all(h.hosts == ["alpha"] for h in hits)  # the controlled copy is not named
    with store.records(CohortQuery(), Visibility.of_tiers("open", "controlled")) as stream:
        hosts = {h.id: h.hosts for h in stream}
    assert hosts["alpha:1.1.0"] == ["alpha", "vault"] and "vault:7.1.1" not in hosts


def test_a_stream_keeps_reading_its_generation_after_a_publish(
        make_store: StoreFactory) -> None:
    store = make_store()
    before = [syn.series("alpha", "lungs", f"P{i % 40}", f"1.{i % 90}", f"1.2.{i}")
              for i in range(2 * CHUNK + 50)]
    store.publish(syn.result("alpha", before))
    stream = store.records(CohortQuery())
    generation = stream.generation
    seen = []
    for hit in stream:
        seen.append(hit.id)
        if len(seen) == 10:  # mid-export: the source is replaced by a smaller one
            store.publish(syn.result("alpha", before[:100], run="run-2"))
            assert store.generation_name() != generation
    assert sorted(seen) == sorted(r.id for r in before)
    with store.records(CohortQuery()) as fresh:
        assert fresh.generation != generation and len(list(fresh)) == 100


def test_more_than_ten_thousand_series_stream_whole_in_chunks(
        make_store: StoreFactory) -> None:
    store = make_store()
    records = [syn.series("alpha", ("lungs", "brains")[i % 2], f"P{i % 700}",
                          f"1.3.{i % 3000}", f"1.3.{i % 3000}.{i}",
                          modality=("CT", "MR")[i % 2]) for i in range(LARGE)]
    store.publish(syn.result("alpha", records, ["lungs", "brains"]))
    with store.records(CohortQuery()) as stream:
        assert stream.total == LARGE
        ids = [h.id for h in stream]
    assert sorted(ids) == sorted(r.id for r in records) and len(ids) == LARGE
    assert 0 < stream.max_chunk <= CHUNK < LARGE  # never more than a chunk held at once
    keys = [(r.collection, r.identifiers.study_uid, r.identifiers.series_uid)
            for r in sorted(records, key=lambda r: r.id)]
    by_id = {r.id: r for r in records}
    assert [(by_id[i].collection, by_id[i].identifiers.study_uid,
             by_id[i].identifiers.series_uid) for i in ids] == sorted(keys)
    ct = CohortQuery.model_validate({"filters": {"modality": ["CT"]}})
    with store.records(ct) as stream:
        assert sum(1 for _ in stream.uids()) == LARGE // 2
    members = [str(r.identifiers.series_uid) for r in records[: UID_BATCH + 1500]]
    with store.records(CohortQuery(), series_uids=members) as stream:  # two UID batches
        got = [h.identifiers.series_uid for h in stream]
    assert got == sorted(members) and stream.max_chunk <= CHUNK


def test_empty_store_says_so(make_store: StoreFactory) -> None:
    from imaging_hub.errors import NoIndexError

    with pytest.raises(NoIndexError):
        make_store().records(CohortQuery())
