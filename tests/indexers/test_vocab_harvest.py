"""Harmonisation in the harvest runner, for every source type alike: harmonised fields
searchable after ``ihub harvest``, unmapped values in the run report and listed by
``ihub vocab unmapped``, an operator's override applied on the next harvest."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from imaging_hub.config import Settings
from imaging_hub.harvest import run_harvest
from imaging_hub.schemas.query import CohortQuery, SearchRequest
from imaging_hub.sources import load_sources
from imaging_hub.store.embedded import EmbeddedStore
from tests.conftest import VENV_BIN

ROWS = [  # subject, body part, race, ethnicity
    ("S1", "Thorax", "Black", "Not Hispanic or Latino"),
    ("S2", "Lung", "Asian, White", "Hispanic"),
    ("S3", "CHEST", "Martian", "Not Reported"),
    ("S4", "Ribcage", "Martian", "Klingon"),
    ("S5", "Ribcage", "white", ""),
]
MAPPING = """
[dataset]
collection = "export1"
[fields]
id = "row"
subject_id = "subject"
study_uid = "study"
series_uid = "series"
body_part = "body"
race = "race"
ethnicity = "ethnicity"
[constants]
modality = "CT"
"""


def _home(tmp_path: Path) -> Settings:
    export = tmp_path / "export.csv"
    export.write_text("row,subject,study,series,body,race,ethnicity\n" + "".join(
        f"{i},{s},1.2.{i},1.2.{i}.1,{b},\"{r}\",{e}\n" for i, (s, b, r, e) in enumerate(ROWS)))
    (tmp_path / "mapping.toml").write_text(MAPPING)
    home = tmp_path / "home"
    home.mkdir()
    (home / "sources.toml").write_text(
        f'[sources.export]\ntype = "tabular"\npath = "{export}"\n'
        f'mapping = "{tmp_path / "mapping.toml"}"\n')
    return Settings(home=home)


def _ihub(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(VENV_BIN / "ihub"), *args], capture_output=True, text=True,
                          env={**os.environ, "IHUB_HOME": str(home)}, check=False, timeout=120)


def test_harvest_harmonises_reports_and_lists_unmapped_values(tmp_path: Path) -> None:
    settings = _home(tmp_path)
    config = load_sources(settings.sources_file)["export"]
    report = run_harvest(settings, "export", config)
    assert report.warnings["unmapped_body_part"] == 2
    assert report.warnings["unmapped_race"] == 2
    assert report.warnings["unmapped_ethnicity"] == 1
    assert report.unmapped["race"].top[0].value == "Martian"
    store = EmbeddedStore(settings.index_dir)
    chest = store.search(SearchRequest.model_validate(
        {"filters": {"body_region": ["chest"]}, "facets": ["body_part"], "page": {"size": 10}}))
    # one region, three raw spellings (stored upper-cased, the export's own text kept raw)
    assert {b.value for b in chest.facets["body_part"] if b.count} == {"THORAX", "LUNG",
                                                                        "CHEST"}
    assert chest.total.count == 3
    races = store.search(SearchRequest.model_validate({"facets": ["race", "ethnicity"]}))
    assert {b.value: b.count for b in races.facets["race"]} == {  # None: not recorded
        "Black or African American": 1, "More than one race": 1, "White": 1, None: 2}
    assert {b.value: b.count for b in races.facets["ethnicity"]} == {
        "Not Hispanic or Latino": 1, "Hispanic or Latino": 1, None: 3}
    hit = store.record("export:0")
    assert hit is not None and (hit.body_part_raw, hit.body_region) == ("Thorax", "CHEST")
    assert (hit.race_raw, hit.race) == ("Black", "Black or African American")

    done = _ihub(settings.home, "vocab", "unmapped", "--json")
    assert done.returncode == 0, done.stderr
    listed = {(u["field"], u["value"], u["records"]) for u in json.loads(done.stdout)}
    assert listed == {("body_part", "RIBCAGE", 2), ("race", "Martian", 2),
                      ("ethnicity", "Klingon", 1)}
    table = _ihub(settings.home, "vocab", "unmapped", "export", "--field", "race")
    assert "Martian" in table.stdout and "RIBCAGE" not in table.stdout


def test_an_override_maps_what_was_unmapped_on_the_next_harvest(tmp_path: Path) -> None:
    settings = _home(tmp_path)
    config = load_sources(settings.sources_file)["export"]
    run_harvest(settings, "export", config)
    store = EmbeddedStore(settings.index_dir)
    query = CohortQuery.model_validate({"filters": {"body_region": ["CHEST"]}})
    assert store.count(query).series.count == 3
    vocab_dir = settings.home / "vocab"
    vocab_dir.mkdir()
    (vocab_dir / "body_part_alias.csv").write_text("raw,term,source\nRIBCAGE,RIB,curator\n")
    (vocab_dir / "race.csv").write_text("raw,race\nMartian,Other\n")
    report = run_harvest(settings, "export", config)
    assert "unmapped_body_part" not in report.warnings
    assert "unmapped_race" not in report.warnings
    assert report.vocabularies and "overrides: body_part_alias.csv, race.csv" in \
        report.vocabularies
    assert store.count(query).series.count == 5  # the two RIBCAGE rows are chest now
    done = _ihub(settings.home, "vocab", "unmapped", "--json")
    assert [u["field"] for u in json.loads(done.stdout)] == ["ethnicity"]


def test_a_bad_override_fails_the_harvest_and_keeps_the_index(tmp_path: Path) -> None:
    settings = _home(tmp_path)
    config = load_sources(settings.sources_file)["export"]
    run_harvest(settings, "export", config)
    bad = settings.home / "vocab" / "body_part_alias.csv"
    bad.parent.mkdir()
    bad.write_text("raw,term,source\nRIBCAGE,RIBS,curator\n")
    done = _ihub(settings.home, "harvest", "export")
    assert done.returncode == 1
    assert f"{bad}:2: term 'RIBS'" in done.stderr.replace("\n", "")
    assert EmbeddedStore(settings.index_dir).count(CohortQuery()).series.count == 5
