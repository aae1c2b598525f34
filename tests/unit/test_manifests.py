"""Pure parts of exports: GUIDs read back from DRS URIs, queries recorded as the API takes
them, the zip writer on an unseekable sink."""

from __future__ import annotations

import io
import uuid
import zipfile
from typing import Any

import pytest

from imaging_hub.schemas.manifests import query_body
from imaging_hub.schemas.query import CohortQuery, SeriesHit
from imaging_hub.schemas.records import SeriesIdentifiers
from imaging_hub.search_ui.exports import _Sink
from imaging_hub.search_ui.manifests import guid
from tests.store import synthetic as syn


def _hit(**ids: Any) -> SeriesHit:
    r = syn.series("s", "c", "P", "1.2", "1.2.3")
    identifiers = SeriesIdentifiers(study_uid="1.2", series_uid="1.2.3", **ids)
    return SeriesHit(**r.model_copy(update={"identifiers": identifiers}).model_dump())


@pytest.mark.parametrize(("ids", "want"), [
    ({"drs_uri": "drs://dg.4DFC:2ec6a2a3-4cb4-4a3a-b5e7-1b4c7f0b6a11"},
     "dg.4DFC/2ec6a2a3-4cb4-4a3a-b5e7-1b4c7f0b6a11"),
    ({"drs_uri": "drs://data.example.org/0b2c"}, "0b2c"),
    ({"drs_uri": "drs://dg.MD1R:aa", "source_native": {"object_id": "dg.MD1R/aa"}},
     "dg.MD1R/aa"),
    ({"drs_uri": "https://not-drs.example/x"}, None),
    ({}, None),
])
def test_guid_of_a_series(ids: dict[str, Any], want: str | None) -> None:
    assert guid(_hit(**ids)) == want


@pytest.mark.parametrize("body", [
    {},
    {"text": "chest -low"},
    {"filters": {"modality": ["CT", "MR"], "sex": ["F", None]}},
    {"filters": {"age": [{"gte": 60, "lte": 69.5}, {"gt": 80}, None]}},
    {"filters": {"commercial_use": [True]}, "where": {"any": [
        {"field": "modality", "any_of": ["CT"]},
        {"not": {"all": [{"field": "sex", "any_of": [None]},
                         {"field": "age", "any_of": [{"lt": 10}]}]}}]}},
])
def test_a_query_is_recorded_as_the_api_takes_it(body: dict[str, Any]) -> None:
    query = CohortQuery.model_validate(body)
    recorded = query_body(query)
    assert recorded == body
    assert CohortQuery.model_validate(recorded) == query


def test_guppy_filters_are_recorded_in_native_form() -> None:
    query = CohortQuery.model_validate({"filters": {"AND": [{"IN": {"Modality": ["CT"]}}]}})
    assert query_body(query) == {"filters": {"modality": ["CT"]}}


def test_a_zip_written_to_an_unseekable_sink_reads_back() -> None:
    sink = _Sink()
    parts = []
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("manifest.csv", "w", force_zip64=True) as member:
            for i in range(50_000):  # not very compressible: deflate emits as it goes
                member.write(f"row {i} {uuid.uuid4()}\n".encode())
                if sink.pending > 64 * 1024:
                    parts.append(sink.take())
        archive.writestr("CITATION.md", "cite\n")
    parts.append(sink.take())
    assert len(parts) > 10  # streamed in pieces, never the whole archive at once
    assert max(len(p) for p in parts) < 256 * 1024
    got = zipfile.ZipFile(io.BytesIO(b"".join(parts)))
    assert got.testzip() is None
    assert got.read("manifest.csv").decode().splitlines()[-1].startswith("row 49999 ")
