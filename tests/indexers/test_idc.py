"""The IDC indexer on real rows of idc-index-data, some of them corrupted on purpose."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import idc_index_data
import pyarrow as pa
import pytest

from imaging_hub.errors import ConfigError, SourceFormatError
from imaging_hub.indexers import idc
from imaging_hub.indexers.idc import IdcIndexer
from imaging_hub.schemas.columnar import SERIES_SCHEMA, series_fields, with_all_columns
from imaging_hub.schemas.records import SeriesRecord

PARQUET = Path(idc_index_data.IDC_INDEX_PARQUET_FILEPATH)
COLLECTIONS_PARQUET = PARQUET.with_name("collections_index.parquet")
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 real series of one collection; rows 0-5 damaged in known ways."""
    out = tmp_path_factory.mktemp("idc") / "idc_index.parquet"
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE t AS SELECT * FROM read_parquet($p) WHERE collection_id = 'ct_lymph_nodes'"
        " ORDER BY SeriesInstanceUID LIMIT 40", {"p": str(PARQUET)})
    con.execute("CREATE TABLE u AS SELECT row_number() OVER () AS rn, * FROM t")
    con.execute("UPDATE u SET SeriesInstanceUID = NULL WHERE rn = 1")
    con.execute("UPDATE u SET PatientID = '  ' WHERE rn = 2")
    con.execute("UPDATE u SET SeriesInstanceUID = (SELECT SeriesInstanceUID FROM u WHERE rn = 4)"
                " WHERE rn = 3")
    con.execute("UPDATE u SET PatientAge = 'abc', PatientSex = '6657' WHERE rn = 5")
    con.execute("UPDATE u SET PatientAge = '042y', StudyDate = 'not a date' WHERE rn = 6")
    con.execute("ALTER TABLE u DROP COLUMN rn")
    con.execute("COPY u TO $o (FORMAT parquet)", {"o": str(out)})
    return out


def test_damaged_rows_are_rejected_or_nulled_and_counted(damaged: Path) -> None:
    result = IdcIndexer(series_parquet=damaged, collections_parquet=COLLECTIONS_PARQUET
                        ).harvest("run-x")
    rep = result.report
    assert rep.read == 40
    assert rep.rejected == {"missing_series_uid": 1, "duplicate_series_uid": 1}
    assert rep.series == result.series.num_rows == 38
    assert rep.warnings == {"age_unparseable": 1, "sex_unrecognised": 1,
                            "study_date_unparseable": 1, "patient_id_empty": 1}
    assert {r.reason for r in rep.reject_samples} == set(rep.rejected)
    rows = {r["age_raw"]: r for r in result.series.to_pylist()}
    assert rows["abc"]["age"] is None and rows["abc"]["sex"] is None
    assert rows["abc"]["sex_raw"] == "6657"
    assert rows["042y"]["age"] == 42.0 and rows["042y"]["study_date"] is None


def test_empty_patient_id_is_kept_under_one_subject_per_study(damaged: Path) -> None:
    """The subject rule shared by every source (``normalise.subject_id``)."""
    result = IdcIndexer(series_parquet=damaged, collections_parquet=COLLECTIONS_PARQUET
                        ).harvest("run-x")
    raw = duckdb.execute("SELECT StudyInstanceUID FROM read_parquet($p) WHERE trim(PatientID)"
                         " = ''", {"p": str(damaged)}).fetchall()
    (study,) = [r[0] for r in raw]
    kept = [r for r in result.series.to_pylist() if r["study_uid"] == study]
    assert {r["subject_id"] for r in kept} == {f"(no PatientID) {study}"}
    assert all(r["subject_id"].strip() for r in result.series.to_pylist())


def test_access_override_applies_to_series_and_collections(damaged: Path) -> None:
    result = IdcIndexer(series_parquet=damaged, collections_parquet=COLLECTIONS_PARQUET,
                        access="registration").harvest("run-x")
    assert set(result.series.column("access").to_pylist()) == {"registration"}
    assert set(result.collections.column("access").to_pylist()) == {"registration"}


def test_every_row_is_a_valid_series_record(damaged: Path) -> None:
    result = IdcIndexer(series_parquet=damaged, collections_parquet=COLLECTIONS_PARQUET
                        ).harvest("run-x")
    coll = result.collections.to_pylist()[0]
    for row in result.series.to_pylist():
        rec = SeriesRecord.model_validate(series_fields(row, coll))
        assert rec.id == f"idc:{rec.identifiers.series_uid}"
        assert rec.identifiers.drs_uri == f"drs://dg.4DFC:{rec.identifiers.crdc_series_uuid}"
        assert rec.access.license == "CC BY 3.0" and rec.access.commercial_use is True
        assert rec.provenance.run_id == "run-x"
        assert rec.source == "idc" and rec.collection == "ct_lymph_nodes"


