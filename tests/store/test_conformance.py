"""The index store contract: every backend passes the same suite (embedded, OpenSearch,
Elasticsearch), typed to ``IndexStore`` only; continued in test_conformance_fields.py
(harmonised fields, coverage) and test_conformance_subjects.py (subjects, sequestered records),
with the fixtures in conftest.py. Embedded internals have their own tests
(tests/store/test_embedded.py)."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from imaging_hub.errors import NoIndexError, StaleCursorError
from imaging_hub.schemas.counts import MissingExcluded
from imaging_hub.schemas.query import CohortQuery, SearchRequest
from imaging_hub.schemas.records import SeriesRecord
from imaging_hub.store.base import IndexStore
from tests.store import synthetic as syn
from tests.store.backends import StoreFactory

QUERIES: list[tuple[str | None, dict[str, object]]] = [
    (None, {}),
    (None, {"modality": ["CT"]}),
    (None, {"modality": ["CT", "MR"], "sex": ["F"]}),
    (None, {"age": {"gte": 60, "lte": 70}}),
    (None, {"age": {"gte": 65}}),
    (None, {"study_year": {"gte": 2001, "lte": 2010}}),
    (None, {"study_year": [1999, 2020]}),
    (None, {"disease_type": ["Lung Cancer"], "source": ["mirror"]}),
    (None, {"primary_site": ["Brain", "Breast"], "license": ["CC BY-NC 4.0"]}),
    ("chest", {}),
    ("t1 axial", {"modality": ["MR"]}),
    ("glioma", {}),
    ("LUNG", {"sex": ["M", "O"], "age": {"lte": 40}}),
    ("lung OR brain", {}),
    ("chest -low", {}),
    ('"whole slide', {}),
    ("T1* OR seg", {"modality": ["MR", "SEG"]}),
    ("glioblastoma", {}),
    ("NOT ct AND breast", {}),
    ("chest head", {}),
    ("tomography -positron", {}),  # harmonised meanings are searchable text too
    ('"entire body" OR mediastinum', {}),
    (None, {"collection": ["nonexistent"]}),
    (None, {"sex": ["F", None]}),
    (None, {"sex": [None], "modality": ["CT"]}),
    (None, {"age": [{"gte": 20, "lte": 29.5}, {"gte": 80}]}),
    (None, {"age": [None, {"lt": 10}]}),
    (None, {"disease_type": [None]}),
    (None, {"disease_type": ["Glioblastoma", None], "study_year": [None, 2020]}),
]


WHERE: list[dict[str, object]] = [
    {"any": [{"field": "modality", "any_of": ["CT"]}, {"field": "sex", "any_of": ["F"]}]},
    {"not": {"field": "source", "any_of": ["mirror"]}},
    {"all": [{"field": "age", "any_of": [{"gt": 30, "lt": 60}]},
             {"not": {"any": [{"field": "sex", "any_of": [None]},
                              {"field": "disease_type", "any_of": ["Lung Cancer"]}]}}]},
]


@pytest.mark.parametrize("where", WHERE)
def test_where_expressions_count_and_facet_like_the_oracle(
    loaded: tuple[IndexStore, list[SeriesRecord]], where: dict[str, object],
) -> None:
    store, records = loaded
    filters = {"modality": ["CT", "MR", "PT"]}
    hits = [r for r in records if syn.matches(r, filters, None, where)]
    got = store.count(CohortQuery.model_validate({"filters": filters, "where": where}))
    assert {k: getattr(got, k).count for k in ("subjects", "studies", "series")} == {
        k: v for k, v in syn.oracle_counts(hits, records).items()
        if k in ("subjects", "studies", "series")}
    page = store.search(SearchRequest.model_validate(
        {"filters": filters, "where": where, "facets": ["modality"], "page": {"size": 0}}))
    want: dict[object, set[str]] = {}
    for r in records:  # the facet leaves out its own filter, never the 'where'
        if syn.matches(r, {}, None, where):
            for v in syn.facet_values(r, "modality"):
                want.setdefault(v, set()).add(r.identifiers.series_uid)
    assert {b.value: b.count for b in page.facets["modality"] if b.count} == {
        v: len(e) for v, e in want.items()}


def assert_missing_excluded(got: dict[str, MissingExcluded], records: list[SeriesRecord],
                            filters: dict[str, object], text: str | None) -> None:
    """Per filter not selecting null: the units matching the rest that lack the field."""
    selecting_null = {n for n, v in filters.items() if isinstance(v, list) and None in v}
    assert set(got) == set(filters) - selecting_null
    for name, excluded in got.items():
        others = {k: v for k, v in filters.items() if k != name}
        lacking = [r for r in records if syn.matches(r, others, text)
                   and syn.field_matches(r, name, [None])]
        want = syn.oracle_counts(lacking, records)
        assert (excluded.subjects, excluded.studies, excluded.series) == (
            want["subjects"], want["studies"], want["series"]), name


@pytest.mark.parametrize(("text", "filters"), QUERIES)
def test_counts_are_exact_and_dedup_series_across_hosts(
    loaded: tuple[IndexStore, list[SeriesRecord]], text: str | None,
    filters: dict[str, object],
) -> None:
    store, records = loaded
    hits = [r for r in records if syn.matches(r, filters, text)]
    got = store.count(CohortQuery.model_validate({"text": text, "filters": filters}))
    assert {k: getattr(got, k).count for k in ("subjects", "studies", "series", "instances",
                                              "bytes")} == syn.oracle_counts(hits, records)
    # a patient mirrored at two hosts is one subject overall, one per source in by_source
    assert all(getattr(got, k).exact for k in ("subjects", "studies", "series"))
    assert_missing_excluded(got.missing_excluded, records, filters, text)
    for source in ("alpha", "mirror"):
        mine = [r for r in hits if r.source == source]
        if mine:
            assert got.by_source[source].series.count == len(mine)
            assert got.by_source[source].subjects.count == syn.oracle_counts(
                mine, records)["subjects"]
        else:
            assert source not in got.by_source
    for coll in syn.COLLECTIONS:
        mine = [r for r in hits if r.collection == coll]
        if mine:
            want = syn.oracle_counts(mine, records)
            assert got.by_collection[coll].studies.count == want["studies"]
            assert got.by_collection[coll].series.count == want["series"]
            assert got.by_collection[coll].instances.count == want["instances"]


@pytest.mark.parametrize(("text", "filters"), QUERIES)
@pytest.mark.parametrize("unit", [None, "studies", "subjects", "collections"])
def test_facets_are_disjunctive_and_count_distinct_units(
    loaded: tuple[IndexStore, list[SeriesRecord]], text: str | None,
    filters: dict[str, object], unit: str | None,
) -> None:
    store, records = loaded
    facets = ["source", "collection", "modality", "sex", "license", "disease_type", "age"]
    got = store.search(SearchRequest.model_validate(
        {"text": text, "filters": filters, "facets": facets, "page": {"size": 0},
         "facet_unit": unit, "counts": True}))
    assert got.total.count == len({r.identifiers.series_uid for r in records
                                   if syn.matches(r, filters, text)})
    # with counts, what each filter excludes for lacking its field (a facet's "no value"
    # bucket in its unit holds the same number)
    assert got.counts is not None
    assert_missing_excluded(got.counts.missing_excluded, records, filters, text)
    assert got.facet_unit == (unit or "series")
    for name in facets:
        shown = {b.value: b.count for b in got.facets[name] if b.count}
        assert shown == syn.facet_counts(records, filters, text, name, unit), name
        selected = filters.get(name)
        if isinstance(selected, list):  # a selected value stays listed, even at zero
            plain = {v for v in selected if not isinstance(v, dict)}
            assert plain <= {b.value for b in got.facets[name]}


@pytest.mark.parametrize("sort", [None, "age", "-age", "instances", "-study_year"])
def test_deep_paging_returns_every_hit_once(
    loaded: tuple[IndexStore, list[SeriesRecord]], sort: str | None,
) -> None:
    store, records = loaded
    body = {"filters": {"modality": ["CT", "MR", "SM"]}, "sort": sort, "page": {"size": 7}}
    seen: list[str] = []
    after = None
    while True:
        body["page"] = {"size": 7, "after": after}
        page = store.search(SearchRequest.model_validate(body))
        seen += [h.id for h in page.hits]
        if page.next is None:
            break
        after = page.next
    by_id = {r.id: r for r in records}
    uids = [by_id[i].identifiers.series_uid for i in seen]
    assert len(uids) == len(set(uids))  # a series held by two sources is one hit
    assert set(uids) == {r.identifiers.series_uid for r in records
                         if r.modality in ("CT", "MR", "SM")}
    if sort:
        key = sort.lstrip("-")
        by_id = {r.id: getattr(r, key) for r in records}
        values = [by_id[i] for i in seen]
        present = [v for v in values if v is not None]
        assert present == sorted(present, reverse=sort.startswith("-"))
        assert values[len(present):] == [None] * (len(values) - len(present))  # missing last


def test_collection_level_hits(loaded: tuple[IndexStore, list[SeriesRecord]]) -> None:
    store, records = loaded
    got = store.search(SearchRequest.model_validate(
        {"level": "collection", "filters": {"modality": ["SM"]}, "page": {"size": 50}}))
    want = Counter((r.source, r.collection) for r in records if r.modality == "SM")
    assert {(h.source, h.collection): h.series for h in got.hits} == dict(want)  # type: ignore[union-attr]
    assert got.total.unit == "collection"


def test_republish_replaces_only_that_source(make_store: StoreFactory) -> None:
    store = make_store()
    store.publish(syn.result("alpha", [syn.series("alpha", "lungs", "P1", "1.1", "1.1.1")],
                             ["lungs"]))
    store.publish(syn.result("beta", [syn.series("beta", "lungs", "P9", "9.1", "9.1.1")]))
    store.publish(syn.result("alpha", [syn.series("alpha", "brains", "P2", "2.1", "2.1.1"),
                                       syn.series("alpha", "brains", "P2", "2.1", "2.1.2")],
                             ["brains"], run="run-2"))
    ids = {h.id for h in store.search(SearchRequest(page={"size": 100})).hits}
    assert ids == {"alpha:2.1.1", "alpha:2.1.2", "beta:9.1.1"}
    assert [s.source for s in store.sources().sources] == ["alpha", "beta"]
    assert store.record("alpha:collection:brains") is not None
    assert store.record("alpha:collection:lungs") is None


def test_paging_token_of_an_old_generation_is_refused(make_store: StoreFactory) -> None:
    store = make_store()
    rec = [syn.series("alpha", "lungs", "P1", "1.1", f"1.1.{i}") for i in range(5)]
    store.publish(syn.result("alpha", rec))
    first = store.search(SearchRequest(page={"size": 2}))
    assert first.next
    store.publish(syn.result("alpha", rec, run="run-2"))
    with pytest.raises(StaleCursorError):
        store.search(SearchRequest(page={"size": 2, "after": first.next}))
    with pytest.raises(ValueError, match="different query"):
        store.search(SearchRequest(text="x", page={"size": 2, "after": first.next}))


def test_text_matches_every_term_in_descriptions_or_collection_name(
    loaded: tuple[IndexStore, list[SeriesRecord]],
) -> None:
    store, records = loaded
    text = '"whole slide" breast'
    got = store.search(SearchRequest(text=text, page={"size": 1000}))
    want = {r.identifiers.series_uid for r in records if syn.matches(r, {}, text)}
    # "breast" from the collection's name / disease / site, or the record's body part
    assert any(r.body_part != "BREAST" and r.collection == "slides" for r in records
               if r.identifiers.series_uid in want)
    assert {h.identifiers.series_uid for h in got.hits} == want and want  # type: ignore[union-attr]


def test_record_lookup_round_trips(loaded: tuple[IndexStore, list[SeriesRecord]]) -> None:
    store, records = loaded
    r = random.Random(1).choice(records)
    got = store.record(r.id)
    assert isinstance(got, SeriesRecord)
    assert got.identifiers == r.identifiers and got.age == r.age
    assert got.disease_type == syn.COLLECTIONS[r.collection][1]
    assert store.record("alpha:does-not-exist") is None


def test_empty_store_says_so(make_store: StoreFactory) -> None:
    store = make_store()
    with pytest.raises(NoIndexError, match="ihub harvest"):
        store.search(SearchRequest())
    assert store.sources().sources == []


@pytest.mark.parametrize("level", ["study", "subject"])
def test_study_and_subject_levels_group_matching_series(
    loaded: tuple[IndexStore, list[SeriesRecord]], level: str,
) -> None:
    store, records = loaded
    filters = {"modality": ["CT", "MR"]}
    hits = [r for r in records if syn.matches(r, filters, None)]
    person = syn.person_of(records)  # a subject seen at two sources is one person
    key = (lambda r: r.identifiers.study_uid) if level == "study" else (
        lambda r: person[(r.source, r.subject_id)])
    groups: dict[object, list[SeriesRecord]] = {}
    for r in hits:
        groups.setdefault(key(r), []).append(r)
    seen: dict[object, int] = {}
    after = None
    while True:
        page = store.search(SearchRequest.model_validate(
            {"level": level, "filters": filters, "page": {"size": 9, "after": after}}))
        assert page.total.count == len(groups) and page.total.unit == level
        for h in page.hits:
            k = h.study_uid if level == "study" else person[(h.source, h.subject_id)]  # type: ignore[union-attr]
            assert k not in seen
            seen[k] = h.series  # type: ignore[union-attr]
        if page.next is None:
            break
        after = page.next
    want = {k: len({r.identifiers.series_uid for r in rs}) for k, rs in groups.items()}
    assert seen == want


def test_series_hits_name_every_host(loaded: tuple[IndexStore, list[SeriesRecord]]) -> None:
    store, records = loaded
    mirrored = next(r for r in records if r.source == "mirror")
    got = store.search(SearchRequest.model_validate(
        {"filters": {"series_uid": [mirrored.identifiers.series_uid]}}))
    assert got.total.count == 1 and len(got.hits) == 1  # one series, two hosts
    assert got.hits[0].hosts == ["alpha", "mirror"]  # type: ignore[union-attr]
    counts = store.count(CohortQuery.model_validate(
        {"filters": {"series_uid": [mirrored.identifiers.series_uid]}}))
    assert counts.series.count == 1  # one series, two hosts


def test_selected_facet_values_are_listed_as_matched(
    loaded: tuple[IndexStore, list[SeriesRecord]],
) -> None:
    store, _ = loaded
    got = store.search(SearchRequest.model_validate({
        "filters": {"modality": ["ct", "xa"], "commercial_use": ["true"]},
        "facets": ["modality", "commercial_use"], "page": {"size": 0}}))
    modality = {b.value: b.count for b in got.facets["modality"]}
    assert "ct" not in modality and modality["CT"] > 0 and modality["XA"] == 0
    assert {b.value for b in got.facets["commercial_use"]} == {True, False}


def test_relevance_sort_pages_every_text_match_once(
    loaded: tuple[IndexStore, list[SeriesRecord]],
) -> None:
    store, records = loaded
    text = "chest OR lung OR brain"
    seen: list[str] = []
    after = None
    while True:
        page = store.search(SearchRequest.model_validate(
            {"text": text, "sort": "relevance", "page": {"size": 13, "after": after}}))
        seen += [h.identifiers.series_uid for h in page.hits]  # type: ignore[union-attr]
        if page.next is None:
            break
        after = page.next
    assert len(seen) == len(set(seen))
    assert set(seen) == {r.identifiers.series_uid for r in records
                         if syn.matches(r, {}, text)}


@pytest.mark.parametrize("sort", [None, "age", "-study_year"])
def test_paging_a_single_host_index(make_store: StoreFactory, sort: str | None) -> None:
    """Without series at several hosts, engines sort on the series documents themselves:
    the same order rules must hold."""
    store = make_store()
    records = syn.random_records(seed=9, n=120)["alpha"]
    store.publish(syn.result("alpha", records, syn.COLLECTIONS))
    seen: list[str] = []
    after = None
    while True:
        page = store.search(SearchRequest.model_validate(
            {"sort": sort, "page": {"size": 11, "after": after}}))
        seen += [h.id for h in page.hits]
        if page.next is None:
            break
        after = page.next
    by_id = {r.id: r for r in records}
    assert sorted(seen) == sorted(by_id)
    if sort is None:  # index order: collection, study, series
        keys = [(by_id[i].collection, by_id[i].identifiers.study_uid) for i in seen]
        assert keys == sorted(keys)
    else:
        values = [getattr(by_id[i], sort.lstrip("-")) for i in seen]
        present = [v for v in values if v is not None]
        assert present == sorted(present, reverse=sort.startswith("-"))
        assert values[len(present):] == [None] * (len(values) - len(present))


def test_facets_and_counts_of_a_single_host_index(make_store: StoreFactory) -> None:
    """Without series at several hosts, engines count each series record as its series
    (no folding search): facets, counts and what each filter excludes as the oracle's."""
    store = make_store()
    records = syn.random_records(seed=11, n=150)["alpha"]
    store.publish(syn.result("alpha", records, syn.COLLECTIONS))
    facets = ["collection", "modality", "sex", "disease_type", "age"]
    for text, filters in [(None, {}), (None, {"modality": ["CT", "MR"], "sex": ["F"]}),
                          ("chest", {"age": {"gte": 40}}), (None, {"disease_type": [None]})]:
        got = store.search(SearchRequest.model_validate(
            {"text": text, "filters": filters, "facets": facets, "page": {"size": 0},
             "counts": True}))
        for name in facets:
            shown = {b.value: b.count for b in got.facets[name] if b.count}
            assert shown == syn.facet_counts(records, filters, text, name, None), name
        assert got.counts is not None
        assert got.counts.series.count == len([r for r in records
                                               if syn.matches(r, filters, text)])
        assert_missing_excluded(got.counts.missing_excluded, records, filters, text)
