"""The index store contract, continued (tests/store/test_conformance.py): subjects linked
across hosts, records without DICOM UIDs, and sequestered records, which neither show nor
link anyone, on every backend."""

from __future__ import annotations

from imaging_hub.schemas.query import CohortQuery, SearchRequest
from imaging_hub.schemas.records import SeriesIdentifiers
from tests.store import synthetic as syn
from tests.store.backends import StoreFactory


def test_sequestered_records_never_leak(make_store: StoreFactory) -> None:
    store = make_store()
    hidden = syn.sequestered(syn.series("vault", "lungs", "P7", "7.1", "7.1.1",
                                        description="secret chest"))
    store.publish(syn.result("vault", [hidden]))
    store.publish(syn.result("alpha", [syn.series("alpha", "lungs", "P1", "1.1", "1.1.1",
                                                  description="public chest")]))
    got = store.search(SearchRequest.model_validate(
        {"text": "chest", "facets": ["source", "access"], "counts": True}))
    assert [h.id for h in got.hits] == ["alpha:1.1.1"]
    assert {b.value for b in got.facets["source"]} == {"alpha"}
    assert {b.value for b in got.facets["access"]} == {"open"}
    assert got.counts is not None and got.counts.subjects.count == 1
    assert store.count(CohortQuery()).series.count == 1
    assert "vault" not in {b.value for b in store.facets().facets["source"]}
    assert store.record("vault:7.1.1") is None
    for level in ("study", "subject", "collection"):
        page = store.search(SearchRequest.model_validate({"level": level}))
        assert page.total.count == 1


def test_a_patient_at_two_hosts_is_one_subject(make_store: StoreFactory) -> None:
    store = make_store()
    store.publish(syn.result("alpha", [
        syn.series("alpha", "lungs", "A-1", "5.1", "5.1.1"),
        syn.series("alpha", "lungs", "A-2", "5.2", "5.2.1")]))
    # the mirror knows A-1 under another PatientID but holds the same study
    store.publish(syn.result("mirror", [syn.series("mirror", "lungs", "M-9", "5.1", "5.1.1"),
                                        syn.series("mirror", "lungs", "M-9", "5.3", "5.3.1")]))
    got = store.count(CohortQuery())
    assert got.subjects.count == 2  # A-1 = M-9, and A-2
    assert got.series.count == 3 and got.studies.count == 3
    assert got.by_source["alpha"].subjects.count == 2
    assert got.by_source["mirror"].subjects.count == 1
    subjects = store.search(SearchRequest.model_validate({"level": "subject"})).hits
    assert sorted(h.hosts for h in subjects) == [["alpha"], ["alpha", "mirror"]]  # type: ignore[union-attr]


def test_subject_level_records_count_as_subjects_and_never_merge(
    make_store: StoreFactory,
) -> None:
    """Rows of a metadata export without DICOM UIDs are subjects, one each; they link to no
    one (a null StudyInstanceUID is no shared study), and harmonised fields count them."""
    store = make_store()
    subjects = [syn.series("export", "cohort", f"S{i}", "x", "x", body_part="CHEST")
                .model_copy(update={"id": f"export:subject:S{i}", "identifiers":
                                    SeriesIdentifiers(study_uid=None, series_uid=None)})
                for i in range(3)]
    store.publish(syn.result("export", subjects))
    store.publish(syn.result("alpha", [syn.series("alpha", "lungs", "P1", "1.1", "1.1.1")]))
    got = store.count(CohortQuery())
    assert got.subjects.count == 4 and got.studies.count == 1 and got.series.count == 1
    chest = store.count(CohortQuery.model_validate({"filters": {"body_region": ["chest"]}}))
    assert chest.subjects.count == 3 and chest.by_source["export"].subjects.count == 3


def test_sequestered_copies_neither_show_as_hosts_nor_link_subjects(
        make_store: StoreFactory) -> None:
    store = make_store()
    store.publish(syn.result("alpha", [syn.series("alpha", "lungs", "A1", "5.1", "5.1.1")]))
    store.publish(syn.result("beta", [syn.series("beta", "lungs", "B1", "5.2", "5.2.1")]))
    vault = [syn.series("vault", "lungs", "V", "5.1", "5.1.1"),
             syn.series("vault", "lungs", "V", "5.2", "5.2.9")]
    vault = [syn.sequestered(r) for r in vault]
    store.publish(syn.result("vault", vault))
    # the vault holds both people's studies under one PatientID: that must not merge them
    assert store.count(CohortQuery()).subjects.count == 2
    hit = store.search(SearchRequest.model_validate(
        {"filters": {"series_uid": ["5.1.1"]}})).hits[0]
    assert hit.hosts == ["alpha"]  # type: ignore[union-attr]
