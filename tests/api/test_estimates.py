"""Estimates for datasets known only at collection level (catalogue entries), on every
backend: the ``estimated_additional`` block of cohort counts equals the formula README and
search_ui/estimate.py state (published size x the fraction the filters select), is absent
when nothing can be estimated, names what an entry cannot answer, and never changes the
exact counts."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imaging_hub.config import Settings
from imaging_hub.indexers.catalog import CatalogIndexer
from imaging_hub.search_ui.api import create_app
from imaging_hub.store.embedded import EmbeddedStore
from tests.api.access_data import AsgiClient
from tests.store import synthetic as syn
from tests.store.backends import BACKENDS, store_factory

CATALOGUE = """
[[dataset]]
id = "decedents"
name = "Decedent CT database"
description = "Whole-body postmortem CT of decedents."
modalities = ["CT"]
body_regions = ["Whole body"]
subjects = 15000
studies = 16000
images = 900000
sex = { F = 6000, M = 9000 }
age_range = [18, 95]
access = "registration"
access_requirement = "Registration and a data use agreement."
landing_url = "https://decedents.example.org/"
checked = 2026-12-01

[[dataset]]
id = "brainmix"
name = "Brain MR and PET archive"
modalities = ["MR", "PT"]
conditions = ["Alzheimer's disease"]
subjects = 800
access = "controlled"
access_requirement = "An approved application."
landing_url = "https://brainmix.example.org/"
checked = 2026-12-01

