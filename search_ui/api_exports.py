"""HTTP routes of exports and saved cohorts (installed by ``search_ui.api``).

    POST /api/v1/export                   search body + format -> the manifest, streamed
    POST /api/v1/cohorts                  search body + name -> 201, the saved cohort
    GET  /api/v1/cohorts/{id}             the cohort, its generation, what changed since
    GET  /api/v1/cohorts/{id}/export      ?format=...&bundle=... -> its members, streamed

A streamed export's status (200) and headers (``X-Index-Generation``, ``X-Series-Matched``)
are sent once its stream is open: problems known before that get their status (422 bad
input, 404 unknown cohort, 503 no index / store down); a failure while streaming breaks the
response off (an incomplete body), after a last error line in jsonl and s5cmd. An export
matching nothing is a 200 with a valid, empty manifest (the format's header alone).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import Response, StreamingResponse

from imaging_hub.errors import CohortNotFound
from imaging_hub.schemas.manifests import (
    FORMAT_DOC,
    CohortInfo,
    CohortSaveRequest,
    ExportFormat,
    ExportOptions,
    ExportRequest,
)
from imaging_hub.schemas.query import ErrorBody
from imaging_hub.search_ui.auth import Who
from imaging_hub.search_ui.export_service import ExportService
from imaging_hub.search_ui.exports import Export

MEDIA = ("text/csv", "text/tab-separated-values", "application/x-ndjson", "text/plain",
         "application/json", "application/zip")
STREAMED: dict[int | str, dict[str, Any]] = {
    200: {"description": "The manifest, streamed (" + FORMAT_DOC + ")",
          "content": {m: {"schema": {"type": "string"}} for m in MEDIA},
          "headers": {"X-Index-Generation": {"schema": {"type": "string"}},
                      "X-Series-Matched": {"schema": {"type": "integer"}}}},
    404: {"model": ErrorBody}}


def _streamed(export: Export) -> StreamingResponse:
    return StreamingResponse(export.body(), media_type=export.media_type,
                             headers=export.headers())


def install(app: FastAPI, service: ExportService) -> None:
    """Add the export and cohort routes to ``app``."""

    @app.exception_handler(CohortNotFound)
    async def not_found(_: Request, exc: CohortNotFound) -> Response:
        body = ErrorBody(error="not_found", message=str(exc))
        return Response(body.model_dump_json(), status_code=404, media_type="application/json")

    @app.post("/api/v1/export", response_class=StreamingResponse, responses=STREAMED,
              tags=["export"])
    def export(request: ExportRequest, caller: Who) -> StreamingResponse:
        """Every series the search selects (no row cap), in one manifest format, read from
        the generation served when the export starts."""
        return _streamed(service.export(request, caller))

    @app.post("/api/v1/cohorts", response_model=CohortInfo, status_code=201,
              tags=["export"])
    def save_cohort(request: CohortSaveRequest, caller: Who) -> Response:
        """Save the series the search selects now, pinned to this generation."""
        info = service.save_cohort(request, caller)
        return Response(info.model_dump_json(), status_code=201,
                        media_type="application/json",
                        headers={"Location": f"/api/v1/cohorts/{info.id}"})

    @app.get("/api/v1/cohorts/{cohort_id}", response_model=CohortInfo, tags=["export"],
             responses={404: {"model": ErrorBody}})
    def cohort(cohort_id: str, caller: Who) -> Response:
        """A saved cohort: definition, generation, members, and what changed since."""
        return Response(service.cohort(cohort_id, caller).model_dump_json(),
                        media_type="application/json")

    @app.get("/api/v1/cohorts/{cohort_id}/export", response_class=StreamingResponse,
             responses=STREAMED, tags=["export"])
    def export_cohort(cohort_id: str, caller: Who,
                      format: Annotated[ExportFormat, Query(description=FORMAT_DOC)],
                      bundle: bool = False) -> StreamingResponse:
        """The saved members still in the index, whatever the definition selects now."""
        options = ExportOptions(format=format, bundle=bundle)
        return _streamed(service.export_cohort(cohort_id, options, caller))
