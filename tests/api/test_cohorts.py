"""Saved cohorts (``/api/v1/cohorts``): pinned to the generation they were saved on, the same
members after a republish, exactly what changed, and readable only with the saver's scope."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import pytest

from imaging_hub.access import parse_scope
from imaging_hub.config import Settings
from imaging_hub.schemas.records import SeriesRecord
from imaging_hub.search_ui.api import create_app
from imaging_hub.store.embedded import EmbeddedStore
from imaging_hub.tokens import TokenStore
from tests.api import export_data as data
from tests.api.access_data import AsgiClient


@pytest.fixture
def home(tmp_path: Path) -> Path:
    data.publish_home(tmp_path)
    return tmp_path


def _client(home: Path) -> AsgiClient:
    settings = Settings(home=home)
    return AsgiClient(create_app(EmbeddedStore(settings.index_dir), settings))


def _uids(recs: list[SeriesRecord]) -> set[str]:
    return {str(r.identifiers.series_uid) for r in recs}


def test_a_cohort_keeps_its_members_across_a_republish(home: Path) -> None:
    client = _client(home)
    recs = data.records()
    ct = {"filters": {"source": ["idc"], "modality": ["CT"]}}
    saved = client.post("/api/v1/cohorts", json={"name": "CT at IDC", **ct})
    assert saved.status_code == 201, saved.text
    cohort = saved.json()
    assert saved.headers["location"] == f"/api/v1/cohorts/{cohort['id']}"
    members = _uids([r for r in recs["idc"] if r.modality == "CT"])
    assert cohort["members"] == cohort["members_available"] == len(members)
    assert cohort["changes"] is None and cohort["query"] == ct
    stored = gzip.decompress((home / "cohorts" / cohort["id"] / "members.gz").read_bytes())
    assert stored.decode().split() == sorted(members)  # compact: sorted UIDs, gzip

    # IDC republished: three CT series gone from the index, one CT series left IDC but
    # TCIA still holds it, one CT series now MR, two new CT series
    idc, at_tcia = recs["idc"], _uids(recs["tcia"])
    cts = [r for r in idc if r.modality == "CT"]
    gone = [r for r in cts if str(r.identifiers.series_uid) not in at_tcia][:3]
    moved = next(r for r in cts if str(r.identifiers.series_uid) in at_tcia)
    flipped = next(r for r in cts if r not in gone and r is not moved)
    new = [data._idc(100 + i, "lungs").model_copy(update={"modality": "CT"}) for i in (0, 2)]
    kept = [r.model_copy(update={"modality": "MR"}) if r is flipped else r
            for r in idc if r not in gone and r is not moved]
    EmbeddedStore(home / "index").publish(data.harvest("idc", kept + new, run="run-2"), "idc")

    info = client.get(f"/api/v1/cohorts/{cohort['id']}").json()
    assert info["generation"] == cohort["generation"]  # still pinned to where it was saved
    changes = info["changes"]
    assert changes["generation"] != cohort["generation"]
    assert changes["members_now"] == len(members) - 3 - 1 - 1 + 2
    assert (changes["added"]["count"], set(changes["added"]["sample"])) == (2, _uids(new))
    assert changes["removed"]["count"] == 5
    assert set(changes["removed"]["sample"]) == _uids([*gone, moved, flipped])
    assert (changes["gone"]["count"], set(changes["gone"]["sample"])) == (3, _uids(gone))
    assert info["members_available"] == len(members) - 3

    # its export lists the saved members still in the index: not the new ones; the one
    # that is MR now, because it was a member; the one only TCIA holds now, from TCIA
    got = client.get(f"/api/v1/cohorts/{cohort['id']}/export?format=csv")
    assert got.status_code == 200
    rows = {r["series_uid"]: r for r in csv.DictReader(io.StringIO(got.text, newline=""))}
    assert set(rows) == members - _uids(gone)
    assert rows[str(flipped.identifiers.series_uid)]["modality"] == "MR"
    assert rows[str(moved.identifiers.series_uid)]["source"] == "tcia"
    assert got.headers["x-index-generation"] == changes["generation"]
    jsonl = client.get(f"/api/v1/cohorts/{cohort['id']}/export?format=jsonl").text
    trailer = json.loads(jsonl.splitlines()[-1])["_export"]
    assert trailer["cohort"] == cohort["id"] and trailer["query"] == ct
    # the same definition run now is another set
    again = client.post("/api/v1/cohorts", json={"name": "CT at IDC, now", **ct}).json()
    assert again["members"] == changes["members_now"]


def test_a_cohort_is_readable_only_with_the_scope_it_was_saved_with(home: Path) -> None:
    settings = Settings(home=home)
    tokens = TokenStore(settings.tokens_dir)
    clinician = tokens.create("clinician", parse_scope("controlled"))
    colleague = tokens.create("colleague", parse_scope("controlled"))
    other = tokens.create("other", parse_scope("registration"))
    client = _client(home)
    saved = client.post("/api/v1/cohorts", clinician,
                        json={"name": "clinic MR", "filters": {"source": ["pacs"]}}).json()
    assert saved["members"] == len(data.records()["pacs"]) and saved["scope"] == \
        "open,controlled"
    path = f"/api/v1/cohorts/{saved['id']}"
    assert client.get(path, colleague).status_code == 200  # same scope
    for token in (None, other):
        denied = client.get(path, token)
        assert denied.status_code == 404
        assert denied.json()["message"] == f"no cohort with id {saved['id']!r}"
        assert client.get(path + "/export?format=csv", token).status_code == 404
    rows = client.get(path + "/export?format=jsonl", colleague).text.splitlines()
    assert len(rows) == saved["members"] + 1


def test_unknown_ids_and_bad_bodies(home: Path) -> None:
    client = _client(home)
    for bad in ("nope", "../../index", "c" + "a" * 20, "c" + "A" * 20):
        got = client.get(f"/api/v1/cohorts/{bad}")
        assert got.status_code == 404, bad
    assert client.post("/api/v1/cohorts", json={"filters": {}}).status_code == 422
    assert client.post("/api/v1/cohorts", json={"name": "  "}).status_code == 422
    saved = client.post("/api/v1/cohorts", json={"name": "all"}).json()
    bad = client.get(f"/api/v1/cohorts/{saved['id']}/export?format=pdf")
    assert bad.status_code == 422 and "format" in bad.json()["message"]
    empty = client.post("/api/v1/cohorts", json={"name": "none",
                                                 "filters": {"collection": ["x"]}}).json()
    assert empty["members"] == 0
    got = client.get(f"/api/v1/cohorts/{empty['id']}/export?format=tcia")
    assert got.status_code == 200 and got.text.splitlines()[-1] == "ListOfSeriesToDownload="


def test_a_cohort_records_its_query_as_the_api_takes_it(
        home: Path) -> None:
    client = _client(home)
    body = {"name": "mixed", "text": "chest OR head",
            "filters": {"age": [{"gte": 40, "lte": 60}, None], "sex": ["F", None]},
            "where": {"not": {"field": "modality", "any_of": ["MR"]}}}
    saved = client.post("/api/v1/cohorts", json=body).json()
    assert saved["query"] == {k: v for k, v in body.items() if k != "name"}
    info = client.get(f"/api/v1/cohorts/{saved['id']}").json()
    assert info["members"] == saved["members"] > 0


def test_a_cohort_the_server_cannot_store_is_a_clear_503(home: Path) -> None:
    client = _client(home)
    (home / "cohorts").write_text("a file where the cohorts' folder would be")
    got = client.post("/api/v1/cohorts", json={"name": "CT", "filters": {"modality": ["CT"]}})
    assert got.status_code == 503, got.text
    assert got.json()["error"] == "storage_unavailable"
    assert "nothing was saved" in got.json()["message"]
    assert (home / "cohorts").read_text().startswith("a file")


@pytest.mark.parametrize("error", [ConnectionResetError(104, "Connection reset by peer"),
                                   TimeoutError("timed out")])
def test_a_connection_that_fails_is_not_called_a_storage_failure(
        home: Path, monkeypatch: pytest.MonkeyPatch, error: OSError) -> None:
    """Socket errors are OSErrors too; they are reported as what they are, and nothing
    claims that a file could not be written."""
    def refused(*_: object, **__: object) -> None:
        raise error

    client = _client(home)
    monkeypatch.setattr(EmbeddedStore, "search", refused)
    got = client.post("/api/v1/search", json={"filters": {"modality": ["CT"]}})
    assert got.status_code == 503, got.text
    assert got.json()["error"] == "connection_failed"
    assert "nothing was saved" not in got.json()["message"]
