"""The same series at IDC and TCIA is one series with two hosts: a real IDC slice
(idc-index-data's CT Lymph Nodes) and a local NBIA v4 server serving part of the same
collection under the same UIDs (plus series of its own), harvested into one index with
``ihub harvest``; every count equals the union's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import idc_index_data
import pytest

from tests.tcia_server import Collection, Nbia, nbia_server

PARQUET = str(idc_index_data.IDC_INDEX_PARQUET_FILEPATH)
VENV_BIN = Path(sys.executable).parent
TCIA_NAME = "CT Lymph Nodes"


def ihub(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(VENV_BIN / "ihub"), *args], capture_output=True, text=True,
                          env={**os.environ, "IHUB_HOME": str(home)}, timeout=600, check=False)


def idc_rows() -> list[dict[str, Any]]:
    cur = duckdb.execute(
        "SELECT SeriesInstanceUID, StudyInstanceUID, PatientID, Modality, BodyPartExamined,"
        " PatientSex, PatientAge, StudyDate, StudyDescription, SeriesDescription,"
        " Manufacturer, instanceCount, series_size_MB FROM read_parquet(?)"
        " WHERE collection_id = 'ct_lymph_nodes' ORDER BY SeriesInstanceUID", [PARQUET])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def nbia_row(r: dict[str, Any]) -> dict[str, Any]:
    """An IDC row as NBIA v4's getSeries writes a series (nulls left out)."""
    study_date = r["StudyDate"]
    row = {
        "SeriesInstanceUID": r["SeriesInstanceUID"], "StudyInstanceUID": r["StudyInstanceUID"],
        "Modality": r["Modality"], "SeriesDescription": r["SeriesDescription"],
        "BodyPartExamined": r["BodyPartExamined"], "Collection": TCIA_NAME,
        "PatientID": r["PatientID"], "PatientSex": r["PatientSex"],
        "PatientAge": r["PatientAge"], "Manufacturer": r["Manufacturer"],
        "ImageCount": int(r["instanceCount"]),
        "LicenseName": "Creative Commons Attribution 3.0 Unported License",
        "LicenseURI": "http://creativecommons.org/licenses/by/3.0/",
        "DataDescriptionURI": "https://doi.org/10.7937/K9/TCIA.2015.AQIIDCNM",
        "FileSize": int(round(r["series_size_MB"] * 1_000_000)), "DateReleased": "12-11-2015",
        "StudyDesc": r["StudyDescription"],
        "StudyDate": study_date.strftime("%m-%d-%Y") if isinstance(study_date, date) else None,
        "ThirdPartyAnalysis": "NO", "Authorized": 1}
    return {k: v for k, v in row.items() if v is not None}


@pytest.fixture(scope="module")
def overlap(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    rows = idc_rows()
    shared = rows[::2]  # half of IDC's series, same UIDs, at TCIA too
    tcia = [nbia_row(r) for r in shared]
    known_patient = shared[0]["PatientID"]
    extra = [  # TCIA-only: a new study of a patient IDC has, and a new patient
        {**tcia[0], "SeriesInstanceUID": "2.25.1001.1", "StudyInstanceUID": "2.25.1001",
         "PatientID": known_patient, "ImageCount": 11},
        {**tcia[0], "SeriesInstanceUID": "2.25.1002.1", "StudyInstanceUID": "2.25.1002",
         "PatientID": "ABD_LYMPH_999", "ImageCount": 7},
        {**tcia[0], "SeriesInstanceUID": "2.25.1002.2", "StudyInstanceUID": "2.25.1002",
         "PatientID": "ABD_LYMPH_999", "ImageCount": 5},
    ]
    nbia = Nbia(collections=[Collection(TCIA_NAME, tcia + extra)])
    home = tmp_path_factory.mktemp("overlap-home")
    with nbia_server(nbia) as root:
        (home / "sources.toml").write_text(
            '[sources.idc]\ntype = "idc"\ncollections = ["ct_lymph_nodes"]\n'
            f'[sources.tcia]\ntype = "tcia"\nurl = "{root}/nbia-api/services/v4"\n'
            f'citation_url = "{root}/doi"\n')
        done = ihub(home, "harvest")
    assert done.returncode == 0, done.stderr
    return {"home": home, "idc": rows, "tcia": tcia + extra, "extra": extra,
            "shared": shared}


def test_counts_are_the_union_of_both_hosts(overlap: dict[str, Any]) -> None:
    idc, tcia = overlap["idc"], overlap["tcia"]
    series = {r["SeriesInstanceUID"]: int(r["instanceCount"]) for r in idc}
    series.update({r["SeriesInstanceUID"]: r["ImageCount"] for r in tcia})
    studies = {r["StudyInstanceUID"] for r in idc} | {r["StudyInstanceUID"] for r in tcia}
    # a person is one subject however many hosts hold their studies: IDC's patients plus
    # the one patient only TCIA has
    subjects = {r["PatientID"] for r in idc} | {r["PatientID"] for r in tcia}
    got = json.loads(ihub(overlap["home"], "count", "--json").stdout)
    assert got["series"]["count"] == len(series) == len(idc) + 3
    assert got["studies"]["count"] == len(studies) == len({r["StudyInstanceUID"]
                                                           for r in idc}) + 2
    assert got["subjects"]["count"] == len(subjects) == 177
    assert got["instances"]["count"] == sum(series.values())
    by_source = got["by_source"]
    assert by_source["idc"]["series"]["count"] == len(idc)
    assert by_source["tcia"]["series"]["count"] == len(tcia)
    assert by_source["idc"]["series"]["count"] + by_source["tcia"]["series"]["count"] > \
        got["series"]["count"]  # the shared series are counted once overall


def test_a_shared_series_lists_both_hosts_and_their_links(overlap: dict[str, Any]) -> None:
    shared = overlap["shared"][0]
    uid = shared["SeriesInstanceUID"]
    res = json.loads(ihub(overlap["home"], "search", "--filter", f"series_uid={uid}",
                          "--json").stdout)
    # one series hit (the store's rule since main's store seam), naming both hosts, with
    # a way to each of them
    (series_hit,) = res["hits"]
    assert series_hit["hosts"] == ["idc", "tcia"]
    assert {"idc", "tcia"} <= {link["host"] for link in series_hit["links"]}
    study = json.loads(ihub(overlap["home"], "search", "--filter", f"series_uid={uid}",
                            "--level", "study", "--json").stdout)
    (hit,) = study["hits"]  # one study, its one series counted once, a link per host
    assert hit["series"] == 1 and hit["instances"] == int(shared["instanceCount"])
    assert {(link["rel"], link["host"]) for link in hit["links"]} == {
        ("viewer", "idc"), ("landing", "tcia")}
    sources = json.loads(ihub(overlap["home"], "sources", "--json").stdout)
    tcia = next(s for s in sources if s["source"] == "tcia")
    assert tcia["type"] == "tcia" and tcia["last_run"]["status"] == "published"
