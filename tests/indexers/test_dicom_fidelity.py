"""DICOM files as other projects ship them, written here with pydicom: deflated data sets,
header-only files, and files cut short in every part."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    generate_uid,
)

from imaging_hub.indexers.dicom_file import read_header
from imaging_hub.indexers.dicom_folder import DicomFolderIndexer
from tests.dicom_files import mr_image, write

SERIES = generate_uid()
STUDY = generate_uid()


def image(sop: str, syntax: str, pixels: bool = True) -> Dataset:
    return mr_image(sop, syntax, STUDY, SERIES, pixels=pixels)


@pytest.mark.parametrize("syntax", [DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian,
                                    ImplicitVRLittleEndian])
def test_complete_images_are_read_in_every_transfer_syntax(tmp_path: Path, syntax: str) -> None:
    path = write(image(generate_uid(), syntax), tmp_path / "a.dcm")
    assert pydicom.dcmread(path).file_meta.TransferSyntaxUID == syntax
    header = read_header(str(path))
    assert header.reject is None, header.detail
    assert header.values is not None and header.values["PatientID"] == "FID-001"
    assert header.values["SeriesInstanceUID"] == SERIES and header.warnings == ()


@pytest.mark.parametrize("syntax", [DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian,
                                    ImplicitVRLittleEndian])
def test_header_only_files_are_indexed_not_called_truncated(tmp_path: Path,
                                                            syntax: str) -> None:
    path = write(image(generate_uid(), syntax, pixels=False), tmp_path / "h.dcm")
    header = read_header(str(path))
    assert header.reject is None, header.detail
    assert header.values is not None and header.values["Modality"] == "MR"
    assert header.warnings == ("no_pixel_data",)


@pytest.mark.parametrize("syntax", [DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian,
                                    ImplicitVRLittleEndian])
@pytest.mark.parametrize("where", [0.3, 0.6, 0.97])
def test_files_cut_anywhere_are_truncated(tmp_path: Path, syntax: str, where: float) -> None:
    whole = write(image(generate_uid(), syntax), tmp_path / "whole.dcm").read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(whole[: int(len(whole) * where)])
    header = read_header(str(cut))
    assert header.reject == "truncated", (header.reject, header.detail)


def test_cut_inside_an_element_header_is_truncated(tmp_path: Path) -> None:
    whole = write(image(generate_uid(), ExplicitVRLittleEndian, pixels=False),
                  tmp_path / "w.dcm").read_bytes()
    ds = pydicom.dcmread(tmp_path / "w.dcm")
    last = ds.get_item(list(ds.keys())[-1])
    # keep 5 bytes of the last element's header: pydicom alone would not notice
    start = int(getattr(last, "file_tell", 0) or 0) - 8
    cut = tmp_path / "c.dcm"
    cut.write_bytes(whole[: start + 5])
    assert read_header(str(cut)).reject == "truncated"


def test_a_folder_of_such_files_counts_instances_and_rejects_only_the_cut_ones(
        tmp_path: Path) -> None:
    root = tmp_path / "mixed"
    sops = [generate_uid() for _ in range(4)]
    write(image(sops[0], DeflatedExplicitVRLittleEndian), root / "deflated.dcm")
    write(image(sops[1], ExplicitVRLittleEndian, pixels=False), root / "header-only.dcm")
    write(image(sops[2], DeflatedExplicitVRLittleEndian, pixels=False), root / "dfl-hdr.dcm")
    full = write(image(sops[3], ImplicitVRLittleEndian), root / "full.dcm").read_bytes()
    (root / "cut.dcm").write_bytes(full[: len(full) // 2])
    deflated = (root / "deflated.dcm").read_bytes()
    (root / "deflated-cut.dcm").write_bytes(deflated[: len(deflated) - 20])
    result = DicomFolderIndexer(name="fid", path=root, workers=1).harvest("r")
    (row,) = result.series.to_pylist()
    assert row["series_uid"] == SERIES and row["instances"] == 4
    assert result.report.rejected == {"truncated": 2}
    assert {Path(s.key or "").name for s in result.report.reject_samples} == {
        "cut.dcm", "deflated-cut.dcm"}
    assert result.report.warnings == {"no_pixel_data": 2}
