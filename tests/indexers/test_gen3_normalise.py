"""Gen3 normalisers on saved payloads (tests/indexers/payloads/gen3), shaped like Guppy's,
the metadata service's and indexd's answers (see tests/gen3_server.py for the sources)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from imaging_hub.errors import ConfigError
from imaging_hub.indexers.base import Tally
from imaging_hub.indexers.gen3_mapping import load_mapping
from imaging_hub.indexers.gen3_normalise import (
    Gen3Context,
    bare_doi,
    collection_record,
    drs_uri,
    project_of,
    series_record,
)

PAYLOADS = Path(__file__).parent / "payloads" / "gen3"
CTX = Gen3Context(source="midrc", host="data.midrc.org", source_version="test",
                  harvested_at=datetime(2026, 12, 1, tzinfo=UTC), run_id="r", tier="registration")


def payload(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())


def midrc_records() -> tuple[list[Any], Tally]:
    mapping, tally = load_mapping("midrc"), Tally.new()
    rows = payload("midrc_data_file_page.json")["data"]["data_file"]
    return [series_record(r, mapping, CTX, tally) for r in rows], tally


def test_midrc_series_file_row_becomes_a_series_record() -> None:
    records, _ = midrc_records()
    ct = records[0]
    assert ct is not None
    assert ct.id == "midrc:1.2.826.0.1.3680043.10.474.100.1.1"
    assert ct.collection == "Open-A1" and ct.subject_id == "419639-000001"
    assert ct.identifiers.study_uid == "1.2.826.0.1.3680043.10.474.100.1"
    assert ct.identifiers.doi == "10.60701/H6K0-A61V"  # resolver prefix dropped
    assert ct.identifiers.drs_uri == "drs://dg.MD1R:0a1b2c3d-0000-4000-8000-000000000001"
    assert ct.identifiers.source_native == {
        "object_id": "dg.MD1R/0a1b2c3d-0000-4000-8000-000000000001",
        "authz": "/programs/Open/projects/A1"}
    assert (ct.modality, ct.body_part, ct.sex, ct.sex_raw) == ("CT", "CHEST", "F", "Female")
    assert (ct.age, ct.age_raw, ct.study_year) == (63.0, "63.0", 2020)
    assert (ct.instances, ct.size_bytes) == (312, 164102344)
    assert ct.access.tier == "registration" and ct.access.license == "CC BY-NC 4.0"
    assert ct.access.commercial_use is False
    assert (ct.race_raw, ct.ethnicity_raw) == ("White", "Not Hispanic or Latino")
    assert ct.race is None  # harmonised later, by the harvest runner (indexers/vocab)
    assert ct.extra["loinc_code"] == "24627-2"


def test_missing_markers_and_bad_counts_are_nulled_and_counted() -> None:
    records, tally = midrc_records()
    cr = records[1]
    assert cr is not None
    assert cr.sex is None and cr.sex_raw == "Not Reported"  # a missing marker, no warning
    assert (cr.race_raw, cr.ethnicity_raw) == (None, "Not Reported")  # raw as the source has it
    assert cr.instances == 0  # "n/a"
    assert tally.warnings["instances_unparseable"] == 1
    assert "sex_unrecognised" not in tally.warnings


@pytest.mark.parametrize(("raw", "age", "warning"), [
    ([63.0], 63.0, None), ([155.0], None, "age_implausible"), (["000Y"], None, "age_placeholder"),
    (["111Y"], None, "age_implausible"), (["047Y"], 47.0, None), (["63.5"], 63.5, None),
    ([-2], None, "age_unparseable")])
def test_ages_follow_the_shared_rule(raw: list[Any], age: float | None,
                                     warning: str | None) -> None:
    mapping, tally = load_mapping("midrc"), Tally.new()
    row = {**payload("midrc_data_file_page.json")["data"]["data_file"][0],
           "age_at_imaging": raw}
    record = series_record(row, mapping, CTX, tally)
    assert record is not None and record.age == age and record.age_raw == str(raw[0])
    assert tally.warnings.get(warning or "", 0) == (1 if warning else 0)


def test_several_values_keep_the_first_and_warn() -> None:
    records, tally = midrc_records()
    dx = records[2]
    assert dx is not None and dx.subject_id == "419639-000003" and dx.body_part == "CHEST"
    assert tally.warnings["multiple_case_ids"] == 1
    assert tally.warnings["multiple_body_part_examined"] == 1


def test_rows_without_study_or_with_an_object_value_are_rejected_with_reasons() -> None:
    records, tally = midrc_records()
    assert records[3] is None and records[4] is None
    assert tally.rejected == {"missing_study_uid": 1, "malformed_record": 1}
    malformed = next(s for s in tally.samples if s.reason == "malformed_record")
    assert "series_uid" in (malformed.detail or "")


def test_discovery_records_become_collections_keyed_by_their_project() -> None:
    mapping, tally = load_mapping("midrc"), Tally.new()
    assert mapping.discovery is not None
    out = {guid: collection_record(meta["gen3_discovery"], mapping.discovery.fields, CTX,
                                   tally, key=guid)
           for guid, meta in payload("midrc_discovery.json").items()}
    a1, r1 = out["H6K0-A61V"], out["R1XX-0001"]
    assert a1 is not None and r1 is not None
    assert (a1.id, a1.collection, a1.program) == ("midrc:collection:Open-A1", "Open-A1", "Open")
    assert a1.name == "Open-A1" and a1.subjects == 2 and a1.doi == ["10.60701/H6K0-A61V"]
    assert a1.disease_type == ["COVID-19"] and a1.primary_site == ["Chest"]
    assert r1.collection == "Open-R1" and r1.subjects == 1  # authz as a list, count as text
    assert r1.primary_site == ["Chest", "Lung"]
    assert out["BROKEN-1"] is None and tally.rejected == {"malformed_collection": 1}


def test_bih_rows_keep_their_platform() -> None:
    mapping, tally = load_mapping("bih"), Tally.new()
    ctx = Gen3Context(source="bih", host="imaging-hub.data-commons.org", source_version="t",
                      harvested_at=CTX.harvested_at, run_id="r", tier="open")
    idc, midrc, aimi = (series_record(r, mapping, ctx, tally)
                        for r in payload("bih_imaging_series_download.json"))
    assert idc is not None and midrc is not None and aimi is not None
    assert idc.identifiers.source_native["platform"] == "IDC"
    assert idc.extra["platform"] == "IDC" and idc.collection == "nsclc_radiogenomics"
    assert idc.identifiers.doi == "10.7937/K9/TCIA.2017.7hs46erv"
    assert idc.access.license_url == "https://creativecommons.org/licenses/by/3.0/"
    assert idc.identifiers.source_native["viewer_url"].startswith(
        "https://viewer.imaging.datacommons.cancer.gov/")
    assert (idc.sex, idc.age) == ("M", 68.0)
    assert midrc.identifiers.drs_uri == "drs://dg.MD1R:0a1b2c3d-0000-4000-8000-000000000001"
    assert aimi.age == 45.0 and aimi.sex is None  # DICOM AS accepted; "Unknown" is missing
    assert aimi.subject_id == "(no PatientID) 1.2.840.99999.3"
    assert tally.warnings == {"patient_id_empty": 1}


def test_bih_dataset_rows_become_collections_of_their_platform() -> None:
    mapping, tally = load_mapping("bih"), Tally.new()
    assert mapping.collections is not None
    rows = payload("bih_dataset_page.json")["data"]["dataset"]
    idc, midrc = (collection_record(r, mapping.collections.fields, CTX, tally) for r in rows)
    assert idc is not None and midrc is not None
    assert (idc.collection, idc.program, idc.name) == (
        "nsclc_radiogenomics", "IDC", "NSCLC Radiogenomics")
    assert idc.doi == ["10.7937/K9/TCIA.2017.7hs46erv"] and idc.updated == "2025-03-10"
    assert midrc.program == "MIDRC" and midrc.access.commercial_use is False


@pytest.mark.parametrize(("guid", "uri"), [
    ("dg.MD1R/abc-1", "drs://dg.MD1R:abc-1"),
    ("dg.4DFC/0b6e", "drs://dg.4DFC:0b6e"),
    ("5d3c1b2a-0000-4000-8000-000000000000",
     "drs://data.midrc.org/5d3c1b2a-0000-4000-8000-000000000000"),
])
def test_guids_become_drs_uris_like_indexd_builds_them(guid: str, uri: str) -> None:
    assert drs_uri(guid, "data.midrc.org") == uri


def test_drs_uri_matches_the_saved_indexd_object() -> None:
    obj = payload("drs_object.json")
    assert drs_uri(obj["id"], "data.midrc.org") == obj["self_uri"]


def test_small_helpers() -> None:
    assert project_of("/programs/Open/projects/A1") == ("Open", "Open-A1")
    assert project_of("/programs/Open") is None and project_of(None) is None
    assert bare_doi("doi:10.1/x") == "10.1/x" and bare_doi("10.1/x") == "10.1/x"


def test_mapping_file_errors_name_the_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "m.toml"
    bad.write_text('name = "x"\n[series]\ntype = "data file"\nsort = "id"\n'
                   '[series.fields]\nseries_uid = "s"\nstudy_uid = "t"\nsubject_id = "c"\n'
                   'collection = "p"\n')
    with pytest.raises(ConfigError, match=r"m\.toml: invalid Gen3 mapping: series\.type: "
                                          r"'data file' is not a Guppy"):
        load_mapping(str(bad))
    with pytest.raises(ConfigError, match="not a built-in model"):
        load_mapping("nonexistent")
