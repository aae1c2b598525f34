"""Benchmark: DICOM folder harvest throughput (files per second) on a tree of thousands of
small files, against the usual script (pydicom ``dcmread`` of every whole file, one process).

The tree is made from pydicom's bundled files, each copied many times under new UIDs.

    .venv/bin/python bench/bench_folder.py [--copies 120] [--workdir /tmp/ihub-folder-bench]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from imaging_hub.indexers.dicom_folder import DicomFolderIndexer

SOURCES = ["CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "rtdose.dcm", "JPEG2000.dcm",
           "US1_J2KR.dcm", "emri_small.dcm", "SC_rgb.dcm", "OBXXXX1A.dcm", "ExplVR_BigEnd.dcm"]
TARGET = 1000.0


def make_tree(root: Path, copies: int) -> int:
    """``copies`` new instances of each source file, four instances per new series."""
    if root.exists():
        shutil.rmtree(root)
    n = 0
    for name in SOURCES:
        path = get_testdata_file(name)
        if path is None:
            continue
        ds = pydicom.dcmread(path)
        for c in range(copies):
            if c % 4 == 0:
                series_uid, study_uid = generate_uid(), generate_uid()
            ds.SOPInstanceUID, ds.SeriesInstanceUID = generate_uid(), series_uid
            ds.StudyInstanceUID = study_uid
            folder = root / name.split(".")[0] / f"s{c // 4:04d}"
            folder.mkdir(parents=True, exist_ok=True)
            ds.save_as(folder / f"{c:05d}.dcm", enforce_file_format=False)
            n += 1
    return n


def naive(root: Path) -> float:
    """The peer: read every whole file with pydicom in one process."""
    t0 = time.perf_counter()
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            pydicom.dcmread(os.path.join(dirpath, f))
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=600)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/ihub-folder-bench"))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    files = make_tree(args.workdir, args.copies)
    os.sync()
    naive_s = naive(args.workdir)  # also warms the page cache for both
    t0 = time.perf_counter()
    result = DicomFolderIndexer(name="bench", path=args.workdir).harvest("bench")
    ours_s = time.perf_counter() - t0
    rep = result.report
    ours_fps, naive_fps = files / ours_s, files / naive_s
    print(f"files: {files:,} in {result.series.num_rows:,} series on {os.cpu_count()} cores; "
          f"rejected {sum(rep.rejected.values())}")
    print(f"imaging-hub folder harvest:  {ours_s:6.2f} s  {ours_fps:8,.0f} files/s "
          f"(target >= {TARGET:,.0f})")
    print(f"pydicom dcmread, 1 process:  {naive_s:6.2f} s  {naive_fps:8,.0f} files/s")
    print(f"ours / peer: {ours_fps / naive_fps:.1f}x")
    if args.out:
        args.out.write_text(json.dumps({"files": files, "ours_s": ours_s, "naive_s": naive_s,
                                        "ours_files_per_s": ours_fps,
                                        "naive_files_per_s": naive_fps}, indent=2))
    shutil.rmtree(args.workdir)
    return 0 if ours_fps >= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
