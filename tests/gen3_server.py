"""A programmable Gen3 commons on loopback: fence, Guppy (GraphQL and download), the
metadata service and indexd's DRS endpoint, answering like the real services.

Shapes checked against: uc-cdis/fence ``fence/blueprints/storage_creds`` (token exchange,
``/api`` and ``/cdis`` routes), uc-cdis/guppy ``src/server`` (schema, 10k window error,
download body and errors, tier access) and ``doc/queries.md``, Apollo Server's HTTP answers
(400 for a query that fails validation; 500 "Context creation failed" when Guppy's context
builder throws because arborist rejects the token), uc-cdis/metadata-service
``src/mds/query.py`` (GUID -> metadata, limit capped at 2000), uc-cdis/indexd
``indexd/drs/blueprint.py`` (DRS object, 404 ``{"msg", "status_code"}``).
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from tests.gen3_graphql import GraphQLSyntaxError, Selection, parse, resolve

WINDOW = 10_000


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def jwt(claims: dict[str, Any]) -> str:
    """An unsigned JWT-shaped token (the client only reads its claims)."""
    return f"{b64({'alg': 'RS256', 'typ': 'JWT'})}.{b64(claims)}.c2lnbmF0dXJl"


def api_key_file(issuer: str, exp: float | None = None) -> dict[str, str]:
    """What a commons' profile page hands out."""
    claims = {"iss": f"{issuer}/user", "pur": "api_key", "jti": "key-1", "sub": "7",
              "exp": int(exp if exp is not None else time.time() + 30 * 86400)}
    return {"api_key": jwt(claims), "key_id": "key-1"}


@dataclass
class Commons:
    """What the commons holds and how it misbehaves."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # Guppy type -> docs
    fields: dict[str, list[str]] = field(default_factory=dict)  # Guppy type -> ES fields
    mds: dict[str, Any] = field(default_factory=dict)  # GUID -> metadata
    drs: dict[str, dict[str, Any]] = field(default_factory=dict)  # GUID -> DRS object
    tier: str = "private"  # Guppy tierAccessLevel: private | regular | libre
    readable: set[str] = field(default_factory=set)  # authz paths the key may read
    public: set[str] = field(default_factory=set)  # authz paths anonymous callers may read
    api_key: str = ""
    token_lifetime: float = 3600.0
    cdis_only: bool = False  # an older fence without the /api route
    expire_token_after: int | None = None  # data requests one token serves before expiring
    cut_downloads: int = 0  # download answers cut off half-way (the connection closes)
    download_body: bytes | None = None  # sent as the download's answer instead of the rows
    fail: dict[str, list[tuple[int, str | None]]] = field(default_factory=dict)
    log: list[tuple[str, str, Any, str | None]] = field(default_factory=list)
    tokens: dict[str, int] = field(default_factory=dict)  # issued token -> requests served
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def issue(self, base: str) -> str:
        token = jwt({"iss": f"{base}/user", "pur": "access", "jti": f"t{next(self._ids)}",
                     "exp": int(time.time() + self.token_lifetime), "scope": ["openid"]})
        self.tokens[token] = 0
        return token

    def caller(self, header: str | None) -> tuple[str, set[str]]:
        """('anonymous' | 'key' | 'expired' | 'invalid', readable authz paths)."""
        if not header:
            return "anonymous", self.public
        token = header.split(" ", 1)[-1]
        if token not in self.tokens:
            return "invalid", set()
        if self.expire_token_after is not None and self.tokens[token] >= \
                self.expire_token_after:
            return "expired", set()
        self.tokens[token] += 1
        return "key", self.readable | self.public


def matches(row: dict[str, Any], flt: Any) -> bool:
    """Guppy's filter syntax (doc/queries.md): =/eq, in, !=, AND, OR."""
    if not flt:
        return True
    (op, arg), = flt.items()
    op = op.upper() if op.isalpha() else op
    if op in ("AND", "OR"):
        results = [matches(row, f) for f in arg]
        return all(results) if op == "AND" else any(results)
    (name, wanted), = arg.items()
    have = row.get(name)
    have_list = have if isinstance(have, list) else [have]
    if op in ("=", "EQ"):
        return wanted in have_list
    if op in ("IN", "CONTAINS_ANY"):
        return any(w in have_list for w in wanted)
    if op in ("!=", "EXCLUDES_ANY"):
        wanted = wanted if isinstance(wanted, list) else [wanted]
        return not any(w in have_list for w in wanted)
    raise ValueError(f"unsupported filter operator {op}")


def upper_first(name: str) -> str:
    return name[:1].upper() + name[1:]  # guppy utils firstLetterUpperCase


