"""Reading one DICOM file's header for the folder indexer, and telling a cut file from a
complete one.

A file is *truncated* when its data set ends inside an element: the last element read
announces more bytes than the stream holds, pydicom reached the end of the file looking for
a delimiter, the Pixel Data element announces more bytes than follow it, or a deflated data
set's compressed stream is cut. A complete header without a Pixel Data element (a
"header-only" file) is not truncated. For the Deflated Explicit VR Little Endian transfer
syntax the checks run on the inflated data set, whose offsets pydicom reports.
"""

from __future__ import annotations

import os
import struct
import warnings
import zlib
from dataclasses import dataclass

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.errors import InvalidDicomError

KEYWORDS = ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "PatientID",
            "PatientSex", "PatientAge", "StudyDate", "StudyDescription", "SeriesDescription",
            "Modality", "BodyPartExamined", "Manufacturer", "SpecificCharacterSet",
            "SOPClassUID")
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"
DEFLATED = "1.2.840.10008.1.2.1.99"
PIXEL_TAGS = ((0x7FE0, 0x0010), (0x7FE0, 0x0008), (0x7FE0, 0x0009))
UNDEFINED = 0xFFFFFFFF
_PIXEL_HEADS = frozenset(struct.pack(f, g, e) for g, e in PIXEL_TAGS for f in ("<HH", ">HH"))


@dataclass(frozen=True)
class FileHeader:
    """What a worker learned about one file: values by keyword, or why it was skipped."""

    path: str
    size: int
    values: dict[str, str | None] | None = None
    reject: str | None = None
    detail: str | None = None
    warnings: tuple[str, ...] = ()
    dicomdir: bool = False


def _text(ds: pydicom.Dataset, keyword: str, found: list[str]) -> str | None:
    try:
        value = ds.get(keyword)
        if value is None or value == "":
            return None
        if isinstance(value, pydicom.multival.MultiValue):
            value = value[0] if len(value) else None
        return None if value is None else str(value)
    except (UnicodeError, ValueError, TypeError, LookupError):
        found.append(f"{keyword}_unreadable")
        return None


@dataclass(frozen=True)
class _Stream:
    """The data set's bytes as pydicom read them: the file itself, or for a deflated file
    the inflated data set (``data``), and where reading stopped (``stop``: the Pixel Data
    element, or the end), when known; ``size`` None: offsets cannot be checked."""

    size: int | None
    stop: int | None
    data: bytes | None = None

    def head(self, path: str, offset: int, n: int) -> bytes:
        if self.data is not None:
            return self.data[offset:offset + n]
        with open(path, "rb") as fh:
            fh.seek(offset)
            return fh.read(n)


def _inflated(path: str, ds: pydicom.Dataset) -> bytes | None:
    """The deflated data set after the file meta information, inflated; ``None`` when the
    meta information gives no group length to find where it starts. Raises ``zlib.error``
    when the compressed stream is cut."""
    group_length = ds.file_meta.get("FileMetaInformationGroupLength")
    if not isinstance(group_length, int):
        return None
    with open(path, "rb") as fh:
        preamble = fh.read(132)
        start = 132 if preamble[128:132] == b"DICM" else 0
        fh.seek(start + 12 + group_length)  # (0002,0000) UL element is 12 bytes
        compressed = fh.read()
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    data = inflater.decompress(compressed) + inflater.flush()
    if not inflater.eof:
        raise zlib.error("incomplete or truncated stream")
    return data


def _last_end(ds: pydicom.Dataset) -> int | None:
    """Where the last top-level element read ends (its value's offset plus its declared
    length), when pydicom still holds it raw with a defined length or it is empty."""
    tags = list(ds.keys())
    if not tags:
        return None
    raw = ds.get_item(tags[-1])
    if isinstance(raw, RawDataElement):
        return None if raw.length == UNDEFINED else int(raw.value_tell) + int(raw.length)
    tell = getattr(raw, "file_tell", None)  # pydicom converts empty values when reading
    return int(tell) if tell is not None and raw.is_empty else None


