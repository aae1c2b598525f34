"""HTTP API (FastAPI): ``/api/v1/...`` over an ``IndexStore``, plus the web UI at ``/``.

Bad input never reaches a 500: validation problems are 422 with a JSON body naming the field,
malformed JSON or bodies that are not UTF-8 are 400 (so is a Gen3 Guppy filter naming an
operator or field imaging-hub does not support), a bad bearer token 401, stale paging
tokens 409, an index that is not built yet (or an audit log that cannot be written) 503.
Every ``/api/v1`` endpoint resolves its caller (``search_ui.auth``) and asks through
``GuardedQueries`` (``search_ui.guard``), which applies the access policy. Responses are
serialised by pydantic directly (fast path), while the declared response models keep
``/openapi.json`` exact.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from imaging_hub import __version__
from imaging_hub.access import Caller
from imaging_hub.audit import AuditLog
from imaging_hub.config import Settings
from imaging_hub.errors import (
    AuditError,
    InvalidToken,
    NoIndexError,
    QueryError,
    StaleCursorError,
    StoreError,
)
from imaging_hub.indexers import vocab
from imaging_hub.schemas.dictionary import DictionaryResponse
from imaging_hub.schemas.guppy import GuppyFilterError
from imaging_hub.schemas.query import (
    CohortQuery,
    CountResponse,
    ErrorBody,
    ErrorDetail,
    FacetsResponse,
    RecordResponse,
    SearchRequest,
    SearchResponse,
    SourcesResponse,
    StoreHealth,
)
from imaging_hub.search_ui import api_exports
from imaging_hub.search_ui.auth import Who, www_authenticate
from imaging_hub.search_ui.cache import AnswerCache
from imaging_hub.search_ui.export_service import ExportService
from imaging_hub.search_ui.guard import GuardedQueries
from imaging_hub.search_ui.protect import Protection
from imaging_hub.search_ui.service import QueryService
from imaging_hub.store.base import IndexStore
from imaging_hub.tokens import TokenStore

STATIC = Path(__file__).parent / "static"
MAX_BODY_BYTES = 1_000_000
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 404, 409, 413, 422, 503)
}


def _json(model: BaseModel, status: int = 200) -> Response:
    return Response(model.model_dump_json(), status_code=status, media_type="application/json")


def _error(status: int, code: str, message: str, details: list[ErrorDetail] | None = None,
           ) -> Response:
    return _json(ErrorBody(error=code, message=message, details=details or []), status)


def app_from_env() -> FastAPI:
    """The app over the store the environment configures (``IHUB_STORE``, ...): what each
    worker process of ``ihub serve --workers N`` builds for itself."""
    from imaging_hub.store.factory import open_store

    settings = Settings.from_env()
    return create_app(open_store(settings), settings)


def create_app(store: IndexStore, settings: Settings, cache: bool = True) -> FastAPI:
    """The API over ``store`` (any backend), with tokens and the audit log under
    ``settings.home``; the UI's static files are served from ``search_ui/static``.
    ``cache``: repeated questions are answered from the answers kept for the generation
    being served (``search_ui/cache.py``), per caller scope, and still audited. Coded
    values are labelled, and the data dictionary built, with the vocabulary tables (shipped,
    amended by ``settings.home``/vocab)."""
    service = QueryService(store, vocab.load(settings.home))
    guarded = GuardedQueries(service, AuditLog(settings.audit_dir),
                             Protection.from_settings(settings))
    answers = AnswerCache() if cache else None

    def cached(kind: str, body: BaseModel | None, caller: Caller,
               compute: Callable[[], Any], http: Request) -> Response:
        """``compute()`` (a guarded query: it audits) or the answer kept for the same
        question asked with the same scope (then audited here, before it is sent), unless
        the caller asks for a fresh one (``Cache-Control: no-cache``)."""
        computed = False

        def run() -> tuple[bytes, str]:
            nonlocal computed
            computed = True
            result = compute()
            return result.model_dump_json().encode(), result.index.generation

        fresh = "no-cache" in http.headers.get("cache-control", "").lower()
        if answers is None or fresh:
            return Response(run()[0], media_type="application/json")
        key = (kind, body.model_dump_json() if body else "", str(caller.scope))
        data = answers.get_or_compute(key, run, store.generation_name())
        if not computed:
            guarded.audit.record(caller, kind, body)
        return Response(data, media_type="application/json")

    app = FastAPI(
        title="imaging-hub", version=__version__, responses=ERRORS,
        description="Federated metadata search over medical imaging repositories: "
        "faceted search, exact cohort counts, links back to the hosts.",
    )
    app.state.tokens = TokenStore(settings.tokens_dir)
    _install_error_handlers(app)
    app.state.answers = answers

    @app.middleware("http")
    async def limit_body(request: Request, call_next: Any) -> Any:
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > MAX_BODY_BYTES:
            return _error(413, "body_too_large", f"request body over {MAX_BODY_BYTES} bytes")
        return await call_next(request)

    @app.post("/api/v1/search", response_model=SearchResponse, tags=["search"])
    def search(request: SearchRequest, caller: Who, http: Request) -> Response:
        """Hits (series or collections), disjunctive facet counts and totals; optional
        exact cohort counts (``counts: true``)."""
        return cached("search", request, caller, lambda: guarded.search(request, caller),
                      http)

    @app.post("/api/v1/cohort/count", response_model=CountResponse, tags=["search"])
    def cohort_count(query: CohortQuery, caller: Who, http: Request) -> Response:
        """Exact distinct subjects, studies, series, instances and bytes, overall and by
        source and collection."""
        return cached("count", query, caller, lambda: guarded.count(query, caller), http)

    @app.get("/api/v1/facets", response_model=FacetsResponse, tags=["search"])
    def facets(caller: Who, http: Request) -> Response:
        """Searchable fields and their unfiltered value counts."""
        return cached("facets", None, caller, lambda: guarded.facets(caller), http)

    @app.get("/api/v1/sources", response_model=SourcesResponse, tags=["operations"])
    def sources(caller: Who) -> Response:
        """Published sources: version, last harvest, counts, rejects and warnings; the
        index store backend's health."""
        return _json(guarded.sources(caller))

    @app.get("/api/v1/records/{record_id}", response_model=RecordResponse, tags=["search"])
    def record(record_id: str, caller: Who) -> Response:
        """One record by id (``idc:<SeriesInstanceUID>``, ``idc:collection:<id>``), with
        links and the index generation it was read from."""
        found = guarded.record(record_id, caller)
        if found is None:
            return _error(404, "not_found", f"no record with id {record_id!r}")
        return _json(found)

    @app.get("/api/v1/dictionary", response_model=DictionaryResponse, tags=["search"])
    def data_dictionary(caller: Who) -> Response:
        """Every field (type, vocabulary, coverage per source) and every vocabulary
        (provenance, licence, values with the raw spellings mapped to them)."""
        return _json(guarded.dictionary(caller))

    @app.get("/api/v1/health", response_model=StoreHealth, tags=["operations"])
    def health(caller: Who) -> Response:
        """Liveness: the index store backend's state and the generation it serves (503
        when the backend cannot answer)."""
        state = service.health()
        return _json(state, 200 if state.status != "unavailable" else 503)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/dictionary", include_in_schema=False)
    def dictionary_page() -> FileResponse:
        return FileResponse(STATIC / "dictionary.html")

    api_exports.install(app, ExportService(store, guarded.audit, settings.cohorts_dir))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


