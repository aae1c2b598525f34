"""The TCIA connector against a local NBIA v4 server on a real socket (tests/tcia_server.py)."""

from __future__ import annotations

import copy
import json
import re
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from imaging_hub.config import Settings
from imaging_hub.errors import ConfigError, SourceUnavailable
from imaging_hub.harvest import run_harvest
from imaging_hub.indexers.base import HarvestResult, StudyDateWindow
from imaging_hub.indexers.http import HttpSettings, build_client
from imaging_hub.indexers.tcia import NBIA_PORTAL, TciaSource
from imaging_hub.indexers.tcia_client import NbiaClient, NbiaTokenAuth
from imaging_hub.schemas.columnar import collection_fields, series_fields
from imaging_hub.schemas.query import SearchRequest
from imaging_hub.schemas.records import CollectionRecord, SeriesRecord
from imaging_hub.search_ui import links
from imaging_hub.sources import build_indexer
from imaging_hub.store.embedded import EmbeddedStore
from tests.tcia_server import ALLOWED, Collection, Nbia, nbia_server

PAYLOADS = Path(__file__).parent / "payloads" / "tcia"
PUBLIC = "Pseudo-PHI-DICOM-Data"
LIMITED = "Head-Neck-Limited"  # a limited-access collection (synthetic rows)
NBIA_DATE = re.compile(r"^\d{2}-\d{2}-\d{4}$")


def load(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())


def public_collection() -> Collection:
    desc = next(d for d in load("getCollectionDescriptions.json") if d["collectionName"] == PUBLIC)
    return Collection(PUBLIC, load(f"getSeries_{PUBLIC}.json"), load(f"getPatient_{PUBLIC}.json"),
                      load(f"getPatientStudy_{PUBLIC}.json"), desc)


def synthetic(name: str, n: int, released: str = "07-13-2023", limited: bool = False,
              ) -> Collection:
    """``n`` series shaped like the saved rows, with their own UIDs, 4 series per study."""
    template = load(f"getSeries_{PUBLIC}.json")[0]
    series, studies, patients = [], {}, {}
    for i in range(n):
        study, patient = f"2.25.{abs(hash(name)) % 10**8}.{i // 4}", f"{name}-{i // 8:04d}"
        row = {**template, "SeriesInstanceUID": f"{study}.{i}", "StudyInstanceUID": study,
               "PatientID": patient, "Collection": name, "ImageCount": i % 50 + 1,
               "DateReleased": released}
        if limited:
            row.update(LicenseName="TCIA Limited Access License")
            row.pop("LicenseURI", None)
            row.pop("DataDescriptionURI", None)
        series.append(row)
        studies[study] = {"StudyInstanceUID": study, "StudyDate": row["StudyDate"],
                          "PatientID": patient, "Collection": name, "SeriesCount": 4,
                          "Authorized": 1}
        patients[patient] = {"PatientId": patient, "Collection": name, "Phantom": "NO",
                             "SpeciesCode": "337915000", "SpeciesDescription": "Homo sapiens",
                             "Authorized": 1}
    return Collection(name, series, list(patients.values()), list(studies.values()),
                      limited=limited)


def server_state(**extra: Any) -> Nbia:
    citation = (PAYLOADS / "citation_10.7937_s17z-r072.txt").read_text()
    extra.setdefault("citations", {"10.7937/s17z-r072": citation})
    return Nbia(collections=[public_collection(), synthetic(LIMITED, 6, limited=True)],
                users={"alice": "s3cret"}, **extra)


def config(root: str, **extra: Any) -> TciaSource:
    return TciaSource.model_validate({
        "type": "tcia", "url": f"{root}/nbia-api/services/v4", "citation_url": f"{root}/doi",
        "max_attempts": 3, "read_timeout": 10, **extra})


def harvest(root: str, window: StudyDateWindow | None = None, **extra: Any) -> HarvestResult:
    return build_indexer("tcia", config(root, **extra), window=window).harvest("run-1")


def series_records(result: HarvestResult) -> list[SeriesRecord]:
    return [SeriesRecord.model_validate(series_fields(r, None))
            for r in result.series.to_pylist()]


def collection_records(result: HarvestResult) -> dict[str, CollectionRecord]:
    recs = [CollectionRecord.model_validate(collection_fields(r))
            for r in result.collections.to_pylist()]
    return {r.collection: r for r in recs}


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("TCIA_USER", "alice")
    monkeypatch.setenv("TCIA_PASSWORD", "s3cret")
    return {"username_env": "TCIA_USER", "password_env": "TCIA_PASSWORD"}


