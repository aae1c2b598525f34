"""Metadata exports (type = "tabular"): the shipped example, every format, bad values and
bad mappings reported with file, line and column."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from imaging_hub.errors import ConfigError
from imaging_hub.indexers import base
from imaging_hub.indexers.base import HarvestResult
from imaging_hub.indexers.tabular import TabularIndexer, TabularSource, series_links
from imaging_hub.schemas.columnar import series_fields
from imaging_hub.schemas.records import SeriesRecord
from imaging_hub.sources import load_sources

EXAMPLE = Path(__file__).parents[2] / "examples" / "decedent_ct"
CSV, MAPPING = EXAMPLE / "decedent_ct_synthetic.csv", EXAMPLE / "mapping.toml"


def harvest(path: Path, mapping: Path = MAPPING, **kw: Any) -> HarvestResult:
    return TabularIndexer("decedent_ct", path, mapping, **kw).harvest("run-1")


def example_rows() -> list[dict[str, str]]:
    with CSV.open(newline="") as f:
        return list(csv.DictReader(f))


def write_csv(path: Path, rows: list[dict[str, str]], delimiter: str = ",") -> Path:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return path


def records(result: HarvestResult) -> list[SeriesRecord]:
    return [SeriesRecord(**series_fields(row, None)) for row in result.series.to_pylist()]


def test_the_shipped_example_harvests_every_row() -> None:
    result = harvest(CSV)
    assert result.report.read == 42 and result.report.rejected == {}
    recs = records(result)
    assert len(recs) == 42 and len({r.subject_id for r in recs}) == 14
    first = recs[0]
    assert first.id == "decedent_ct:SYN-00001-001" and first.collection == "decedent_ct_synthetic"
    assert first.identifiers.study_uid is None and first.identifiers.series_uid is None
    assert (first.modality, first.body_part, first.body_part_raw) == ("CT", "NECK", "Neck")
    assert (first.sex, first.age, first.study_year, first.instances) == ("M", 49.0, 2011, 803)
    assert first.extra["manner_of_death"] == "Undetermined" and first.extra["bmi"] == "28.9"
    assert "synthetic" not in first.extra and "year_of_death" not in first.extra
    assert first.access.tier == "registration"
    (coll,) = result.collections.to_pylist()
    assert coll["subjects"] == 14 and coll["name"] == "Decedent CT export (SYNTHETIC sample)"
    assert result.report.source_version.startswith("decedent_ct_synthetic.csv sha256:")


def test_repeated_rows_are_rejected_naming_both_rows_in_any_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Records are staged a few at a time (here 5), so a repeat may sit batches away from
    the row it repeats; the first stays, each repeat is rejected naming both lines."""
    monkeypatch.setattr(base, "RECORD_BATCH", 5)
    rows = example_rows()
    again = [rows[0], rows[7], rows[0], rows[41]]  # lines 44..47 of the file
    result = harvest(write_csv(tmp_path / "twice.csv", rows + again))
    assert result.report.read == 46 and result.report.series == 42
    assert result.report.rejected == {"duplicate_row": 4}
    assert [(s.key, s.detail) for s in result.report.reject_samples] == [
        ("line 44", "twice.csv line 44: the same record as line 2 (decedent_ct:SYN-00001-001)"),
        ("line 45", f"twice.csv line 45: the same record as line 9 (decedent_ct:"
                    f"{rows[7]['scan_id']})"),
        ("line 46", "twice.csv line 46: the same record as line 2 (decedent_ct:SYN-00001-001)"),
        ("line 47", f"twice.csv line 47: the same record as line 43 (decedent_ct:"
                    f"{rows[41]['scan_id']})")]
    # the records in file order, as without the repeats, and the subjects counted once
    alone = harvest(CSV)
    assert [r.id for r in records(result)] == [r.id for r in records(alone)]
    assert result.series.column("id").to_pylist() == alone.series.column("id").to_pylist()
    (coll,) = result.collections.to_pylist()
    assert coll["subjects"] == 14


def test_the_request_access_link_points_at_the_landing_page() -> None:
    result = harvest(CSV)
    links = series_links(records(result)[0], result.link_params)
    assert [(lk.rel, lk.href) for lk in links] == [("request-access", "https://nmdid.unm.edu/")]


