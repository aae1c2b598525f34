"""End to end on real idc-index-data: ``ihub harvest`` (CLI) of a slice, then our counts
against DuckDB run directly on the package's parquet."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import duckdb
import idc_index_data
import pytest

from tests.conftest import IDC_SLICE, VENV_BIN

PARQUET = str(idc_index_data.IDC_INDEX_PARQUET_FILEPATH)
# DICOM AS in years; the placeholder 000Y and ages over 110 years are no age
_YEARS = ("CAST(substr(trim(PatientAge), 1, 3) AS DOUBLE) * CASE upper(substr(trim(PatientAge),"
          " 4)) WHEN 'Y' THEN 1 WHEN 'M' THEN 1/12 WHEN 'W' THEN 7/365.25 ELSE 1/365.25 END")
AGE = ("CASE WHEN regexp_full_match(upper(trim(PatientAge)), '\\d{3}[DWMY]') AND "
       f"upper(trim(PatientAge)) <> '000Y' AND {_YEARS} <= 110 THEN {_YEARS} END")
# (CLI filters, SQL condition with parameters, parameters)
CASES: list[tuple[list[str], str, list[Any]]] = [
    ([], "true", []),
    (["modality=CT"], "upper(trim(Modality)) = ?", ["CT"]),
    (["modality=CT,PT", "sex=F"], "upper(trim(Modality)) IN (?, ?) AND PatientSex = ?",
     ["CT", "PT", "F"]),
    (["age=60..70"], f"({AGE}) BETWEEN ? AND ?", [60, 70]),
    (["collection=tcga_chol,cptac_lscc", "license=CC BY 4.0"],
     "collection_id IN (?, ?) AND license_short_name = ?", ["tcga_chol", "cptac_lscc",
                                                              "CC BY 4.0"]),
    (["study_year=1995..2005"], "year(try_cast(StudyDate AS DATE)) BETWEEN ? AND ?",
     [1995, 2005]),
    (["body_part=CHEST", "age=..50"], f"upper(trim(BodyPartExamined)) = ? AND ({AGE}) <= ?",
     ["CHEST", 50]),
]


def ihub(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(VENV_BIN / "ihub"), *args], capture_output=True, text=True,
                          env={**os.environ, "IHUB_HOME": str(home)}, timeout=600, check=False)


@pytest.fixture(scope="module")
def cli_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("cli-home")
    done = ihub(home, "harvest", "idc", "--collections", ",".join(IDC_SLICE), "--json")
    assert done.returncode == 0, done.stderr
    assert "published" in done.stderr
    (report,) = json.loads(done.stdout)
    assert report["status"] == "published" and report["added"] == report["series"] > 1000
    return home


@pytest.mark.parametrize(("filters", "where", "params"), CASES)
def test_counts_equal_duckdb_on_the_parquet(
    cli_home: Path, filters: list[str], where: str, params: list[Any],
) -> None:
    args = [a for f in filters for a in ("--filter", f)]
    got = json.loads(ihub(cli_home, "count", *args, "--json").stdout)
    slice_ids = ", ".join("?" for _ in IDC_SLICE)
    want = duckdb.execute(
        "SELECT count(DISTINCT PatientID), count(DISTINCT StudyInstanceUID), count(*),"
        " coalesce(sum(instanceCount), 0) FROM read_parquet(?)"
        f" WHERE collection_id IN ({slice_ids}) AND {where}",
        [PARQUET, *IDC_SLICE, *params]).fetchone()
    assert (got["subjects"]["count"], got["studies"]["count"], got["series"]["count"],
            got["instances"]["count"]) == want
    per = duckdb.execute(
        "SELECT collection_id, count(DISTINCT PatientID), count(*) FROM read_parquet(?)"
        f" WHERE collection_id IN ({slice_ids}) AND {where} GROUP BY 1",
        [PARQUET, *IDC_SLICE, *params]).fetchall()
    assert {c: (b["subjects"]["count"], b["series"]["count"])
            for c, b in got["by_collection"].items()} == {c: (s, n) for c, s, n in per}


def test_cli_search_and_sources(cli_home: Path) -> None:
    res = json.loads(ihub(cli_home, "search", "lymph", "--filter", "modality=CT", "--size", "2",
                          "--json").stdout)
    assert res["total"]["count"] > 0 and len(res["hits"]) == 2
    assert all(h["collection"] == "ct_lymph_nodes" or "lymph" in (
        (h["series_description"] or "") + (h["study_description"] or "")).lower()
        for h in res["hits"])
    sources = json.loads(ihub(cli_home, "sources", "--json").stdout)
    assert sources[0]["source"] == "idc"
    assert sources[0]["last_run"]["status"] == "published"
    total = json.loads(ihub(cli_home, "count", "--json").stdout)["series"]["count"]
    assert sources[0]["published"]["series"] == total
    bad = ihub(cli_home, "count", "--filter", "colour=red")
    assert bad.returncode == 2 and "unknown filter field 'colour'" in bad.stderr


@pytest.mark.parametrize("level", ["series", "study", "subject", "collection"])
def test_cli_search_prints_hits_at_every_level(cli_home: Path, level: str) -> None:
    done = ihub(cli_home, "search", "lymph", "--level", level, "--size", "3")
    assert done.returncode == 0, done.stderr
    total = re.search(rf"([\d,]+) matching {level}", done.stdout)
    assert total, done.stdout
    hits = [line for line in done.stdout.splitlines() if line.startswith("•")]
    assert len(hits) == min(3, int(total.group(1).replace(",", ""))) > 0
    links = [line for line in done.stdout.splitlines() if line.startswith("    ")]
    if level in ("series", "collection"):  # hits with links show their first two
        assert links and all(": https://" in line for line in links)


def test_failed_harvest_keeps_the_published_index(cli_home: Path) -> None:
    before = json.loads(ihub(cli_home, "count", "--json").stdout)
    failed = ihub(cli_home, "harvest", "idc", "--collections", "no_such_collection")
    assert failed.returncode == 1 and "previous index kept" in failed.stderr
    after = json.loads(ihub(cli_home, "count", "--json").stdout)
    assert after == before
    sources = json.loads(ihub(cli_home, "sources", "--json").stdout)
    assert sources[0]["last_run"]["status"] == "failed"
    assert sources[0]["published"]["series"] == before["series"]["count"]