def assert_only_known_parameters(nbia: Nbia) -> None:
    """Every API request named only its endpoint's parameters (v4 answers 400 otherwise)."""
    for seen in nbia.requests:
        if "/services/v4/" in seen.path:
            allowed = ALLOWED[seen.path.rsplit("/", 1)[1]]
            assert allowed is None or set(seen.params) <= allowed, seen


def test_guest_harvest_reads_public_collections_with_citation_and_links() -> None:
    nbia = server_state()
    with nbia_server(nbia) as root:
        result = harvest(root)
    recs = series_records(result)
    assert len(recs) == 8 and {r.collection for r in recs} == {PUBLIC}
    assert result.report.rejected == {} and result.scope is None
    assert {r.access.tier for r in recs} == {"open"}
    coll = collection_records(result)[PUBLIC]
    assert coll.subjects == 8 and coll.species == ["Homo sapiens"] and coll.doi == [
        "10.7937/s17z-r072"]
    assert coll.citation and coll.citation.startswith("Rutherford, M.") and "<i>" not in \
        coll.citation
    assert not any("Authorization" in s.headers for s in nbia.requests)
    assert_only_known_parameters(nbia)
    by_rel = {x.rel: x.href for x in links.series_links(recs[0], "tcia", result.link_params)}
    uid = recs[0].identifiers.series_uid
    assert by_rel["landing"] == f"{NBIA_PORTAL}?SeriesCriteria={uid}"
    assert by_rel["doi"] == "https://doi.org/10.7937/s17z-r072"
    assert by_rel["policy"] == \
        "https://www.cancerimagingarchive.net/data-usage-policies-and-restrictions/"
    coll_rels = {x.rel for x in links.collection_links(coll, "tcia", result.link_params)}
    assert coll_rels == {"landing", "doi", "policy"}


def test_credentials_add_limited_access_collections_as_registration(
        credentials: dict[str, str]) -> None:
    nbia = server_state()
    with nbia_server(nbia) as root:
        result = harvest(root, **credentials)
    tiers = {r.collection: r.access.tier for r in series_records(result)}
    assert tiers == {PUBLIC: "open", LIMITED: "registration"}
    assert collection_records(result)[LIMITED].access.tier == "registration"
    tokens = nbia.seen("token")
    assert len(tokens) == 1 and tokens[0].form["grant_type"] == ["password"]
    assert tokens[0].form["username"] == ["alice"] and tokens[0].form["client_id"] == ["nbia"]
    listing = nbia.seen("getCollectionValues")  # once with the token, once as the guest
    assert sorted("Authorization" in s.headers for s in listing) == [False, True]
    assert_only_known_parameters(nbia)


def test_access_key_overrides_every_tier(credentials: dict[str, str]) -> None:
    with nbia_server(server_state()) as root:
        result = harvest(root, access="controlled", **credentials)
    assert set(result.series.column("access").to_pylist()) == {"controlled"}


def test_expired_token_is_renewed_mid_harvest_and_the_harvest_continues(
        credentials: dict[str, str]) -> None:
    nbia = server_state(expire_tokens_after=4)
    with nbia_server(nbia) as root:
        result = harvest(root, concurrency=1, **credentials)
    assert result.series.num_rows == 8 + 6
    assert [s.form["grant_type"][0] for s in nbia.seen("token")] == ["password", "password"]
    assert any(s for s in nbia.requests if s.path.endswith("getSeries"))


def test_token_is_refreshed_before_it_expires() -> None:
    nbia = server_state(token_lifetime=600)
    now = [0.0]
    with nbia_server(nbia) as root:
        auth = NbiaTokenAuth(f"{root}/nbia-api/oauth/token", "alice", "s3cret",
                             clock=lambda: now[0])
        api = NbiaClient(build_client(f"{root}/nbia-api/services/v4", auth))
        assert api.collections() == [PUBLIC, LIMITED]
        now[0] = 590.0  # within the 30 s margin: renew first, with the refresh token
        assert api.collections() == [PUBLIC, LIMITED]
    assert [s.form["grant_type"][0] for s in nbia.seen("token")] == ["password", "refresh_token"]
    assert auth.issued == 2


def test_wrong_credentials_fail_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TCIA_USER", "alice")
    monkeypatch.setenv("TCIA_PASSWORD", "wrong")
    with nbia_server(server_state()) as root, pytest.raises(
            SourceUnavailable, match="refused the credentials.*username_env"):
        harvest(root, username_env="TCIA_USER", password_env="TCIA_PASSWORD")