def _comparable(result: HarvestResult) -> list[dict[str, Any]]:
    out = []
    for r in records(result):
        d = r.model_dump(exclude={"provenance"})
        d["identifiers"].pop("source_native")
        out.append(d)
    return out


def test_tsv_parquet_and_json_lines_give_the_same_records(tmp_path: Path) -> None:
    rows = example_rows()
    want = _comparable(harvest(CSV))
    tsv = write_csv(tmp_path / "export.tsv", rows, "\t")
    jsonl = tmp_path / "export.jsonl"
    typed = [{**r, "age_years": int(r["age_years"]), "bmi": float(r["bmi"]),
              "image_count": int(r["image_count"])} for r in rows]
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in typed))
    parquet = tmp_path / "export.parquet"
    pq.write_table(pa.Table.from_pylist(typed), parquet)
    for path in (tsv, jsonl, parquet):
        got = harvest(path)
        assert got.report.rejected == {}, path
        assert _comparable(got) == want, path
    assert json.loads(harvest(parquet).series.column("source_native")[0].as_py()) == {
        "row": "row 1"}


def test_placeholder_and_implausible_ages_keep_the_row_without_an_age(tmp_path: Path
                                                                      ) -> None:
    rows = example_rows()[:4]
    rows[0]["age_years"], rows[1]["age_years"], rows[2]["age_years"] = "000Y", "131", "000M"
    result = harvest(write_csv(tmp_path / "export.csv", rows))
    assert result.report.rejected == {} and result.series.num_rows == 4
    assert result.report.warnings == {"age_placeholder": 1, "age_implausible": 1}
    got = {r["age_raw"]: r["age"] for r in result.series.to_pylist()}
    assert got["000Y"] is None and got["131"] is None and got["000M"] == 0.0
    assert got[rows[3]["age_years"]] == float(rows[3]["age_years"])
    samples = {s.reason: s.detail for s in result.report.warning_samples}
    assert samples["age_placeholder"] == "export.csv line 2: age '000Y'"


def test_bad_values_reject_their_row_naming_file_line_and_column(tmp_path: Path) -> None:
    rows = example_rows()[:10]
    rows[1]["age_years"] = "forty"
    rows[2]["sex"] = "X"
    rows[3]["bmi"] = "190"
    rows[4]["manner_of_death"] = "Misadventure"
    rows[5]["image_count"] = "-3"
    rows[6]["decedent_id"] = ""
    rows[7]["scan_id"] = rows[0]["scan_id"]
    path = write_csv(tmp_path / "export.csv", rows)
    with path.open("a") as f:
        f.write("SYN-09999,SYN-09999-999,Head,50\n")  # too few cells
    result = harvest(path)
    report = result.report
    assert result.series.num_rows == 3 and report.read == 11  # rows 0, 8 and 9 are good
    assert report.rejected == {
        "bad_value:age_years": 1, "bad_value:sex": 1, "bad_value:bmi": 1,
        "bad_value:manner_of_death": 1, "bad_value:image_count": 1,
        "missing_subject_id": 1, "duplicate_row": 1, "malformed_row": 1}
    details = {s.reason: s.detail for s in report.reject_samples}
    assert details["bad_value:age_years"] == "export.csv line 3, column age_years: 'forty' " \
                                            "is not an age in years (or DICOM AS)"
    assert "line 5, column bmi: '190' is outside 10.0..90.0" in details["bad_value:bmi"]
    assert "is not one of Natural" in details["bad_value:manner_of_death"]
    assert "line 9: the same record as line 2" in details["duplicate_row"]
    assert details["malformed_row"] == "export.csv line 12: 4 cells where the header has " \
                                       "16 columns"


def test_a_mapped_column_the_file_lacks_is_a_configuration_error(tmp_path: Path) -> None:
    rows = [{k: v for k, v in r.items() if k != "image_count"} for r in example_rows()]
    path = write_csv(tmp_path / "export.csv", rows)
    with pytest.raises(ConfigError, match=r"mapping\.toml: fields\.instances names column "
                                          r"'image_count', which .*export\.csv does not have"):
        harvest(path)


