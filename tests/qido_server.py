"""A programmable QIDO-RS server on loopback, for the DICOMweb connector's failure modes.

Payloads follow the DICOM JSON model (PS3.18 F.2) as QIDO-RS servers such as Orthanc return
them; behaviours (delays, 503s, truncated bodies, ignored paging) are switched per test.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


def element(vr: str, *values: Any) -> dict[str, Any]:
    return {"vr": vr, "Value": list(values)} if values else {"vr": vr}


def study(uid: str, patient: str, date: str = "20240105", age: str = "061Y",
          sex: str = "F") -> dict[str, Any]:
    return {"0020000D": element("UI", uid), "00100020": element("LO", patient),
            "00080020": element("DA", date), "00101010": element("AS", age),
            "00100040": element("CS", sex), "00081030": element("LO", "CT CHEST")}


def instance(sop: str) -> dict[str, Any]:
    return {"00080018": element("UI", sop)}


def series(uid: str, modality: str = "CT", instances: int = 3) -> dict[str, Any]:
    return {"0020000E": element("UI", uid), "00080060": element("CS", modality),
            "00201209": element("IS", instances), "0008103E": element("LO", "axial")}


@dataclass
class Behaviour:
    studies: list[dict[str, Any]] = field(default_factory=list)
    series: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    instances: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # by series UID
    cap: int | None = None  # the server's own maximum page size
    ignore_limit: bool = False
    ignore_offset: bool = False
    overlap: int = 0  # pages after the first start this many entries early (order shifted)
    fail_first: int = 0  # answer this many requests with `fail_status`
    fail_status: int = 503
    retry_after: str | None = None
    delay: float = 0.0
    truncate_series: bool = False
    requests: list[tuple[str, dict[str, list[str]], dict[str, str]]] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    behaviour: Behaviour

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        b = self.behaviour
        url = urlparse(self.path)
        query = parse_qs(url.query)
        b.requests.append((url.path, query, dict(self.headers)))
        if b.delay:
            time.sleep(b.delay)
        if b.fail_first > 0:
            b.fail_first -= 1
            self.send_response(b.fail_status)
            if b.retry_after is not None:
                self.send_header("Retry-After", b.retry_after)
            self.end_headers()
            return
        parts = url.path.strip("/").split("/")
        if parts[-1] == "instances" and len(parts) >= 5:
            self._json(self._window(b.instances.get(parts[-2], []), query))
        elif parts[-1] == "studies":
            items = self._window(b.studies, query)
            self._json(items)
        elif parts[-1] == "series" and len(parts) >= 3:
            items = self._window(b.series.get(parts[-2], []), query)
            body = json.dumps(items).encode()
            if b.truncate_series:
                body = body[: len(body) // 2]
            self._send(body)
        else:
            self.send_response(404)
            self.end_headers()

    def _window(self, items: list[dict[str, Any]], query: dict[str, list[str]]) -> list[Any]:
        b = self.behaviour
        date = query.get("StudyDate", [None])[0]
        if date:
            lo, _, hi = date.partition("-")
            items = [i for i in items if (not lo or i["00080020"]["Value"][0] >= lo)
                     and (not hi or i["00080020"]["Value"][0] <= hi)]
        offset = 0 if b.ignore_offset else int(query.get("offset", ["0"])[0])
        offset = max(0, offset - b.overlap) if offset else 0
        limit = len(items) if b.ignore_limit else int(query.get("limit", [str(len(items))])[0])
        if b.cap is not None:
            limit = min(limit, b.cap)
        return items[offset:offset + limit]

    def _json(self, items: list[Any]) -> None:
        self._send(json.dumps(items).encode())

    def _send(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/dicom+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def qido_server(behaviour: Behaviour) -> Iterator[str]:
    """Serve ``behaviour`` on a free loopback port; yields the DICOMweb root URL."""
    handler = type("Handler", (_Handler,), {"behaviour": behaviour})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/dicom-web"
    finally:
        server.shutdown()
        server.server_close()