class _Handler(BaseHTTPRequestHandler):
    commons: Commons
    base: str

    def log_message(self, *args: Any) -> None:
        pass

    # -- plumbing ---------------------------------------------------------------------------
    def _send(self, status: int, body: Any, content_type: str = "application/json",
              headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else (
            body.encode() if isinstance(body, str) else json.dumps(body).encode())
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _fault(self, path: str) -> bool:
        for prefix, queue in self.commons.fail.items():
            if path.startswith(prefix) and queue:
                status, retry_after = queue.pop(0)
                self._send(status, {"error": "injected"},
                           headers={"Retry-After": retry_after} if retry_after else None)
                return True
        return False

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None
        except json.JSONDecodeError:
            return None

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        url = urlparse(self.path)
        path = url.path.strip("/")
        query = parse_qs(url.query)
        with self.commons.lock:
            self.commons.log.append(("GET", path, query, self.headers.get("Authorization")))
            if self._fault(path):
                return
        if path == "mds/metadata":
            self._mds(query)
        elif path.startswith("ga4gh/drs/v1/objects/"):
            guid = unquote(path.removeprefix("ga4gh/drs/v1/objects/"))
            obj = self.commons.drs.get(guid)
            if obj is None:
                self._send(404, {"msg": f"No record found for {guid}", "status_code": 404})
            else:
                self._send(200, obj)
        else:
            self._send(404, "<html><body>Not Found</body></html>", "text/html")

    def do_POST(self) -> None:  # noqa: N802
        path = urlparse(self.path).path.strip("/")
        body = self._body()
        auth = self.headers.get("Authorization")
        with self.commons.lock:
            self.commons.log.append(("POST", path, body, auth))
            if self._fault(path):
                return
            if path.startswith("user/credentials/"):
                self._fence(path, body)
            elif path == "guppy/graphql":
                self._graphql(body, auth)
            elif path == "guppy/download":
                self._download(body, auth)
            else:
                self._send(404, "<html><body>Not Found</body></html>", "text/html")

    # -- fence ------------------------------------------------------------------------------
    def _fence(self, path: str, body: Any) -> None:
        routes = ["user/credentials/cdis/access_token"]
        if not self.commons.cdis_only:
            routes.append("user/credentials/api/access_token")
        if path not in routes:
            self._send(404, "<html><body>404 Not Found</body></html>", "text/html")
            return
        key = body.get("api_key") if isinstance(body, dict) else None
        if not key:
            self._send(400, "<html><body>400 Bad Request: Please provide an api_key in "
                            "payload</body></html>", "text/html")
        elif key != self.commons.api_key:
            self._send(401, "<html><body>401 Unauthorized: Signature verification failed"
                            "</body></html>", "text/html")
        else:
            self._send(200, {"access_token": self.commons.issue(self.base)})

    # -- Guppy ------------------------------------------------------------------------------
    def _visible(self, type_: str, readable: set[str], accessibility: str | None = None,
                 ) -> list[dict[str, Any]]:
        """Rows the caller sees: all (libre), its own (private), or by ``accessibility``
        (regular: "all" counts every row in aggregations)."""
        rows = self.commons.rows.get(type_, [])
        if self.commons.tier == "libre" or (
                self.commons.tier == "regular" and accessibility == "all"):
            return rows
        return [r for r in rows if r.get("auth_resource_path") in readable]

    def _graphql(self, body: Any, auth: str | None) -> None:
        who, readable = self.commons.caller(auth)
        if who in ("expired", "invalid"):
            self._send(500, {"errors": [{
                "message": "Context creation failed: tried to get username/client ID from "
                           "jwt, but jwt decode failed: token is expired",
                "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]})
            return
        try:
            selections = parse(body["query"])
        except (GraphQLSyntaxError, KeyError, TypeError) as exc:
            self._send(400, {"errors": [{"message": str(exc),
                                         "extensions": {"code": "GRAPHQL_PARSE_FAILED"}}]})
            return
        variables = body.get("variables") or {}
        problems = self._validate(selections)
        if problems:
            self._send(400, {"errors": problems})
            return
        data: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        for sel in selections:
            if sel.name == "_mapping":
                data["_mapping"] = {c.name: self.commons.fields[c.name] for c in sel.children}
            elif sel.name == "_aggregation":
                data["_aggregation"] = {
                    c.name: {"_totalCount": len(self._select(c, variables, readable))}
                    for c in sel.children}
            else:
                data[sel.name] = self._raw(sel, variables, readable, errors)
        self._send(200, {"data": data, **({"errors": errors} if errors else {})})

    def _validate(self, selections: list[Selection]) -> list[dict[str, Any]]:
        problems = []

        def bad(name: str, on: str, sel: Selection) -> None:
            problems.append({
                "message": f'Cannot query field "{name}" on type "{on}".',
                "locations": [{"line": sel.line, "column": sel.column}],
                "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}})

        types = self.commons.fields
        for sel in selections:
            if sel.name == "_mapping":
                for c in sel.children:
                    if c.name not in types:
                        bad(c.name, "Mapping", c)
            elif sel.name == "_aggregation":
                for c in sel.children:
                    if c.name not in types:
                        bad(c.name, "Aggregation", c)
            elif sel.name not in types:
                bad(sel.name, "Query", sel)
            else:
                for c in sel.children:
                    if c.name not in types[sel.name]:
                        bad(c.name, upper_first(sel.name), c)
        return problems

    def _select(self, sel: Selection, variables: dict[str, Any],
                readable: set[str]) -> list[dict[str, Any]]:
        flt = resolve(sel.args.get("filter"), variables)
        acc = resolve(sel.args.get("accessibility"), variables) or "all"
        return [r for r in self._visible(sel.name, readable, acc) if matches(r, flt)]

    def _raw(self, sel: Selection, variables: dict[str, Any], readable: set[str],
             errors: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        first = resolve(sel.args.get("first"), variables)
        offset = resolve(sel.args.get("offset"), variables) or 0
        first = 10 if first is None else first
        if offset + first > WINDOW:
            errors.append({
                "message": f"Large graphql query forbidden for offset + size > {WINDOW},\n"
                           f"      offset = {offset} and size = {first},\n      please use "
                           "download endpoint for large data queries instead.",
                "locations": [{"line": sel.line, "column": sel.column}], "path": [sel.name],
                "extensions": {"code": "BAD_USER_INPUT"}})
            return None
        acc = resolve(sel.args.get("accessibility"), variables) or "all"
        if self.commons.tier == "regular" and acc == "all" and len(
                self._select(sel, variables, readable)) > len(self._visible(
                    sel.name, readable, "accessible")):
            errors.append({
                "message": "You don't have access to all the data you are querying. Try "
                           "using 'accessibility: accessible' in your query",
                "locations": [{"line": sel.line, "column": sel.column}], "path": [sel.name],
                "extensions": {"code": 401}})
            return None
        rows = _sorted(self._select(sel, variables, readable),
                       resolve(sel.args.get("sort"), variables))
        names = [c.name for c in sel.children]
        return [{n: r.get(n) for n in names} for r in rows[offset:offset + first]]

    def _download(self, body: Any, auth: str | None) -> None:
        who, readable = self.commons.caller(auth)
        if who in ("expired", "invalid"):
            self._send(401, "tried to get username/client ID from jwt, but jwt decode "
                            "failed: token is expired", "text/html; charset=utf-8")
            return
        type_ = body.get("type") if isinstance(body, dict) else None
        if type_ not in self.commons.fields:
            self._send(400, f'Invalid es type: "{type_}"', "text/html; charset=utf-8")
            return
        fields = body.get("fields") or self.commons.fields[type_]
        unknown = [f for f in fields if f not in self.commons.fields[type_]]
        if unknown:
            self._send(400, 'Invalid fields: "' + '", "'.join(unknown) + '"',
                       "text/html; charset=utf-8")
            return
        acc = body.get("accessibility") or "all"
        rows = [r for r in self._visible(type_, readable, acc)
                if matches(r, body.get("filter"))]
        if self.commons.tier == "regular" and acc != "accessible" and any(
                r.get("auth_resource_path") not in readable for r in rows):
            self._send(401, "You don't have access to all the data you are querying. Try "
                            "using 'accessibility: accessible' in your query",
                       "text/html; charset=utf-8")
            return
        rows = _sorted(rows, body.get("sort"))
        data = self.commons.download_body
        if data is None:
            data = json.dumps([{f: r[f] for f in fields if f in r} for r in rows]).encode()
        if self.commons.cut_downloads:  # the whole length announced, half of it sent
            self.commons.cut_downloads -= 1
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[:len(data) // 2])
            self.close_connection = True
            return
        self._send(200, data, "application/json; charset=utf-8")

    # -- metadata service -------------------------------------------------------------------
    def _mds(self, query: dict[str, list[str]]) -> None:
        limit = min(int(query.get("limit", ["10"])[0]), 2000)
        offset = int(query.get("offset", ["0"])[0])
        data = query.get("data", ["false"])[0].lower() == "true"
        filters = {k: v for k, v in query.items() if k not in ("data", "limit", "offset")}
        hits = [(g, m) for g, m in self.commons.mds.items()
                if all(isinstance(m, dict) and str(m.get(k)) in vs
                       for k, vs in filters.items())]
        page = hits[offset:offset + limit]
        self._send(200, dict(page) if data else [g for g, _ in page])


def _sorted(rows: list[dict[str, Any]], sort: Any) -> list[dict[str, Any]]:
    for item in reversed(sort or []):
        (name, direction), = item.items()
        present = [r for r in rows if r.get(name) is not None]
        missing = [r for r in rows if r.get(name) is None]
        rows = sorted(present, key=lambda r: str(r[name]), reverse=direction == "desc") \
            + missing
    return rows


@contextmanager
def gen3_server(commons: Commons) -> Iterator[str]:
    """Serve ``commons`` on a free loopback port; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    server.RequestHandlerClass = type("Handler", (_Handler,), {"commons": commons,
                                                               "base": base})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base
    finally:
        server.shutdown()
        server.server_close()
