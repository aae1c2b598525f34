"""The vocabulary tables and their rules: shipped data with provenance, operator overrides
taking precedence, errors naming file and line, and the vectorised harmoniser."""

from __future__ import annotations

import os
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from imaging_hub.errors import ConfigError
from imaging_hub.indexers import vocab
from imaging_hub.indexers.vocab.harmonise import report_with
from imaging_hub.indexers.vocab.tables import DATA_DIR, SPECS
from imaging_hub.schemas.columnar import series_table
from imaging_hub.schemas.records import SeriesRecord
from imaging_hub.schemas.report import HarvestReport
from tests.store import synthetic as syn


def test_every_shipped_table_has_provenance_and_a_licence() -> None:
    prov = tomllib.loads((DATA_DIR / "provenance.toml").read_text())["tables"]
    assert set(prov) == set(SPECS)
    for name, entry in prov.items():
        assert entry["source"] and entry["licence"] and entry["retrieved"], name
    notice = (DATA_DIR / "NOTICE.md").read_text()
    assert "This material contains content from LOINC (http://loinc.org)" in notice
    assert "SNOMED" in notice and "MIT" in notice and "Apache" in notice


def test_lung_heart_mediastinum_and_thorax_are_chest() -> None:
    v = vocab.load()
    for raw in ("CHEST", "Lung", "THORAX", "heart", " Mediastinum ", "TH CT CHEST WO C"):
        outcome = v.body_part(raw)
        assert outcome is not None and outcome[2] == "CHEST", raw
    assert v.body_part("THORAX") == v.body_part("CHEST") == ("816094009", "Chest", "CHEST")
    assert v.body_part("HEART") == v.body_part("ENDOCARDIAC") == ("80891009", "Heart", "CHEST")


def test_spellings_aliases_and_values_that_name_no_body_part() -> None:
    v = vocab.load()
    assert v.body_part("head-neck") == v.body_part("HEAD_NECK") == v.body_part("HEADNECK")
    assert v.body_part("Whole Body") == ("38266002", "Entire body", "WHOLE BODY")
    assert v.body_part("Left Breast") == v.body_part("BREAST")
    assert v.body_part("CHEST ABD PELVIS") == ("416775004", "Chest, Abdomen and Pelvis",
                                               "CHEST+ABDOMEN+PELVIS")
    assert v.body_part("OTHER") == (None, None, None)  # known: no body part, not unmapped
    assert v.body_part("PHANTOM") == ("706342009", "Phantom", None)  # a code, no region
    assert v.body_part("RIBCAGE-ish") is None  # unmapped


def test_procedure_rules() -> None:
    v = vocab.load()
    assert v.procedure("CT", "ct chest  w/o contrast") == ("29252-4", "CT Chest WO contrast")
    assert v.procedure("SEG", "XR CHEST PA AND LATERAL") == (
        "42272-5", "XR Chest PA and Lateral")  # the table's any-modality row
    assert v.procedure("DX", "XR CHEST 2 VIEWS") is None  # two codes upstream: left out
    assert v.procedure("CR", "Chest") == ("30745-4", "XR Chest Views")
    assert v.procedure("SEG", "CHEST") is None  # a description alone says too little
    assert v.procedure("CT", None) == v.procedure("CT", "  ") == (None, None)
    assert v.procedure("CT", "NLST-LSS") is None


def test_people_categories() -> None:
    v = vocab.load()
    assert v.sex(None, "female") == ("F",) and v.sex("M", "Man") == ("M",)
    assert v.sex(None, "Not Reported") == (None,) and v.sex(None, "x") is None
    assert v.race("Black") == ("Black or African American",)
    assert v.race("Asian; White") == ("More than one race",)
    assert v.race("White, Caucasian") == ("White",)
    assert v.race("Not Reported, Unknown") == (None,)
    assert v.race("Asian, Martian") is None
    assert v.ethnicity("Non-Hispanic") == ("Not Hispanic or Latino",)
    assert v.modality("ann") == ("Annotation",) and v.modality("FUSION") is None


def _write(home: Path, name: str, text: str) -> Path:
    path = home / "vocab" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_an_override_file_takes_precedence_over_the_shipped_table(tmp_path: Path) -> None:
    shipped = vocab.load()
    _write(tmp_path, "body_part_alias.csv", "raw,term,source\n"
           "RIBCAGE-ish,RIB,curator\nLEFT BREAST,THORAX,curator\n")
    _write(tmp_path, "body_part.csv", "term,code,meaning,region,paired\n"
           "LUNG,39607008,Lung,TRUNK,true\n")
    v = vocab.load(tmp_path)
    assert v.body_part("RIBCAGE-ish") == ("113197003", "Rib", "CHEST")  # added
    assert v.body_part("Left Breast") == v.body_part("CHEST")  # replaced
    assert v.body_part("LUNG") == ("39607008", "Lung", "TRUNK")  # a term's row replaced
    assert shipped.body_part("LUNG") == ("39607008", "Lung", "CHEST")  # shipped untouched
    assert v.body_part("BRAIN") == shipped.body_part("BRAIN")  # other rows kept
    assert "overrides: body_part.csv, body_part_alias.csv" in v.digest
    alias = v.table("body_part_alias")
    assert alias.override is not None and alias.override_rows == 2
    assert len(alias.rows) == alias.shipped_rows + 1


def test_an_edited_override_is_read_again(tmp_path: Path) -> None:
    path = _write(tmp_path, "race.csv", "raw,race\nMartian,Other\n")
    assert vocab.load(tmp_path).race("Martian") == ("Other",)
    path.write_text("raw,race\nMartian,\n")
    stamp = path.stat().st_mtime + 5
    os.utime(path, (stamp, stamp))
    assert vocab.load(tmp_path).race("Martian") == (None,)