def test_missing_credential_variable_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_VAR", raising=False)
    with pytest.raises(ConfigError, match="NO_SUCH_VAR"):
        build_indexer("tcia", config("http://127.0.0.1:9", username_env="NO_SUCH_VAR",
                                     password_env="NO_SUCH_VAR"))


def test_429_with_retry_after_and_5xx_are_retried() -> None:
    nbia = server_state(fail={"getSeries": [(429, "1"), (503, None)]})
    with nbia_server(nbia) as root:
        started = time.monotonic()
        result = harvest(root)
        elapsed = time.monotonic() - started
    assert result.series.num_rows == 8
    assert elapsed >= 0.9  # Retry-After: 1 was honoured
    assert len(nbia.seen("getSeries")) == 3


def test_a_server_that_keeps_failing_publishes_nothing(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    nbia = server_state()
    with nbia_server(nbia) as root:
        run_harvest(settings, "tcia", config(root))
        before = EmbeddedStore(settings.index_dir).sources().sources[0]
        nbia.fail["getSeries"] = [(502, None)] * 10
        with pytest.raises(SourceUnavailable, match="HTTP 502 after 3 attempts"):
            run_harvest(settings, "tcia", config(root), full=True)
    after = EmbeddedStore(settings.index_dir).sources().sources[0]
    assert after.run_id == before.run_id and after.series == 8


def test_malformed_records_are_rejected_and_reported_while_the_rest_is_indexed() -> None:
    nbia = server_state()
    rows = nbia.collections[0].series
    rows[0] = {**rows[0], "ImageCount": "174"}
    rows[1] = {k: v for k, v in rows[1].items() if k != "SeriesInstanceUID"}
    rows.append(["not", "an", "object"])
    with nbia_server(nbia) as root:
        result = harvest(root)
    assert result.series.num_rows == 6
    assert result.report.rejected == {"bad_instance_count": 1, "missing_series_uid": 1,
                                      "not_an_object": 1}
    assert result.report.read == 9


def test_the_fake_rejects_unknown_parameters_as_v4_does() -> None:
    with nbia_server(server_state()) as root:
        bad = httpx.get(f"{root}/nbia-api/services/v4/getSeries",
                        params={"Collection": PUBLIC, "limit": "10"})
        good = httpx.get(f"{root}/nbia-api/services/v4/getSeries", params={"Collection": PUBLIC})
    assert bad.status_code == 400 and "Invalid query parameter: 'limit'" in bad.text
    assert good.status_code == 200 and len(good.json()) == 8


def test_empty_body_is_an_empty_result() -> None:
    nbia = server_state()
    nbia.collections.append(Collection("Empty-Collection", []))
    with nbia_server(nbia) as root:
        empty = httpx.get(f"{root}/nbia-api/services/v4/getSeries",
                          params={"Collection": "Empty-Collection"})
        result = harvest(root)
    assert empty.status_code == 200 and empty.content == b""
    colls = collection_records(result)
    assert set(colls) == {PUBLIC, "Empty-Collection"} and result.series.num_rows == 8
    assert colls["Empty-Collection"].citation == \
        "Empty-Collection [Data set]. The Cancer Imaging Archive."


def test_large_collections_are_read_whole() -> None:
    nbia = server_state()
    nbia.collections += [synthetic(f"Big-{i}", 4000) for i in range(3)]
    with nbia_server(nbia) as root:
        result = harvest(root, concurrency=3)
    assert result.series.num_rows == 8 + 3 * 4000
    assert sum(result.series.column("instances").to_pylist()) == sum(
        r["ImageCount"] for c in nbia.collections if not c.limited for r in c.series)


def test_a_series_two_collections_list_is_kept_in_the_first() -> None:
    nbia = server_state()
    first, second = synthetic("A-Coll", 6), synthetic("B-Coll", 5)
    second.series.insert(2, {**first.series[4], "Collection": "B-Coll"})
    nbia.collections += [second, first]
    with nbia_server(nbia) as root:
        result = harvest(root)
    report = result.report
    assert report.rejected == {"duplicate_series_uid": 1} and report.read == 8 + 6 + 6
    assert [s.key for s in report.reject_samples] == [first.series[4]["SeriesInstanceUID"]]
    rows = [r for r in result.series.to_pylist() if r["collection"] != PUBLIC]
    assert [r["series_uid"] for r in rows] == [r["SeriesInstanceUID"] for r in
                                               first.series + second.series[:2]
                                               + second.series[3:]]
    assert {r["collection"] for r in rows[:6]} == {"A-Coll"}
    assert result.series.num_rows == report.series == 8 + 6 + 5


def test_unknown_configured_collection_is_a_config_error() -> None:
    with nbia_server(server_state()) as root, pytest.raises(ConfigError, match="No-Such"):
        harvest(root, collections=["pseudo-phi-dicom-data", "No-Such"])


def test_collections_key_matches_names_as_nbia_does_case_insensitively() -> None:
    nbia = server_state()
    nbia.collections.append(synthetic("Other", 4))
    with nbia_server(nbia) as root:
        result = harvest(root, collections=["pseudo-phi-dicom-data"])
    assert set(result.series.column("collection").to_pylist()) == {PUBLIC}
    assert {s.params["Collection"][0] for s in nbia.seen("getSeries")} == {PUBLIC}


def test_citation_service_down_is_a_warning_with_the_plain_attribution() -> None:
    nbia = server_state(citations={})
    with nbia_server(nbia) as root:
        result = harvest(root)
    assert result.report.warnings == {"citation_unavailable": 1}
    assert collection_records(result)[PUBLIC].citation == (
        f"{PUBLIC} [Data set]. The Cancer Imaging Archive. https://doi.org/10.7937/s17z-r072")


def test_updated_series_run_sends_mm_dd_yyyy_and_replaces_only_those_series() -> None:
    nbia = server_state()
    nbia.collections[0].series[0]["DateReleased"] = "11-02-2026"
    with nbia_server(nbia) as root:
        result = harvest(root, window=StudyDateWindow(start=date(2026, 11, 1)))
    (seen,) = nbia.seen("getUpdatedSeries")
    assert seen.params == {"fromDate": ["11-01-2026"]}
    assert result.series.num_rows == 1 and result.scope is not None
    assert result.scope.describe() == "1 updated series"
    assert not nbia.seen("getSeries")  # no limited collections without credentials


def test_incremental_runs_then_a_full_pass_reconciles_deletions(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    nbia = server_state()
    rows = nbia.collections[0].series
    with nbia_server(nbia) as root:
        first = run_harvest(settings, "tcia", config(root))
        assert first.series == 8
        today = datetime.now(UTC).date()
        new = copy.deepcopy(rows[0])
        new.update(SeriesInstanceUID=new["SeriesInstanceUID"] + ".9",
                   DateReleased=today.strftime("%m-%d-%Y"))
        rows.append(new)
        gone = rows.pop(1)  # deleted at TCIA: no feed says so
        second = run_harvest(settings, "tcia", config(root))  # planned from the cursor
        (seen,) = nbia.seen("getUpdatedSeries")
        assert NBIA_DATE.match(seen.params["fromDate"][0])
        assert seen.params["fromDate"][0] == (today - timedelta(days=1)).strftime("%m-%d-%Y")
        assert second.scope == "1 updated series" and second.added == 1
        store = EmbeddedStore(settings.index_dir)
        assert store.sources().sources[0].series == 9  # the deleted one still there
        third = run_harvest(settings, "tcia", config(root, max_drop_pct=50), full=True)
    assert third.scope is None and third.deleted == 1 and third.series == 8
    assert EmbeddedStore(settings.index_dir).sources().sources[0].series == 8
    assert _count(settings, gone["SeriesInstanceUID"]) == 0
    assert _count(settings, new["SeriesInstanceUID"]) == 1


def test_config_keys_are_checked() -> None:
    with pytest.raises(ValueError, match="username_env and password_env go together"):
        TciaSource.model_validate({"type": "tcia", "username_env": "U"})
    with pytest.raises(ValueError, match="url must start with http"):
        TciaSource.model_validate({"type": "tcia", "url": "nbia.example/v4"})
    cfg = TciaSource.model_validate({"type": "tcia"})
    assert cfg.url == "https://nbia.cancerimagingarchive.net/nbia-api/services/v4"
    assert cfg.token_endpoint() == "https://nbia.cancerimagingarchive.net/nbia-api/oauth/token"
    assert cfg.full_every_days == 7 and cfg.min_count == 10 and cfg.access is None
    assert HttpSettings().max_attempts >= 1



def _count(settings: Settings, series_uid: str) -> int:
    request = SearchRequest.model_validate({"filters": {"series_uid": [series_uid]}})
    return EmbeddedStore(settings.index_dir).search(request).total.count
