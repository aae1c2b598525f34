"""TCIA's pure normalisers on saved NBIA v4 payloads (tests/indexers/payloads/tcia)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from imaging_hub.indexers import tcia_normalise as tn
from imaging_hub.indexers.base import Tally
from imaging_hub.schemas.records import SeriesRecord

PAYLOADS = Path(__file__).parent / "payloads" / "tcia"
COLL = "Pseudo-PHI-DICOM-Data"


def load(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())


def ctx(tier: str = "open") -> tn.Context:
    return tn.Context(source="tcia", source_version="NBIA v4 test",
                      harvested_at=datetime(2026, 11, 2, tzinfo=UTC), run_id="r1",
                      tiers={COLL: tier})  # type: ignore[dict-item]


def normalise(rows: list[Any], tier: str = "open") -> tuple[list[SeriesRecord], Tally]:
    tally = Tally.new()
    studies = tn.studies_by_uid(load(f"getPatientStudy_{COLL}.json"))
    out = [tn.series_record(r, ctx(tier), studies, tally) for r in rows]
    return [r for r in out if r is not None], tally


def test_every_saved_series_row_becomes_a_record_with_its_values() -> None:
    rows = load(f"getSeries_{COLL}.json")
    records, tally = normalise(rows)
    assert len(records) == len(rows) == 8 and tally.rejected == {} and tally.warnings == {}
    by_uid = {r.identifiers.series_uid: r for r in records}
    for row in rows:
        rec = by_uid[row["SeriesInstanceUID"]]
        assert rec.id == f"tcia:{row['SeriesInstanceUID']}" and rec.collection == COLL
        assert rec.subject_id == row["PatientID"]
        assert rec.identifiers.study_uid == row["StudyInstanceUID"]
        assert rec.instances == row["ImageCount"] and rec.size_bytes == row["FileSize"]
        assert rec.modality == row["Modality"].strip().upper()
        assert rec.identifiers.doi == "10.7937/s17z-r072"
        assert rec.access.license == "Creative Commons Attribution 4.0 International License"
        assert rec.access.commercial_use is True and rec.access.tier == "open"
        month, day, year = (int(x) for x in row["StudyDate"].split("-"))  # MM-DD-YYYY
        assert rec.study_date == date(year, month, day) and rec.study_year == year
    first = by_uid[rows[0]["SeriesInstanceUID"]]
    assert first.age == 40.0 and first.age_raw == "040Y" and first.sex == "F"
    assert first.study_description == "PET-CT STUDY" and first.manufacturer == "GE MEDICAL SYSTEMS"


def test_malformed_rows_are_rejected_with_reasons_and_the_rest_kept() -> None:
    rows = load(f"getSeries_{COLL}.json")
    bad = copy.deepcopy(rows[:5])
    bad[0]["ImageCount"] = "174"  # v4 counts are numbers: a string is not a count
    del bad[1]["StudyInstanceUID"]
    del bad[2]["SeriesInstanceUID"]
    bad[3]["ImageCount"] = 2.5
    bad[4].pop("Collection")
    records, tally = normalise([*bad, "not an object", *rows[5:]])
    assert len(records) == 3
    assert tally.rejected == {"bad_instance_count": 2, "missing_study_uid": 1,
                              "missing_series_uid": 1, "missing_collection": 1,
                              "not_an_object": 1}
    assert {s.reason for s in tally.samples} == set(tally.rejected)


def test_odd_values_are_nulled_and_counted_and_study_values_fill_gaps() -> None:
    rows = copy.deepcopy(load(f"getSeries_{COLL}.json")[:4])
    rows[0]["StudyDate"] = "2023-01-05"  # not MM-DD-YYYY
    rows[1]["PatientAge"], rows[1]["PatientSex"] = "47", "6657"
    rows[2]["FileSize"] = "big"
    del rows[3]["StudyDesc"], rows[3]["StudyDate"], rows[3]["PatientAge"]
    records, tally = normalise(rows)
    assert len(records) == 4
    assert tally.warnings == {"study_date_unparseable": 1, "age_unparseable": 1,
                              "sex_unrecognised": 1, "size_unparseable": 1}
    assert records[0].study_date is None and records[2].size_bytes is None
    assert records[1].age is None and records[1].age_raw == "47" and records[1].sex is None
    filled = records[3]  # from getPatientStudy
    study = tn.studies_by_uid(load(f"getPatientStudy_{COLL}.json"))[
        filled.identifiers.study_uid]
    assert filled.study_description == study["StudyDescription"]
    assert filled.age_raw == study["PatientAge"] and filled.study_date is not None


def test_placeholder_and_implausible_ages_are_kept_raw_and_warned() -> None:
    rows = copy.deepcopy(load(f"getSeries_{COLL}.json")[:3])
    rows[0]["PatientAge"], rows[1]["PatientAge"], rows[2]["PatientAge"] = "000Y", "155Y", "000D"
    records, tally = normalise(rows)
    assert [(r.age, r.age_raw) for r in records] == [(None, "000Y"), (None, "155Y"),
                                                     (0.0, "000D")]
    assert tally.warnings == {"age_placeholder": 1, "age_implausible": 1}


def test_empty_patient_id_follows_the_shared_subject_rule() -> None:
    rows = copy.deepcopy(load(f"getSeries_{COLL}.json")[:2])
    rows[0].pop("PatientID")
    rows[1]["PatientID"] = " "
    tally = Tally.new()
    records = [tn.series_record(r, ctx(), {}, tally) for r in rows]
    assert [r.subject_id for r in records if r] == [
        f"(no PatientID) {row['StudyInstanceUID']}" for row in rows]
    assert tally.warnings == {"patient_id_empty": 2}


def test_collection_record_carries_doi_licence_citation_species_and_counts() -> None:
    records, _ = normalise(load(f"getSeries_{COLL}.json"), tier="registration")
    desc = next(d for d in load("getCollectionDescriptions.json")
                if d["collectionName"] == COLL)
    counts = tn.patient_counts(load("getCollectionValuesAndCounts.json"))
    citation = tn.plain((PAYLOADS / "citation_10.7937_s17z-r072.txt").read_text())
    facts = tn.CollectionFacts(
        name=COLL, description=desc, patients=counts[COLL],
        species=tn.species_of(load(f"getPatient_{COLL}.json")), series=tuple(records),
        citation=citation)
    rec = tn.collection_record(facts, ctx("registration"))
    assert rec.id == f"tcia:collection:{COLL}" and rec.subjects == 42
    assert rec.doi == ["10.7937/s17z-r072"] and rec.species == ["Homo sapiens"]
    assert rec.access.tier == "registration"
    assert rec.access.license == "Creative Commons Attribution 4.0 International License"
    assert rec.description and rec.description.startswith("The process of image de-id")
    assert "<" not in rec.description
    assert rec.citation and rec.citation.startswith("Rutherford, M., Mun, S. K.")
    assert "&amp;" not in rec.citation and "<i>" not in rec.citation
    assert rec.citation.endswith("https://doi.org/10.7937/S17Z-R072")


def test_without_a_formatted_citation_the_record_still_attributes() -> None:
    facts = tn.CollectionFacts(name=COLL, description=None, patients=None, species=(),
                               series=(), citation=None)
    rec = tn.collection_record(facts, ctx())
    assert rec.citation == f"{COLL} [Data set]. The Cancer Imaging Archive."


def test_doi_and_dates_in_the_forms_v4_uses() -> None:
    assert tn.doi_of("https://doi.org/10.7937/K9/TCIA.2015.AQIIDCNM") == \
        "10.7937/K9/TCIA.2015.AQIIDCNM"
    assert tn.doi_of("http://dx.doi.org/10.7937/s17z-r072") == "10.7937/s17z-r072"
    assert tn.doi_of("https://wiki.cancerimagingarchive.net/x/abc") is None
    tally = Tally.new()
    assert tn.nbia_date("01-31-2024", tally) == date(2024, 1, 31)
    assert tn.nbia_date("31-01-2024", tally) is None and tally.warnings == {
        "study_date_unparseable": 1}
    assert tn.patient_counts([{"Collection": "A", "Count": 3}, {"Collection": "B",
                              "Count": "3"}]) == {"A": 3}