@pytest.mark.parametrize(("name", "text", "problem"), [
    ("body_part_alias.csv", "raw,term\nX,CHEST\n", "missing source"),
    ("body_part_alias.csv", "raw,term,source\nX,NOSUCHTERM,me\n", ":2: term 'NOSUCHTERM'"),
    ("body_part.csv", "term,code,meaning,region,paired\nLUNG,1,Lung,THORAX,true\n",
     ":2: region 'THORAX' is not in body_region.csv"),
    ("sex.csv", "raw,sex\nWOMAN,W\n", ":2: sex must be M, F, O or empty"),
    ("race.csv", "raw,race\nA,Asian\na,Asian\n", ":3: A is already listed at"),
    ("procedure.csv", "modality,study_description,loinc\nCT,X,0000-0\n",
     ":2: LOINC '0000-0' is not in loinc.csv"),
    ("body_parts.csv", "raw,term,source\n", "not a vocabulary table"),
    ("race.csv", "raw,race\nA,Asian, or White\n", ":2: more values than columns"),
])
def test_a_bad_override_is_an_error_naming_file_and_line(
    tmp_path: Path, name: str, text: str, problem: str,
) -> None:
    path = _write(tmp_path, name, text)
    with pytest.raises(ConfigError, match="vocab") as caught:
        vocab.load(tmp_path)
    assert str(path) in str(caught.value) and problem in str(caught.value)


def _records() -> list[SeriesRecord]:
    raw = ["CHEST", "Lung", "THORAX", "OTHER", "RIBCAGE-ish", "RIBCAGE-ish", None]
    out = []
    for i, part in enumerate(raw):
        r = syn.series("alpha", "lungs", f"P{i}", f"1.{i}", f"1.{i}.1", body_part=part,
                       race=["White", "Martian", "Martian", None, "Asian, White", None,
                             "Not Reported"][i], sex=None,
                       description=["CT CHEST WO CONTRAST", "NLST-LSS", None, None, None,
                                    None, None][i])
        out.append(r.model_copy(update={
            "sex_raw": ["female", "M", None, "U", "Weiblich", None, None][i],
            "study_description": r.series_description}))
    return out


def test_harmonise_fills_columns_beside_the_raw_ones_and_counts_unmapped() -> None:
    done = vocab.harmonise(series_table(_records()), vocab.load())
    rows = done.table.to_pylist()
    assert [r["body_region"] for r in rows] == ["CHEST"] * 3 + [None] * 4
    assert [r["body_part"] for r in rows][:3] == ["CHEST", "LUNG", "THORAX"]  # raw kept
    assert [r["sex"] for r in rows] == ["F", "M", None, None, None, None, None]
    assert [r["race"] for r in rows] == ["White", None, None, None, "More than one race",
                                         None, None]
    assert rows[0]["procedure"] == "29252-4" and rows[0]["modality_meaning"] == \
        "Computed Tomography"
    assert done.unmapped == {
        "body_part": [("RIBCAGE-ISH", 2)], "race": [("Martian", 2)],
        "sex": [("Weiblich", 1)], "procedure": [("CT | NLST-LSS", 1)]}


def test_unmapped_values_become_warnings_with_samples() -> None:
    v = vocab.load()
    done = vocab.harmonise(series_table(_records()), v)
    report = report_with(HarvestReport(source="alpha", run_id="r", source_version="1",
                                       started_at=datetime.now(UTC)), done.unmapped, v)
    assert report.warnings["unmapped_body_part"] == 2
    assert report.unmapped["race"].top[0].value == "Martian"
    assert report.unmapped["race"].records == 2 and report.unmapped["race"].distinct == 1
    assert {(s.reason, s.key) for s in report.warning_samples} >= {
        ("unmapped_body_part", "RIBCAGE-ISH"), ("unmapped_sex", "Weiblich")}
    assert report.vocabularies == v.digest


def test_harmonise_by_batches_gives_the_whole_tables_answer() -> None:
    """Rows spread over many batches (each value met again in later batches, ties of
    counts): the same table and the same unmapped counts, in the same order, as one batch."""
    one = series_table(_records())
    table = pa.concat_tables([one] * 5)
    table = table.take(pa.array(np.random.default_rng(7).permutation(table.num_rows)))
    v = vocab.load()
    whole = vocab.harmonise(table.combine_chunks(), v, batch_rows=table.num_rows)
    batched = vocab.harmonise(table, v, batch_rows=3)
    assert batched.table.to_batches()[0].num_rows == 3  # several batches indeed
    assert batched.table.equals(whole.table)
    assert batched.table.schema == whole.table.schema
    assert batched.unmapped == whole.unmapped == {
        "body_part": [("RIBCAGE-ISH", 10)], "race": [("Martian", 10)],
        "sex": [("Weiblich", 5)], "procedure": [("CT | NLST-LSS", 5)]}
    assert whole.table.column("body_region").to_pylist() == [
        {"CHEST": "CHEST", "LUNG": "CHEST", "THORAX": "CHEST"}.get(p or "")
        for p in table.column("body_part").to_pylist()]


def test_each_distinct_value_is_looked_up_once_across_batches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    v = vocab.load()
    asked: list[str] = []
    real = type(v).body_part

    def counting(self: vocab.Vocabularies, value: str) -> tuple[str | None, ...] | None:
        asked.append(value)
        return real(self, value)

    monkeypatch.setattr(type(v), "body_part", counting)
    table = pa.concat_tables([series_table(_records())] * 4)
    vocab.harmonise(table, v, batch_rows=2)
    assert sorted(asked) == ["CHEST", "LUNG", "OTHER", "RIBCAGE-ISH", "THORAX"]