def test_collection_records_carry_dataset_facets() -> None:
    result = IdcIndexer(collections=["nlst"]).harvest("run-c")
    (nlst,) = result.collections.to_pylist()
    assert nlst["name"] == "NLST"
    assert nlst["disease_type"] == ["Lung Cancer", "Non-Cancer"]
    assert nlst["primary_site"] == ["Chest"]
    assert nlst["doi"][0] == "10.7937/tcia.hmq8-j677"  # TCIA's original, then others
    assert nlst["license"] == "CC BY 4.0" and nlst["access"] == "open"
    assert "<i>" not in nlst["citation"] and "&amp;" not in nlst["citation"]


def test_unknown_collection_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no_such_collection"):
        IdcIndexer(collections=["ct_lymph_nodes", "no_such_collection"]).harvest("r")


def test_missing_file_or_columns_is_a_format_error(tmp_path: Path) -> None:
    with pytest.raises(SourceFormatError, match="not found"):
        IdcIndexer(series_parquet=tmp_path / "nope.parquet").harvest("r")
    thin = tmp_path / "thin.parquet"
    duckdb.execute("COPY (SELECT 1 AS SeriesInstanceUID) TO $o (FORMAT parquet)",
                   {"o": str(thin)})
    with pytest.raises(SourceFormatError, match="lacks columns"):
        IdcIndexer(series_parquet=thin, collections_parquet=COLLECTIONS_PARQUET).harvest("r")


def test_placeholder_and_implausible_ages_on_real_idc_rows() -> None:
    """Real IDC collections: NSCLC-Radiogenomics and the Visible Human use `000Y`,
    CC-Radiomics-Phantom records phantoms at 155 years. Those are kept with their raw value,
    not used as ages, and counted like DuckDB counts them on the parquet."""
    colls = ["nsclc_radiogenomics", "nlm_visible_human_project", "cc_radiomics_phantom"]
    result = IdcIndexer(collections=colls).harvest("run-ages")
    rows = duckdb.execute(
        "SELECT upper(trim(PatientAge)) AS a, count(*) FROM read_parquet($p)"
        " WHERE collection_id IN (SELECT unnest($c)) GROUP BY a",
        {"p": str(PARQUET), "c": colls}).fetchall()
    by_raw = {a: n for a, n in rows}
    placeholder = by_raw.get("000Y", 0)
    implausible = sum(n for a, n in by_raw.items()
                      if a and a.endswith("Y") and a[:3].isdigit() and int(a[:3]) > 110)
    assert placeholder > 0 and implausible > 0  # the slice really holds both
    assert result.report.warnings["age_placeholder"] == placeholder
    assert result.report.warnings["age_implausible"] == implausible
    series = result.series.to_pylist()
    zero = [r for r in series if r["age_raw"] == "000Y"]
    old = [r for r in series if r["age_raw"] == "155Y"]
    assert len(zero) == placeholder and all(r["age"] is None for r in zero)
    assert len(old) == implausible and all(r["age"] is None for r in old)
    ages = [r["age"] for r in series if r["age"] is not None]
    assert ages and min(ages) > 0 and max(ages) <= 110


def _scratch_of_harvests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh system temporary directory: where the harvest's scratch folder goes."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_series_stream_out_in_batches_and_leave_no_scratch(
    damaged: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    scratch = _scratch_of_harvests(tmp_path, monkeypatch)
    whole = IdcIndexer(series_parquet=damaged, collections_parquet=COLLECTIONS_PARQUET,
                       _now=NOW).harvest("run-x").series
    streamed = IdcIndexer(series_parquet=damaged, collections_parquet=COLLECTIONS_PARQUET,
                          batch_rows=5, memory_limit="64MB", _now=NOW).harvest("run-x").series
    assert list(scratch.iterdir()) == []
    assert streamed.column("series_uid").num_chunks > 1
    assert streamed.sort_by("id").equals(whole.sort_by("id"))  # DuckDB's row order is free
    assert streamed.schema == SERIES_SCHEMA


def test_a_failure_mid_stream_leaves_no_scratch(
    damaged: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    scratch = _scratch_of_harvests(tmp_path, monkeypatch)
    batches = []

    def failing_third(table: pa.Table) -> pa.Table:
        batches.append(table.num_rows)
        if len(batches) == 3:
            raise duckdb.IOException("No space left on device")
        return with_all_columns(table)

    monkeypatch.setattr(idc, "with_all_columns", failing_third)
    with pytest.raises(SourceFormatError, match="No space left"):
        IdcIndexer(series_parquet=damaged, collections_parquet=COLLECTIONS_PARQUET,
                   batch_rows=5).harvest("run-x")
    assert batches == [5, 5, 5]  # two batches were spilled before the failure
    assert list(scratch.iterdir()) == []