def _pixels_cut(path: str, ds: pydicom.Dataset, stream: _Stream, offset: int) -> bool:
    """Whether the Pixel Data element at ``offset`` announces more bytes than follow."""
    head = stream.head(path, offset, 12)
    if len(head) < 8:
        return True
    implicit, little = ds.original_encoding
    fmt = "<" if little is not False else ">"
    group, element = struct.unpack(fmt + "HH", head[:4])
    if (group, element) not in PIXEL_TAGS:
        return False  # not positioned on pixel data: nothing to check
    if not implicit and head[4:6] in (b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"UN"):
        if len(head) < 12:
            return True
        length, start = struct.unpack(fmt + "I", head[8:12])[0], offset + 12
    else:  # implicit VR (also seen for Pixel Data inside explicit-VR files)
        length, start = struct.unpack(fmt + "I", head[4:8])[0], offset + 8
    return bool(length != UNDEFINED and stream.size is not None
                and start + length > stream.size)


def cut_short(path: str, ds: pydicom.Dataset, stream: _Stream) -> str | None:
    """Why the data set read from ``path`` is cut short, or None when it is complete."""
    if stream.size is None:
        return None
    end = _last_end(ds)
    if end is not None and end > stream.size:
        return f"ends inside element {list(ds.keys())[-1]}"
    at = end if end is not None else stream.stop  # where the next element would start
    if at is None or at >= stream.size:
        return None
    if stream.size - at < 8 and stream.head(path, at, 4) not in _PIXEL_HEADS:
        return "ends inside an element header"  # pydicom stops quietly on a partial header
    if _pixels_cut(path, ds, stream, at):
        return "Pixel Data longer than the file"
    return None


def _ends_after_header(ds: pydicom.Dataset, stream: _Stream) -> bool:
    """Whether nothing (no Pixel Data) follows the header that was read."""
    end = _last_end(ds)
    at = end if end is not None else stream.stop
    return at is not None and stream.size is not None and at >= stream.size


def _open(path: str) -> tuple[pydicom.Dataset, _Stream, list[str]]:
    """The header (up to Pixel Data), the stream it came from, and pydicom's warnings."""
    size = os.path.getsize(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with open(path, "rb") as fh:
            ds = pydicom.dcmread(fh, stop_before_pixels=True)
            stop = fh.tell()
    said = [str(w.message) for w in caught]
    syntax = str(getattr(ds.file_meta, "TransferSyntaxUID", "") or "")
    if syntax == DEFLATED:  # offsets are in the inflated data set, not the file
        data = _inflated(path, ds)
        if data is None:  # cannot place it: pydicom's own inflating checked the stream
            return ds, _Stream(None, None, b""), said
        return ds, _Stream(len(data), None, data), said
    return ds, _Stream(size, stop), said


def read_header(path: str) -> FileHeader:
    """Read one file's header; never raises (problems become a reject reason)."""
    try:
        ds, stream, said = _open(path)
        reason = None if len(ds) else "no data set after the file meta information"
        reason = reason or next((f"ends early ({s[:120]})" for s in said
                                 if "End of file" in s or "EOF" in s), None)
        reason = reason or cut_short(path, ds, stream)
    except InvalidDicomError:
        return FileHeader(path, _size(path), reject="not_dicom")
    except zlib.error as exc:
        return FileHeader(path, _size(path), reject="truncated",
                          detail=f"deflated data set cut short ({exc})")
    except (OSError, EOFError, ValueError, KeyError, TypeError, struct.error,
            NotImplementedError, AttributeError) as exc:
        return FileHeader(path, _size(path), reject="unreadable",
                          detail=f"{type(exc).__name__}: {str(exc)[:200]}")
    size = _size(path)
    if reason:
        return FileHeader(path, size, reject="truncated", detail=reason)
    meta_class = str(getattr(ds.file_meta, "MediaStorageSOPClassUID", "") or "")
    if meta_class == MEDIA_STORAGE_DIRECTORY or "DirectoryRecordSequence" in ds:
        return FileHeader(path, size, dicomdir=True)
    found: list[str] = []
    values = {k: _text(ds, k, found) for k in KEYWORDS}
    if not values["SOPInstanceUID"]:
        return FileHeader(path, size, reject="missing_sop_instance_uid")
    if "Rows" in ds and _ends_after_header(ds, stream):
        found.append("no_pixel_data")  # a complete header-only image file: indexed
    return FileHeader(path, size, values=values, warnings=tuple(found))


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
