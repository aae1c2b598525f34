"""Repeated questions are answered from the answers kept for the served generation; a new
generation is never answered with an old one's answers."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from imaging_hub.config import Settings
from imaging_hub.search_ui.api import create_app
from imaging_hub.store.embedded import EmbeddedStore
from tests.store import synthetic as syn


def test_repeated_answers_come_from_the_cache_until_the_generation_changes(
        tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "index")
    store.publish(syn.result("alpha", [syn.series("alpha", "lungs", "P1", "1.1", "1.1.1")]))
    app = create_app(store, Settings(home=tmp_path))
    client = TestClient(app)
    body = {"filters": {"modality": ["CT"]}, "facets": ["sex"], "counts": True}
    first = client.post("/api/v1/search", json=body)
    again = client.post("/api/v1/search", json=body)
    assert first.status_code == again.status_code == 200
    assert first.content == again.content
    assert (app.state.answers.hits, app.state.answers.misses) == (1, 1)
    store.publish(syn.result("alpha", [syn.series("alpha", "lungs", "P1", "1.1", "1.1.1"),
                                       syn.series("alpha", "lungs", "P2", "2.1", "2.1.1")],
                             run="run-2"))
    after = client.post("/api/v1/search", json=body).json()
    assert after["total"]["count"] == 2
    assert after["index"]["generation"] != first.json()["index"]["generation"]
    other = client.post("/api/v1/search", json={**body, "facets": ["modality"]}).json()
    assert other["facets"].keys() == {"modality"}  # a different question is not a hit
