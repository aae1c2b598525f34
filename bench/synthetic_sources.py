"""Synthetic sources of any size for ``bench_harvest_memory.py``: files (an IDC-layout
index, a metadata export, a DICOM folder) and servers on loopback (DICOMweb, a Gen3 commons,
TCIA's NBIA), each built from the shapes the connectors' tests use."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "decedent_ct"


def synthetic_parquet(n: int, folder: Path) -> Path:
    """An IDC-layout series index of ``n`` rows: the installed one's rows, repeated with
    the Series/Study UIDs, patient ids and GUIDs suffixed by the repetition."""
    import duckdb
    import idc_index_data

    path = folder / f"idc_{n}.parquet"
    src = str(idc_index_data.IDC_INDEX_PARQUET_FILEPATH)
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute("SET memory_limit = '1GB'")
    con.execute("SET enable_progress_bar = false")
    con.execute(f"SET temp_directory = '{folder / 'duckdb.tmp'}'")
    total = con.execute("SELECT count(*) FROM read_parquet($p)", {"p": src}).fetchone()
    assert total is not None
    copies = -(-n // int(total[0]))
    rep = "'.' || k"
    con.execute(
        "COPY (SELECT * REPLACE ("
        f" SeriesInstanceUID || {rep} AS SeriesInstanceUID,"
        f" StudyInstanceUID || {rep} AS StudyInstanceUID,"
        f" PatientID || {rep} AS PatientID, crdc_series_uuid || {rep} AS crdc_series_uuid)"
        " FROM read_parquet($p), range($copies) AS r(k) LIMIT $n)"
        f" TO '{path}' (FORMAT parquet)", {"p": src, "copies": copies, "n": n})
    con.close()
    return path


def synthetic_csv(n: int, folder: Path) -> Path:
    """A metadata export of ``n`` rows: the shipped example's rows, repeated with the
    decedent and scan ids suffixed by the repetition."""
    import csv

    path = folder / f"export_{n}.csv"
    with (EXAMPLE / "decedent_ct_synthetic.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for i in range(n):
            row = dict(rows[i % len(rows)])
            k = i // len(rows)
            row["decedent_id"] = f"{row['decedent_id']}-{k}"
            row["scan_id"] = f"{row['scan_id']}-{k}"
            writer.writerow(row)
    return path


FOLDER_FILES = ("MR_small.dcm", "JPEG2000.dcm", "CT_small.dcm")


def synthetic_folder(n: int, folder: Path) -> Path:
    """A tree of ``n`` DICOM files: pydicom's small bundled files in turn, each one's bytes
    with its SOP, series and study UIDs replaced by fresh ones of the same length (so the
    file stays valid without being re-encoded), four instances per series, a folder per
    series."""
    import pydicom
    from pydicom.data import get_testdata_file

    kinds = ("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID")
    templates = []
    for name in FOLDER_FILES:
        path = get_testdata_file(name)
        if path is not None:
            ds = pydicom.dcmread(path)
            templates.append((Path(path).read_bytes(),
                              [str(getattr(ds, k)).encode() for k in kinds]))
    root = folder / f"tree_{n}"
    for i in range(n):
        data, uids = templates[(i // 4) % len(templates)]
        for kind, (old, number) in enumerate(zip(uids, (i, i // 4, i // 4), strict=True)):
            head = f"2.25.{kind + 1}"
            data = data.replace(old, (head + str(number).zfill(len(old) - len(head))).encode())
        where = root / f"{i // 4000:04d}" / f"s{i // 4:07d}"
        where.mkdir(parents=True, exist_ok=True)
        (where / f"{i % 4}.dcm").write_bytes(data)
    return root


@contextmanager
def synthetic_dicomweb(n: int) -> Iterator[str]:
    """A QIDO-RS server on loopback listing ``n`` series, four per study, each page made
    when asked (nothing held); yields its DICOMweb root."""
    from tests.qido_server import series, study

    studies = -(-n // 4)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server API
            url = urlparse(self.path)
            query = parse_qs(url.query)
            parts = url.path.strip("/").split("/")
            offset = int(query.get("offset", ["0"])[0])
            limit = int(query.get("limit", ["100"])[0])
            if parts[-1] == "studies":
                items = [study(f"2.25.7.{i}", f"P{i // 2}", date=f"2024{i % 12 + 1:02d}05")
                         for i in range(offset, min(offset + limit, studies))]
            elif parts[-1] == "series":
                i = int(parts[-2].rsplit(".", 1)[1])
                items = [series(f"2.25.8.{i * 4 + j}", instances=j + 1)
                         for j in range(4) if i * 4 + j < n][offset:offset + limit]
            else:
                self.send_error(404)
                return
            body = json.dumps(items).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/dicom+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/dicom-web"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def synthetic_gen3(n: int) -> Iterator[str]:
    """The Gen3 test commons holding ``n`` public DICOM series files; yields its root."""
    from tests.gen3_server import gen3_server
    from tests.indexers.test_gen3_connector import midrc_commons

    with gen3_server(midrc_commons(n, tier="libre")) as url:
        yield url


@contextmanager
def synthetic_tcia(n: int) -> Iterator[str]:
    """The TCIA test server with ``n`` public series in collections of 2,000; yields its
    root."""
    from tests.indexers.test_tcia import synthetic
    from tests.tcia_server import Nbia, nbia_server

    size = 2_000
    nbia = Nbia(collections=[synthetic(f"Coll-{i:04d}", min(size, n - i * size))
                             for i in range(-(-n // size))])
    with nbia_server(nbia) as root:
        yield root