def test_unmapped_columns_can_be_refused(tmp_path: Path) -> None:
    mapping = tmp_path / "m.toml"
    mapping.write_text(MAPPING.read_text().replace("keep = true", "keep = true\nerror = true"))
    with pytest.raises(ConfigError, match="column 'cause_of_death' is not in the mapping"):
        harvest(CSV, mapping)


def test_rows_with_dicom_uids_are_series_and_bad_uids_are_rejected(tmp_path: Path) -> None:
    rows = [{"patient": "P1", "study": "1.2.3", "series": "1.2.3.1", "modality": "mr"},
            {"patient": "P1", "study": "1.2.3", "series": "1.2.3.2", "modality": "MR"},
            {"patient": "P2", "study": "1.2.x", "series": "1.2.4.1", "modality": "CT"},
            {"patient": "P3", "study": "", "series": "1.2.5.1", "modality": "CT"},
            {"patient": "P4", "study": "1.2.6", "series": "", "modality": "CT"}]
    path = write_csv(tmp_path / "series.csv", rows)
    mapping = tmp_path / "m.toml"
    mapping.write_text('[dataset]\ncollection = "trial"\naccess = "controlled"\n[fields]\n'
                       'subject_id = "patient"\nstudy_uid = "study"\nseries_uid = "series"\n'
                       'modality = "modality"\n')
    result = harvest(path, mapping)
    recs = {r.id: r for r in records(result)}
    assert set(recs) == {"decedent_ct:1.2.3.1", "decedent_ct:1.2.3.2", "decedent_ct:study:1.2.6"}
    assert recs["decedent_ct:1.2.3.1"].modality == "MR"
    assert recs["decedent_ct:study:1.2.6"].identifiers.series_uid is None
    assert result.report.rejected == {"bad_value:study": 1, "missing_study_uid": 1}


def test_json_lines_with_a_broken_line_and_nested_values(tmp_path: Path) -> None:
    path = tmp_path / "export.jsonl"
    path.write_text('{"decedent_id": "A", "scan_id": "1", "notes": {"k": 1}}\n'
                    '{"decedent_id": "B", "scan_id": "2"\n'
                    '["not", "an", "object"]\n'
                    '{"decedent_id": {"x": 1}, "scan_id": "3"}\n')
    mapping = tmp_path / "m.toml"
    mapping.write_text('[dataset]\ncollection = "c"\n[fields]\nid = "scan_id"\n'
                       'subject_id = "decedent_id"\n')
    result = harvest(path, mapping)
    (rec,) = records(result)
    assert rec.extra == {"notes": '{"k": 1}'}
    assert result.report.rejected == {"malformed_row": 2, "bad_value:decedent_id": 1}
    details = [s.detail for s in result.report.reject_samples]
    assert any(d and d.startswith("export.jsonl line 2: not JSON") for d in details)
    assert "export.jsonl line 3: a JSON list, not an object" in details


def test_mapping_errors_name_the_file_and_key(tmp_path: Path) -> None:
    mapping = tmp_path / "m.toml"
    mapping.write_text('[fields]\nsubject = "x"\n')
    with pytest.raises(ConfigError, match=r"m\.toml: invalid column mapping: fields\.subject"):
        harvest(CSV, mapping)
    mapping.write_text('[dataset]\ncollection = "c"\n[fields]\nsubject_id = "decedent_id"\n'
                       'sex = "sex"\n[constants]\nsex = "F"\n')
    with pytest.raises(ConfigError, match="sex: both a column and a constant"):
        harvest(CSV, mapping)
    with pytest.raises(ConfigError, match="cannot tell the format"):
        harvest(shutil.copy(CSV, tmp_path / "export.txt"))


def test_tabular_entries_in_sources_toml(tmp_path: Path) -> None:
    toml = tmp_path / "sources.toml"
    toml.write_text(f'[sources.d]\ntype = "tabular"\npath = "{CSV}"\nmapping = "{MAPPING}"\n'
                    'access = "controlled"\n')
    config = load_sources(toml)["d"]
    assert isinstance(config, TabularSource) and config.access == "controlled"
    toml.write_text('[sources.d]\ntype = "tabular"\npath = "x.csv"\nformat = "xlsx"\n')
    with pytest.raises(ConfigError, match=r"\[sources\.d\].*(mapping|format)"):
        load_sources(toml)
