"""DICOM files written with pydicom for tests: small MR images in any transfer syntax."""

from __future__ import annotations

from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import MRImageStorage


def mr_image(sop: str, syntax: str, study: str, series: str, patient: str = "FID-001",
             pixels: bool = True) -> Dataset:
    """A 64 x 64 MR image (or its header alone) in ``syntax``."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = sop
    meta.TransferSyntaxUID = syntax
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, sop
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.PatientID, ds.PatientSex, ds.PatientAge = patient, "F", "061Y"
    ds.Modality, ds.StudyDate, ds.SeriesDescription = "MR", "20240105", "t1 axial"
    ds.Rows = ds.Columns = 64
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit, ds.PixelRepresentation = 15, 0
    if pixels:
        ds.PixelData = bytes(range(256)) * 32  # 64 x 64 x 2 bytes
    return ds


def write(ds: Dataset, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path