[[dataset]]
id = "nosize"
name = "Radiographs without a published size"
modalities = ["CR"]
access = "registration"
access_requirement = "Registration."
landing_url = "https://nosize.example.org/"
checked = 2026-12-01
"""
DECEDENTS, BRAINMIX, NOSIZE = "gated:decedents", "gated:brainmix", "gated:nosize"


@pytest.fixture(scope="module", params=BACKENDS)
def client(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           ) -> Iterator[AsgiClient]:
    home = tmp_path_factory.mktemp("estimates")
    store = store_factory(request, home)()
    store.publish(syn.result("public", [syn.series("public", "lungs", f"P{i}", f"1.{i}",
                                                   f"1.1.{i}") for i in range(12)]))
    path = home / "catalogue.toml"
    path.write_text(CATALOGUE)
    store.publish(CatalogIndexer(name="gated", path=path).harvest("run-cat"), "catalog")
    yield AsgiClient(create_app(store, Settings(home=home)))
    store.close()


def _block(client: AsgiClient, filters: dict[str, Any], text: str | None = None,
           ) -> dict[str, Any] | None:
    got = client.post("/api/v1/cohort/count", json={"filters": filters, "text": text})
    assert got.status_code == 200, got.text
    body = got.json()
    searched = client.post("/api/v1/search", json={
        "filters": filters, "text": text, "counts": True, "page": {"size": 0}}).json()
    assert searched["counts"].get("estimated_additional") == body.get("estimated_additional")
    return body.get("estimated_additional")


def _datasets(block: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{d['source']}:{d['collection']}": d for d in block["datasets"]}


def _est(point: int | None, low: int, high: int) -> dict[str, Any]:
    return {"estimate": point, "low": low, "high": high}


def test_without_filters_each_dataset_counts_its_published_size(client: AsgiClient) -> None:
    block = _block(client, {})
    assert block is not None
    got = _datasets(block)
    assert set(got) == {DECEDENTS, BRAINMIX}
    assert got[DECEDENTS]["subjects"] == _est(15000, 15000, 15000)
    assert got[DECEDENTS]["studies"] == _est(16000, 16000, 16000)
    assert got[DECEDENTS]["instances"] == _est(900000, 900000, 900000)
    assert got[DECEDENTS]["fraction"] == 1.0
    assert got[BRAINMIX]["subjects"] == _est(800, 800, 800) and got[BRAINMIX]["studies"] is None
    assert block["subjects"] == _est(15800, 15800, 15800)
    assert block["studies"] is None  # brainmix publishes no study count
    assert block["not_estimated"] == {NOSIZE: "no published subject count"}
    exact = client.post("/api/v1/cohort/count", json={}).json()
    assert exact["subjects"]["count"] == 12  # the catalogue never enters the exact counts


def test_a_fraction_from_published_facts_scales_every_unit(client: AsgiClient) -> None:
    block = _block(client, {"sex": ["F"]})
    assert block is not None
    got = _datasets(block)
    share = 6000 / 15000
    assert got[DECEDENTS]["fraction"] == pytest.approx(share)
    assert got[DECEDENTS]["subjects"] == _est(6000, 6000, 6000)
    assert got[DECEDENTS]["studies"]["estimate"] == round(16000 * share)
    assert got[DECEDENTS]["instances"]["estimate"] == round(900000 * share)
    assert set(got) == {DECEDENTS}
    assert block["not_estimated"] == {BRAINMIX: "sex: not published for the dataset",
                                      NOSIZE: "sex: not published for the dataset"}
    # a modality the entry lists alone, and an age range covering its published ages: x 1
    both = _datasets(_block(client, {"sex": ["F"], "modality": ["CT"],  # type: ignore[arg-type]
                                     "age": {"gte": 10, "lte": 99}}))
    assert both[DECEDENTS]["subjects"] == _est(6000, 6000, 6000)


def test_an_unknown_fraction_gives_a_range_and_no_estimate(client: AsgiClient) -> None:
    got = _datasets(_block(client, {"sex": ["F"], "age": {"gte": 30, "lte": 40}}) or {})
    assert got[DECEDENTS]["subjects"] == _est(None, 0, 6000)
    assert got[DECEDENTS]["fraction"] is None
    mr = _block(client, {"modality": ["MR"]})
    assert mr is not None
    assert _datasets(mr)[BRAINMIX]["subjects"] == _est(None, 0, 800)
    assert set(_datasets(mr)) == {BRAINMIX}  # CT and CR only: none with MR
    assert mr["subjects"] == _est(None, 0, 800)


def test_collection_facts_and_text_select_datasets(client: AsgiClient) -> None:
    alz = _block(client, {"disease_type": ["Alzheimer's disease"]})
    assert alz is not None and set(_datasets(alz)) == {BRAINMIX}
    worded = _block(client, {}, text="postmortem")
    assert worded is not None and set(_datasets(worded)) == {DECEDENTS}
    assert "text" in worded["not_estimated"][BRAINMIX]


def test_absent_when_the_entries_cannot_answer_or_do_not_match(client: AsgiClient) -> None:
    assert _block(client, {"source": ["public"]}) is None
    unanswerable = _block(client, {"manufacturer": ["SIEMENS"]})
    assert unanswerable is not None and unanswerable["datasets"] == []
    assert unanswerable["subjects"] == _est(0, 0, 0)
    assert set(unanswerable["not_estimated"]) == {DECEDENTS, BRAINMIX, NOSIZE}
    assert all("manufacturer" in why for why in unanswerable["not_estimated"].values())


def test_ihub_count_prints_the_estimate_apart_from_the_counts(tmp_path: Path) -> None:
    """The CLI over the embedded store (the other backends answer the same JSON above)."""
    home = tmp_path
    store = EmbeddedStore(Settings(home=home).index_dir)
    path = home / "catalogue.toml"
    path.write_text(CATALOGUE)
    store.publish(CatalogIndexer(name="gated", path=path).harvest("run-cat"), "catalog")
    done = subprocess.run(
        [str(Path(sys.executable).parent / "ihub"), "count", "--filter", "sex=F"],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "IHUB_HOME": str(home), "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    assert "Estimated additional subjects (not counted" in done.stdout
    assert "gated:decedents (Decedent CT database): subjects 6,000" in done.stdout
    assert "gated:brainmix: not estimated — sex: not published for the dataset" in done.stdout


def test_a_catalogue_alone_costs_no_second_count(tmp_path: Path) -> None:
    """Catalogue datasets have no series: for a caller who may not see them, only counts in
    the collections unit can differ, so series-level questions are counted once."""
    from imaging_hub.access import anonymous
    from imaging_hub.audit import AuditLog
    from imaging_hub.schemas.query import CohortQuery, SearchRequest
    from imaging_hub.search_ui.guard import GuardedQueries
    from imaging_hub.search_ui.service import QueryService

    store = EmbeddedStore(Settings(home=tmp_path).index_dir)
    store.publish(syn.result("public", [syn.series("public", "lungs", "P1", "1.1", "1.1.1")]))
    path = tmp_path / "catalogue.toml"
    path.write_text(CATALOGUE)
    store.publish(CatalogIndexer(name="gated", path=path).harvest("run-cat"), "catalog")
    service = QueryService(store)
    calls: list[str] = []

    def spying(name: str) -> Any:
        real = getattr(service, name)

        def spy(*args: Any) -> Any:
            calls.append(name)
            return real(*args)
        return spy

    for name in ("count", "search"):
        setattr(service, name, spying(name))
    guarded = GuardedQueries(service, AuditLog(tmp_path / "audit"))
    got = guarded.count(CohortQuery(), anonymous())
    assert calls == ["count", "search"]  # one count; one look at the catalogue (kept)
    assert got.subjects.count == 1 and got.subjects.restricted is None
    assert got.estimated_additional is not None
    calls.clear()
    datasets = guarded.search(SearchRequest.model_validate(
        {"level": "collection", "page": {"size": 10}}), anonymous())
    assert calls == ["search", "search"]  # collections: counted twice, protected
    assert datasets.total.count == 1  # public's own collection; the catalogue's are gated
    assert datasets.total.restricted is not None and datasets.total.restricted.suppressed


def test_min_count_goes_from_sources_toml_to_the_index(tmp_path: Path) -> None:
    """A source's min_count is recorded at publish (staged with the run) and read back by
    the query layer as the threshold of numbers drawing on it."""
    from imaging_hub.harvest import run_harvest
    from imaging_hub.sources import validate_source

    path = tmp_path / "catalogue.toml"
    path.write_text(CATALOGUE)
    settings = Settings(home=tmp_path)
    config = validate_source("gated", {"type": "catalog", "path": str(path), "min_count": 25})
    run_harvest(settings, "gated", config)
    store = EmbeddedStore(settings.index_dir)
    assert [(v.source, v.min_count) for v in store.index_info().sources] == [("gated", 25)]
    client = AsgiClient(create_app(store, settings))
    got = client.post("/api/v1/search", json={"level": "collection", "page": {"size": 5}})
    assert got.json()["total"]["restricted"]["threshold"] == 25  # 2 registration + 1 controlled
