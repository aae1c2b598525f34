"""The DICOM folder indexer on pydicom's bundled files, copied, damaged and rewritten."""

from __future__ import annotations

import os
import shutil
from collections import defaultdict
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.fileset import FileSet

from imaging_hub.indexers.dicom_folder import DicomFolderIndexer

DATA = Path(pydicom.__file__).parent / "data"


def _write_variant(src: str, dest: Path, **changes: object) -> None:
    ds = pydicom.dcmread(src)
    for keyword, value in changes.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    dest.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(dest, enforce_file_format=False)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Good files in nested folders, plus every kind of bad file."""
    root = tmp_path_factory.mktemp("folder") / "trial"
    ct = get_testdata_file("CT_small.dcm")
    mr = get_testdata_file("MR_small.dcm")
    assert ct and mr
    (root / "a" / "b").mkdir(parents=True)
    shutil.copy(ct, root / "a" / "ct1.dcm")
    shutil.copy(mr, root / "a" / "b" / "mr1")  # no extension: still DICOM
    shutil.copy(mr, root / "a" / "b" / "mr1-copy")  # the same instance twice
    _write_variant(mr, root / "mr2.dcm", SOPInstanceUID="1.2.826.0.1.3680043.2.1125.99.1",
                   SeriesInstanceUID="1.2.826.0.1.3680043.2.1125.99.3",
                   PatientAge="abc", PatientSex="X")
    (root / "README.txt").write_text("not DICOM")
    data = Path(ct).read_bytes()
    (root / "broken" / "half.dcm").parent.mkdir()
    (root / "broken" / "half.dcm").write_bytes(data[: len(data) // 2])  # truncated pixels
    (root / "broken" / "header-only.dcm").write_bytes(data[:300])  # cut inside the header
    _write_variant(ct, root / "broken" / "no-series.dcm", SeriesInstanceUID=None,
                   SOPInstanceUID="1.2.826.0.1.3680043.2.1125.99.2")
    _write_variant(ct, root / "broken" / "no-sop.dcm", SOPInstanceUID=None)
    return root


def test_series_instances_bytes_and_every_skipped_file(tree: Path) -> None:
    result = DicomFolderIndexer(name="trial", path=tree, workers=2).harvest("r1")
    rep = result.report
    rows = {r["series_description"] or r["modality"]: r for r in result.series.to_pylist()}
    by_uid = {r["series_uid"]: r for r in result.series.to_pylist()}
    assert len(by_uid) == 3
    mr = by_uid[pydicom.dcmread(tree / "a" / "b" / "mr1").SeriesInstanceUID]
    assert mr["instances"] == 1  # mr1 and its byte-identical copy are one instance
    assert mr["size_bytes"] == os.path.getsize(tree / "a" / "b" / "mr1")
    assert all(r["collection"] == "trial" for r in rows.values())
    skipped = {Path(s.key or "").name: s.reason for s in rep.reject_samples}
    assert skipped == {"README.txt": "not_dicom", "half.dcm": "truncated",
                       "header-only.dcm": "truncated", "no-series.dcm": "missing_series_uid",
                       "no-sop.dcm": "missing_sop_instance_uid"}
    assert sum(rep.rejected.values()) == 5
    assert rep.warnings["duplicate_instance"] == 1
    assert rep.read == 9


def test_malformed_values_are_nulled_and_counted(tree: Path) -> None:
    result = DicomFolderIndexer(name="trial", path=tree, workers=1).harvest("r2")
    odd = next(r for r in result.series.to_pylist() if r["age_raw"] == "abc")
    assert odd["age"] is None and odd["sex"] is None and odd["sex_raw"] == "X"
    assert result.report.warnings["age_unparseable"] == 1
    assert result.report.warnings["sex_unrecognised"] == 1


def test_dicomdir_tree_matches_the_dicomdir_records(tmp_path: Path) -> None:
    root = tmp_path / "media"
    src = DATA / "test_files" / "dicomdirtests"
    shutil.copytree(src, root, ignore=shutil.ignore_patterns("DICOMDIR-*", "TINY_ALPHA"))
    fs = FileSet(pydicom.dcmread(root / "DICOMDIR"))
    want: dict[str, int] = defaultdict(int)
    for instance in fs:
        want[instance.SeriesInstanceUID] += 1
    result = DicomFolderIndexer(name="media", path=root, workers=2).harvest("r")
    got = dict(zip(result.series.column("series_uid").to_pylist(),
                   result.series.column("instances").to_pylist(), strict=True))
    assert got == dict(want)
    assert result.report.warnings["dicomdir_read"] == 1


def test_odd_character_sets_are_decoded(tmp_path: Path) -> None:
    root = tmp_path / "charsets"
    shutil.copytree(DATA / "charset_files", root)
    result = DicomFolderIndexer(name="cs", path=root, workers=2).harvest("r")
    rep = result.report
    # every file is accounted for: an instance, a duplicate of one, or a reject with reason
    assert rep.read == len(list(root.iterdir()))
    instances = sum(result.series.column("instances").to_pylist())
    assert instances + rep.warnings.get("duplicate_instance", 0) + sum(
        rep.rejected.values()) == rep.read
    assert result.series.num_rows >= 10
    assert set(rep.rejected) <= {"not_dicom", "truncated", "missing_sop_instance_uid"}
    text = " ".join(str(v) for col in ("subject_id", "study_description", "series_description")
                    for v in result.series.column(col).to_pylist())
    assert "\ufffd" not in text


def test_missing_folder_is_source_unavailable(tmp_path: Path) -> None:
    from imaging_hub.errors import SourceUnavailable

    with pytest.raises(SourceUnavailable, match="does not exist"):
        DicomFolderIndexer(name="x", path=tmp_path / "nope").harvest("r")


def test_a_series_takes_its_first_file_in_path_order(tmp_path: Path) -> None:
    """The grouping rules, whichever order the files are read in: a series takes the values
    and folder of its first file by path; an instance seen again counts once, with the bytes
    of its first file; an instance filed under another study is warned."""
    mr = get_testdata_file("MR_small.dcm")
    assert mr
    series, first_study, other_study = "1.2.3.4.1", "1.2.3.4.2", "1.2.3.4.3"
    root = tmp_path / "split"
    for where, sop, study, description in [
            ("b/2.dcm", "1.2.3.4.10.2", first_study, "second"),
            ("a/1.dcm", "1.2.3.4.10.1", first_study, "first"),
            ("c/3.dcm", "1.2.3.4.10.3", other_study, "third"),
            ("c/4.dcm", "1.2.3.4.10.4", other_study, "fourth")]:
        _write_variant(mr, root / where, SeriesInstanceUID=series, SOPInstanceUID=sop,
                       StudyInstanceUID=study, SeriesDescription=description)
    # the first instance again, later by path and larger (a private tag added)
    ds = pydicom.dcmread(root / "a" / "1.dcm")
    ds.add_new(0x00091010, "LT", "x" * 500)
    (root / "d").mkdir()
    ds.save_as(root / "d" / "1-again.dcm", enforce_file_format=False)
    result = DicomFolderIndexer(name="split", path=root, workers=2).harvest("r")
    (row,) = result.series.to_pylist()
    assert row["series_description"] == "first" and row["study_uid"] == first_study
    assert row["instances"] == 4
    sizes = [os.path.getsize(root / p) for p in ("a/1.dcm", "b/2.dcm", "c/3.dcm", "c/4.dcm")]
    assert row["size_bytes"] == sum(sizes)
    assert row["source_native"] and '"folder"' in row["source_native"]
    assert str(root / "a") in row["source_native"]
    rep = result.report
    assert rep.warnings["duplicate_instance"] == 1
    assert rep.warnings["series_in_several_studies"] == 2
    assert rep.read == 5 and not rep.rejected


def test_series_come_in_the_order_of_their_first_file(tmp_path: Path) -> None:
    ct = get_testdata_file("CT_small.dcm")
    assert ct
    root = tmp_path / "order"
    for i, name in enumerate(["z", "m", "a", "q"]):
        _write_variant(ct, root / name / "x.dcm", SeriesInstanceUID=f"1.2.3.9.{i}",
                       SOPInstanceUID=f"1.2.3.9.{i}.1")
    result = DicomFolderIndexer(name="order", path=root, workers=1).harvest("r")
    assert result.series.column("series_uid").to_pylist() == [
        "1.2.3.9.2", "1.2.3.9.1", "1.2.3.9.3", "1.2.3.9.0"]
