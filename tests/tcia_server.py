"""A local NBIA v4 server (TCIA's REST API) on a real socket, for the TCIA connector.

It behaves as the server source does (CBIIT/NBIA-TCIA ``restAPI/v4``): each endpoint accepts
only its own query parameters and answers anything else with 400 and a plain-text message;
an empty result is HTTP 200 with an empty body (getCollectionDescriptions: ``[]``); without
a token the caller is the guest user and sees public collections only; getUpdatedSeries
reads ``fromDate`` as ``MM-DD-YYYY`` (anything else matches nothing, as MySQL's
STR_TO_DATE does) and lists public collections' series released after it. The token
endpoint answers like Keycloak behind ``/nbia-api/oauth/token``. ``/doi/<doi>`` redirects
to a citation service answering ``text/x-bibliography`` like DOI content negotiation.
Failures (429 with Retry-After, 5xx, tokens expiring) are switched per test.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

V4 = "/nbia-api/services/v4/"
ALLOWED: dict[str, set[str] | None] = {  # None: the endpoint does not check its parameters
    "getCollectionValues": {"format"},
    "getCollectionDescriptions": {"collectionName"},
    "getCollectionValuesAndCounts": None,
    "getPatient": {"Collection", "PatientId", "format"},
    "getPatientStudy": {"Collection", "PatientID", "StudyInstanceUID", "format"},
    "getSeries": {"Collection", "format", "PatientID", "StudyInstanceUID", "Modality",
                  "BodyPartExamined", "ManufacturerModelName", "Manufacturer",
                  "SeriesInstanceUID"},
    "getUpdatedSeries": {"fromDate", "format"},
}


@dataclass
class Collection:
    name: str
    series: list[Any]
    patients: list[Any] = field(default_factory=list)
    studies: list[Any] = field(default_factory=list)
    description: dict[str, Any] | None = None
    limited: bool = False


@dataclass
class Seen:
    method: str
    path: str
    params: dict[str, list[str]]
    headers: dict[str, str]
    form: dict[str, list[str]]


@dataclass
class Nbia:
    collections: list[Collection] = field(default_factory=list)
    users: dict[str, str] = field(default_factory=dict)
    token_lifetime: int = 7200
    refresh_lifetime: int = 86400
    expire_tokens_after: int | None = None  # API requests after which issued tokens expire
    fail: dict[str, list[tuple[int, str | None]]] = field(default_factory=dict)
    citations: dict[str, str] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)  # access token -> user
    refresh_tokens: dict[str, str] = field(default_factory=dict)
    api_requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def visible(self, user: str | None) -> list[Collection]:
        return [c for c in self.collections if not c.limited or user is not None]

    def seen(self, endpoint: str) -> list[Seen]:
        return [r for r in self.requests if r.path.endswith("/" + endpoint)]

    def token(self, user: str) -> dict[str, Any]:
        access, refresh = secrets.token_hex(8), secrets.token_hex(8)
        self.tokens[access], self.refresh_tokens[refresh] = user, user
        return {"access_token": access, "expires_in": self.token_lifetime,
                "refresh_expires_in": self.refresh_lifetime, "refresh_token": refresh,
                "token_type": "Bearer", "not-before-policy": 0,
                "session_state": secrets.token_hex(8), "scope": "openid email profile"}


def _released_after(row: Any, since: datetime) -> bool:
    if not isinstance(row, dict):
        return True  # a malformed row planted by a test: served as it is
    try:
        return datetime.strptime(str(row.get("DateReleased")), "%m-%d-%Y") > since
    except ValueError:
        return False


class _Handler(BaseHTTPRequestHandler):
    nbia: Nbia

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", ctype: str = "application/json",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        if body:
            self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        n = self.nbia
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode())
        url = urlparse(self.path)
        with n.lock:
            n.requests.append(Seen("POST", url.path, {}, dict(self.headers), form))
        if url.path != "/nbia-api/oauth/token":
            return self._send(404)
        one = {k: v[0] for k, v in form.items()}
        with n.lock:
            if one.get("grant_type") == "password" and one.get("username") in n.users \
                    and n.users[one["username"]] == one.get("password"):
                return self._send(200, json.dumps(n.token(one["username"])).encode())
            if one.get("grant_type") == "refresh_token" and one.get("refresh_token") in \
                    n.refresh_tokens:
                user = n.refresh_tokens.pop(one["refresh_token"])
                return self._send(200, json.dumps(n.token(user)).encode())
        self._send(401, json.dumps({"error": "invalid_grant",
                                    "error_description": "Invalid user credentials"}).encode())

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        n = self.nbia
        url = urlparse(self.path)
        params = parse_qs(url.query, keep_blank_values=True)
        with n.lock:
            n.requests.append(Seen("GET", url.path, params, dict(self.headers), {}))
        if url.path.startswith("/doi/"):
            return self._send(302, headers={"Location": "/citations/" + url.path[5:]})
        if url.path.startswith("/citations/"):
            return self._citation(unquote(url.path[len("/citations/"):]))
        if not url.path.startswith(V4):
            return self._send(404)
        self._api(url.path[len(V4):], params)

    def _citation(self, doi: str) -> None:
        text = self.nbia.citations.get(doi.lower())
        if text is None or "text/x-bibliography" not in (self.headers.get("Accept") or ""):
            return self._send(404, b"DOI not found", "text/plain")
        self._send(200, text.encode(), "text/x-bibliography; charset=utf-8")

    def _api(self, endpoint: str, params: dict[str, list[str]]) -> None:
        n = self.nbia
        with n.lock:
            queued = n.fail.get(endpoint) or n.fail.get("*")
            if queued:
                status, wait = queued.pop(0)
                return self._send(status, headers={"Retry-After": wait} if wait else None)
        if endpoint not in ALLOWED:
            return self._send(404)
        allowed = ALLOWED[endpoint]
        for name in params:
            if allowed is not None and name not in allowed:
                msg = (f"Invalid query parameter: '{name}'. Allowed parameters are: "
                       f"[{', '.join(sorted(allowed))}]")
                return self._send(400, msg.encode(), "text/plain")
        user, ok = self._user()
        if not ok:
            return self._send(401, b"Unauthorized", "text/plain")
        rows = self._rows(endpoint, {k: v[0] for k, v in params.items()}, user)
        if rows is None:
            return self._send(404)
        if not rows and endpoint != "getCollectionDescriptions":
            return self._send(200)  # v4: an empty result is an empty body
        self._send(200, json.dumps(rows).encode())

    def _user(self) -> tuple[str | None, bool]:
        n = self.nbia
        header = self.headers.get("Authorization")
        with n.lock:
            n.api_requests += 1
            if n.expire_tokens_after is not None and n.api_requests > n.expire_tokens_after:
                n.tokens.clear()  # every token issued so far has expired
                n.expire_tokens_after = None
            if header is None:
                return None, True
            user = n.tokens.get(header.removeprefix("Bearer ").strip())
            return user, user is not None

    def _rows(self, endpoint: str, p: dict[str, str], user: str | None) -> list[Any] | None:
        colls = self.nbia.visible(user)
        wanted = p.get("Collection", "").upper()
        mine = [c for c in colls if not wanted or c.name.upper() == wanted]
        if endpoint == "getCollectionValues":
            return [{"Collection": c.name} for c in colls]
        if endpoint == "getCollectionDescriptions":
            return [c.description for c in colls if c.description]
        if endpoint == "getCollectionValuesAndCounts":
            return [{"Collection": c.name, "Count": len(c.patients), "Authorized": 1}
                    for c in colls]
        if endpoint in ("getPatient", "getPatientStudy", "getSeries"):
            key = {"getPatient": "patients", "getPatientStudy": "studies"}.get(endpoint, "series")
            return [r for c in mine for r in getattr(c, key)]
        if endpoint == "getUpdatedSeries":
            try:
                since = datetime.strptime(p.get("fromDate", ""), "%m-%d-%Y")
            except ValueError:
                return []  # STR_TO_DATE gives NULL: nothing matches
            return [r for c in self.nbia.collections if not c.limited for r in c.series
                    if _released_after(r, since)]
        return None


@contextmanager
def nbia_server(nbia: Nbia) -> Iterator[str]:
    """Serve ``nbia`` on a free loopback port; yields the server root (``http://host:port``)."""
    handler = type("Handler", (_Handler,), {"nbia": nbia})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
