"""JSON Schema export of the public models (``ihub schema``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from imaging_hub.schemas.dictionary import DictionaryResponse
from imaging_hub.schemas.query import (
    CohortQuery,
    CountResponse,
    SearchRequest,
    SearchResponse,
)
from imaging_hub.schemas.records import CollectionRecord, SeriesRecord
from imaging_hub.schemas.report import HarvestReport

MODELS: dict[str, type[BaseModel]] = {
    "series_record": SeriesRecord,
    "collection_record": CollectionRecord,
    "harvest_report": HarvestReport,
    "search_request": SearchRequest,
    "search_response": SearchResponse,
    "cohort_query": CohortQuery,
    "count_response": CountResponse,
    "data_dictionary": DictionaryResponse,
}


def all_schemas() -> dict[str, dict[str, Any]]:
    """Name → JSON Schema (draft 2020-12) of every public model."""
    return {name: model.model_json_schema() for name, model in MODELS.items()}