# errors answered with their message alone (most specific first; FastAPI matches by MRO)
PLAIN_ERRORS: dict[type[Exception], tuple[int, str]] = {
    ValueError: (400, "bad_request"),
    StaleCursorError: (409, "stale_cursor"),
    AuditError: (503, "audit_unavailable"),
    NoIndexError: (503, "no_index"),
    StoreError: (503, "store_unavailable"),
}


# OSErrors that come from a connection, not from the server's own files
NETWORK_ERRORS = (ConnectionError, TimeoutError, socket.gaierror, ssl.SSLError)


def _plain_handler(status: int, code: str) -> Any:
    async def handler(_: Request, exc: Exception) -> Response:
        return _error(status, code, str(exc))
    return handler


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> Response:
        details, malformed = [], False
        for e in exc.errors():
            if e.get("type") in ("json_invalid", "value_error.jsondecode"):
                malformed = True
            if isinstance(guppy := e.get("ctx", {}).get("error"), GuppyFilterError):
                return _error(400, guppy.code, str(guppy),
                              [ErrorDetail(field=guppy.path, problem=str(guppy))])
            loc = [str(p) for p in e.get("loc", ()) if p != "body"]
            msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
            details.append(ErrorDetail(field=".".join(loc) or None, problem=msg))
        if malformed:
            return _error(400, "malformed_json", "request body is not valid JSON", details)
        first = details[0] if details else ErrorDetail(problem="invalid request")
        where = f" at '{first.field}'" if first.field else ""
        return _error(422, "invalid_request", f"{first.problem}{where}", details)

    @app.exception_handler(InvalidToken)
    async def unauthorized(_: Request, exc: InvalidToken) -> Response:
        response = _error(401, "invalid_token", str(exc))
        response.headers["WWW-Authenticate"] = www_authenticate(exc)
        return response

    @app.exception_handler(QueryError)
    async def bad_query(_: Request, exc: QueryError) -> Response:
        return _error(422, "invalid_request", str(exc),
                      [ErrorDetail(field=exc.field, problem=str(exc))])

    for exc_type, (status, code) in PLAIN_ERRORS.items():
        app.add_exception_handler(exc_type, _plain_handler(status, code))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        code = {400: "malformed_body", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "http_error")
        message = str(exc.detail)
        if exc.status_code == 400:
            message = f"request body could not be read as JSON text (UTF-8): {message}"
        return _error(exc.status_code, code, message)

    @app.exception_handler(UnicodeDecodeError)
    async def not_utf8(_: Request, exc: UnicodeDecodeError) -> Response:
        return _error(400, "malformed_body", f"request body is not UTF-8: {exc.reason}")

    @app.exception_handler(OSError)
    async def io_failed(_: Request, exc: OSError) -> Response:
        reason = exc.strerror or type(exc).__name__
        if isinstance(exc, NETWORK_ERRORS):  # a peer refused, reset, timed out or is unknown
            return _error(503, "connection_failed", "the server could not reach a service "
                          f"it depends on ({reason}); try again later")
        # the server's own files (saved cohorts, exports) could not be written or read:
        # a full disk, a home removed or made read-only; its paths are not the caller's
        return _error(503, "storage_unavailable", "the server could not write or read its "
                      f"files ({reason}); nothing was saved")

