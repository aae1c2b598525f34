"""A text that matches nothing suggests the facet values holding its words."""

from __future__ import annotations

from pathlib import Path

from imaging_hub.schemas.query import SearchRequest
from imaging_hub.search_ui.service import QueryService
from imaging_hub.store.embedded import EmbeddedStore
from tests.store import synthetic as syn


def test_no_match_suggests_facet_values(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "index")
    data = syn.random_records(seed=3, n=60)
    store.publish(syn.result("alpha", data["alpha"], syn.COLLECTIONS))
    service = QueryService(store)
    got = service.search(SearchRequest(text="nc"))
    assert got.total.count == 0
    want = sum(r.access.license == "CC BY-NC 4.0" for r in data["alpha"])
    assert [(s.field, s.value, s.count) for s in got.suggestions] == [
        ("license", "CC BY-NC 4.0", want)]
    assert service.search(SearchRequest(text="chest")).suggestions == []  # it matched
