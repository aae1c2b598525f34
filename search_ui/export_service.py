"""What the API and the CLI call for exports and saved cohorts: the caller's visibility, the
audit log, then the store's stream (``search_ui.exports``) or the cohort folder
(``search_ui.cohorts``). Exports list records one by one, so they use ``caller.hits``."""

from __future__ import annotations

from pathlib import Path

from imaging_hub.access import Caller
from imaging_hub.audit import AuditLog
from imaging_hub.schemas.manifests import (
    CohortInfo,
    CohortSaveRequest,
    ExportOptions,
    ExportRequest,
)
from imaging_hub.schemas.query import CohortQuery
from imaging_hub.search_ui.cohorts import Cohorts
from imaging_hub.search_ui.exports import Export, start_export
from imaging_hub.store.base import IndexStore


def _query(body: CohortQuery) -> CohortQuery:
    """The search part of a request body (text, filters, where; validated already)."""
    return CohortQuery.model_construct(text=body.text, filters=body.filters, where=body.where)


class ExportService:
    """Exports and saved cohorts over one store; audited like every query."""

    def __init__(self, store: IndexStore, audit: AuditLog, cohorts_dir: Path) -> None:
        self.store = store
        self.audit = audit
        self.cohorts = Cohorts(cohorts_dir, store)

    def export(self, request: ExportRequest, caller: Caller) -> Export:
        """An export of every series the query selects that the caller may see. Raises
        ``AuditError`` and the store's errors (before any byte is produced)."""
        self.audit.record(caller, "export", request)
        query = _query(request)
        stream = self.store.records(query, caller.hits)
        return start_export(stream, request.format, caller, query, request.bundle)

    def save_cohort(self, request: CohortSaveRequest, caller: Caller) -> CohortInfo:
        self.audit.record(caller, "cohort_save", request)
        return self.cohorts.save(request.name, _query(request), caller)

    def cohort(self, cohort_id: str, caller: Caller) -> CohortInfo:
        """Raises ``CohortNotFound`` (also for a cohort saved with another scope)."""
        self.audit.record(caller, "cohort", {"id": cohort_id})
        return self.cohorts.info(cohort_id, caller)

    def export_cohort(self, cohort_id: str, options: ExportOptions, caller: Caller) -> Export:
        """The saved members still in the index (read from the generation served now),
        whatever the definition selects now. Raises ``CohortNotFound``."""
        self.audit.record(caller, "cohort_export", {"id": cohort_id,
                                                    "format": options.format})
        meta, members = self.cohorts.load(cohort_id, caller)
        stream = self.store.records(CohortQuery(), caller.hits,
                                    series_uids=[u.decode() for u in members.tolist()])
        return start_export(stream, options.format, caller,
                            CohortQuery.model_validate(meta.query), options.bundle,
                            cohort=meta.id)
