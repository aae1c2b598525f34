"""Records without DICOM UIDs (a metadata export's subject rows) and collections without any
record (a catalogue's) on every backend: they count where they can and nowhere else."""

from __future__ import annotations

import pytest

from imaging_hub.schemas.query import CohortQuery, SearchRequest
from imaging_hub.schemas.records import Access, CollectionRecord, SeriesIdentifiers
from imaging_hub.store.base import IndexStore
from tests.store import synthetic as syn
from tests.store.backends import BACKENDS, store_factory


def subject_row(n: int, sex: str, age: float) -> object:
    r = syn.series("export", "decedents", f"D{n}", "x", f"x.{n}", sex=sex, age=age)
    return r.model_copy(update={"id": f"export:subject:D{n}", "identifiers": SeriesIdentifiers(
        study_uid=None, series_uid=None), "modality": None, "instances": 0, "size_bytes": None,
        "extra": {"manner_of_death": "Accident" if n % 2 else "Natural"}})


@pytest.fixture(scope="module", params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
          ) -> IndexStore:
    s = store_factory(request, tmp_path_factory.mktemp("rowless"))()
    s.publish(syn.result("alpha", [syn.series("alpha", "lungs", "P1", "1.1", "1.1.1", sex="F"),
                                   syn.series("alpha", "lungs", "P2", "2.1", "2.1.1", sex="M")],
                         ["lungs"]))
    s.publish(syn.result("export", [subject_row(1, "F", 70), subject_row(2, "F", 81),
                                    subject_row(3, "M", 66)]))
    catalog = syn.result("catalog", [])
    catalog.collections = syn.collection_table([CollectionRecord(
        id="catalog:collection:adni", source="catalog", collection="adni",
        name="Alzheimer's Disease Neuroimaging Initiative", disease_type=["Alzheimer Disease"],
        primary_site=["Brain"], subjects=2400, access=Access(tier="registration"),
        provenance=syn.prov("catalog"))])
    s.publish(catalog)
    # publishing another source again keeps the export's records (read back on engines)
    s.publish(syn.result("alpha", [syn.series("alpha", "lungs", "P1", "1.1", "1.1.1", sex="F"),
                                   syn.series("alpha", "lungs", "P2", "2.1", "2.1.1", sex="M")],
                         ["lungs"], run="run-2"))
    return s


def test_subject_rows_count_as_subjects_only(store: IndexStore) -> None:
    got = store.count(CohortQuery.model_validate({"filters": {"sex": ["F"]}}))
    assert (got.subjects.count, got.studies.count, got.series.count) == (3, 1, 1)
    assert got.by_source["export"].subjects.count == 2
    assert got.by_source["export"].series.count == 0
    assert got.by_collection["decedents"].subjects.count == 2


@pytest.mark.parametrize(("level", "total"), [
    ("series", 2), ("study", 2), ("subject", 5), ("collection", 3)])
def test_levels(store: IndexStore, level: str, total: int) -> None:
    page = store.search(SearchRequest.model_validate({"level": level, "page": {"size": 10}}))
    assert page.total.count == total == len(page.hits)


def test_facets_in_each_unit(store: IndexStore) -> None:
    def sex(unit: str) -> dict[object, int]:
        got = store.search(SearchRequest.model_validate(
            {"facets": ["sex"], "facet_unit": unit, "page": {"size": 0}}))
        return {b.value: b.count for b in got.facets["sex"]}

    assert sex("series") == {"F": 1, "M": 1}
    assert sex("subjects") == {"F": 3, "M": 2}


def test_catalogue_collection_listed_when_its_record_answers(store: IndexStore) -> None:
    def datasets(body: dict[str, object]) -> set[str]:
        page = store.search(SearchRequest.model_validate(
            {"level": "collection", "page": {"size": 50}, **body}))
        return {h.collection for h in page.hits}  # type: ignore[union-attr]

    assert "adni" in datasets({"filters": {"disease_type": ["Alzheimer Disease"]}})
    assert "adni" in datasets({"text": "alzheimer*"})
    assert datasets({"filters": {"primary_site": ["Brain"], "access": ["registration"]}}) \
        == {"adni"}
    assert "adni" not in datasets({"filters": {"modality": ["MR"]}})  # cannot know: not shown
    got = store.search(SearchRequest.model_validate(
        {"level": "collection", "facets": ["primary_site", "source"], "page": {"size": 0}}))
    assert {b.value: b.count for b in got.facets["source"]} == {
        "alpha": 1, "export": 1, "catalog": 1}
    assert {b.value: b.count for b in got.facets["primary_site"]}["Brain"] == 1


def test_extra_attributes_are_searchable_text(store: IndexStore) -> None:
    got = store.search(SearchRequest.model_validate(
        {"text": "accident", "level": "subject", "page": {"size": 10}}))
    assert sorted(h.subject_id for h in got.hits) == ["D1", "D3"]  # type: ignore[union-attr]
