"""The index store contract, continued (tests/store/test_conformance.py): harmonised fields
and field coverage, answered alike by every backend."""

from __future__ import annotations

import pytest

from imaging_hub.schemas.fields import FIELDS
from imaging_hub.schemas.query import CohortQuery, SearchRequest
from imaging_hub.schemas.records import SeriesRecord
from imaging_hub.store.base import IndexStore
from tests.store import synthetic as syn
from tests.store.backends import StoreFactory

# -- harmonised fields: stored per record at harvest, so every backend answers alike ------------
HARMONISED_QUERIES: list[tuple[str | None, dict[str, object]]] = [
    (None, {"body_region": ["chest"]}),  # canonical CHEST: CHEST, Lung, THORAX, heart, ...
    (None, {"body_region": ["CHEST", "BREAST"], "modality": ["CT"]}),
    (None, {"body_part_code": ["816094009"]}),  # CHEST, THORAX and an alias of CHEST
    ("chest", {"race": ["More than one race", "White"]}),
    (None, {"body_region": ["HEAD+NECK", "HEAD"], "sex": ["F"]}),
]


@pytest.mark.parametrize(("text", "filters"), HARMONISED_QUERIES)
@pytest.mark.parametrize("unit", [None, "subjects"])
def test_harmonised_filters_and_facets_match_the_oracle(
    loaded: tuple[IndexStore, list[SeriesRecord]], text: str | None,
    filters: dict[str, object], unit: str | None,
) -> None:
    store, records = loaded
    query = CohortQuery.model_validate({"text": text, "filters": filters})
    wanted: dict[str, object] = {  # canonical values, as stored (upper-cased)
        name: list(flt.values) for name, flt in query.filters.items()}
    facets = ["body_region", "body_part_code", "race", "body_part"]
    got = store.search(SearchRequest.model_validate(
        {"text": text, "filters": filters, "facets": facets, "page": {"size": 0},
         "facet_unit": unit}))
    hits = [r for r in records if syn.matches(r, wanted, text)]
    assert got.total.count == len({r.identifiers.series_uid for r in hits}) > 0
    counts = store.count(query)
    assert counts.series.count == syn.oracle_counts(hits, records)["series"]
    assert counts.subjects.count == syn.oracle_counts(hits, records)["subjects"]
    for name in facets:
        shown = {b.value: b.count for b in got.facets[name] if b.count}
        assert shown == syn.facet_counts(records, wanted, text, name, unit), name


def test_body_region_chest_returns_every_raw_spelling_of_chest(
    loaded: tuple[IndexStore, list[SeriesRecord]],
) -> None:
    store, records = loaded
    got = store.search(SearchRequest.model_validate(
        {"filters": {"body_region": ["chest"]}, "facets": ["body_part"], "page": {"size": 0}}))
    spellings = {b.value for b in got.facets["body_part"] if b.count}
    # every raw value the vocabularies put in the chest region, whatever its spelling
    assert {"CHEST", "LUNG", "THORAX", "HEART", "MEDIASTINUM", "TH CT CHEST WO C"} <= spellings
    chest = {r.identifiers.series_uid for r in records
             if syn.BODY_PARTS_EXPECTED[r.body_part_raw][1] == "CHEST"}
    assert got.total.count == len(chest)
    by_part = store.search(SearchRequest.model_validate(
        {"filters": {"body_part": ["CHEST", "LUNG", "THORAX"]}, "page": {"size": 0}}))
    assert got.total.count > by_part.total.count  # heart, mediastinum, an alias too


def test_coverage_counts_records_with_a_value_per_source(
    loaded: tuple[IndexStore, list[SeriesRecord]],
) -> None:
    store, records = loaded
    got = store.coverage()
    assert set(got.sources) == {"alpha", "mirror"}
    for source in ("alpha", "mirror"):
        mine = [r for r in records if r.source == source]
        assert got.sources[source].records == len(mine)
        want = {name: sum(1 for r in mine if syn.has_value(r, name)) for name in FIELDS}
        assert got.sources[source].fields == want, source
    assert 0 < got.sources["alpha"].fields["body_region"] < len(
        [r for r in records if r.source == "alpha"])


def test_coverage_leaves_out_what_the_caller_may_not_see(make_store: StoreFactory) -> None:
    store = make_store()
    hidden = syn.sequestered(syn.series("vault", "lungs", "P7", "7.1", "7.1.1",
                                        body_part="LUNG"))
    store.publish(syn.result("vault", [hidden]))
    store.publish(syn.result("alpha", [syn.series("alpha", "lungs", "P1", "1.1", "1.1.1")]))
    got = store.coverage()
    assert set(got.sources) == {"alpha"}
    assert got.sources["alpha"].fields["body_region"] == 0
    assert got.sources["alpha"].fields["modality"] == 1
