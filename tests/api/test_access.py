"""Access tiers through the HTTP API (in-process over httpx's ASGI transport): for every
scope, hits, record lookups, counts, facets and source listings against a brute-force
oracle; bad tokens; the audit log."""

from __future__ import annotations

from pathlib import Path

import pytest

from imaging_hub.access import parse_scope
from imaging_hub.audit import AuditLog
from imaging_hub.config import Settings
from imaging_hub.schemas.records import SeriesRecord
from imaging_hub.search_ui.api import create_app
from imaging_hub.store.embedded import EmbeddedStore
from imaging_hub.tokens import TokenStore
from tests.api.access_data import (
    SCOPES,
    AsgiClient,
    check_block,
    check_part,
    check_protected,
    counts_pred,
    listed_sources,
    listed_visible,
    publish,
)
from tests.store import synthetic as syn

Setup = tuple[AsgiClient, list[SeriesRecord], dict[str | None, str | None], Path]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    home = tmp_path_factory.mktemp("access-home")
    everything = publish(home)
    settings = Settings(home=home)
    tokens = TokenStore(settings.tokens_dir)
    issued: dict[str | None, str | None] = {None: None}
    for i, scope in enumerate(s for s in SCOPES if s is not None):
        issued[scope] = tokens.create(f"tok{i}", parse_scope(scope))
    app = create_app(EmbeddedStore(settings.index_dir), settings)
    return AsgiClient(app), everything, issued, home


def _visible(everything: list[SeriesRecord], scope: str | None) -> list[SeriesRecord]:
    pred = SCOPES[scope]
    return [r for r in everything if pred(r.access.tier, r.source, r.collection)]


def _all_hits(client: AsgiClient, token: str | None) -> list[dict[str, object]]:
    body: dict[str, object] = {"page": {"size": 100}}
    hits: list[dict[str, object]] = []
    while True:
        page = client.post("/api/v1/search", token, json=body)
        assert page.status_code == 200, page.text
        hits += page.json()["hits"]
        if not page.json()["next"]:
            return hits
        body["page"] = {"size": 100, "after": page.json()["next"]}


@pytest.mark.parametrize("scope", list(SCOPES))
def test_hits_and_lookups_are_what_the_scope_allows(setup: Setup, scope: str | None) -> None:
    client, everything, issued, _ = setup
    token, pred = issued[scope], SCOPES[scope]
    visible = _visible(everything, scope)
    hits = _all_hits(client, token)
    uids = [h["identifiers"]["series_uid"] for h in hits]  # type: ignore[index]
    assert set(uids) == {r.identifiers.series_uid for r in visible}
    seen = {(r.source, r.identifiers.series_uid) for r in visible}
    for h, uid in zip(hits, uids, strict=True):  # the hit and every host it names are visible
        assert (h["source"], uid) in seen
        assert {(s, uid) for s in h["hosts"]} <= seen  # type: ignore[attr-defined]
        if not any(r.source == "vault" for r in visible):
            assert "vault" not in str(h)  # nor in its links
    if not any(r.source == "vault" for r in visible):
        for level in ("study", "subject", "collection"):
            page = client.post("/api/v1/search", token, json={"level": level,
                                                               "page": {"size": 1000}})
            assert page.status_code == 200 and "vault" not in page.text, level
    for r in everything[::7]:
        got = client.get(f"/api/v1/records/{r.id}", token)
        allowed = pred(r.access.tier, r.source, r.collection)
        assert got.status_code == (200 if allowed else 404), (r.id, r.access.tier)
        if not allowed:  # a hidden record reads exactly like one that does not exist
            missing = client.get(f"/api/v1/records/{r.source}:9.9.9.9", token)
            assert got.json()["message"].replace(r.id, "X") == \
                missing.json()["message"].replace(f"{r.source}:9.9.9.9", "X")


@pytest.mark.parametrize("scope", list(SCOPES))
def test_counts_and_facets_protect_what_the_scope_may_not_see(
        setup: Setup, scope: str | None) -> None:
    """Counts and facets draw on every record the caller may count (sequestered only when
    granted): the part it may see one by one exact, the rest protected (README rules)."""
    client, everything, issued, _ = setup
    token = issued[scope]
    visible = _visible(everything, scope)
    countable = _countable(everything, scope)
    got = client.post("/api/v1/cohort/count", token, json={}).json()
    check_block(got, syn.oracle_counts(visible, everything),
                syn.oracle_counts(countable, everything))
    assert set(got["by_source"]) == {r.source for r in countable}
    for source, block in got["by_source"].items():
        check_block(block, syn.oracle_counts([r for r in visible if r.source == source],
                                             everything),
                    syn.oracle_counts([r for r in countable if r.source == source],
                                      everything))
    search = client.post("/api/v1/search", token, json={
        "facets": ["source", "access", "collection"], "counts": True, "page": {"size": 0}})
    answer = search.json()
    n_visible = len({r.identifiers.series_uid for r in visible})
    assert answer["total"]["count"] == n_visible  # what the caller may list
    check_part(answer["total"].get("restricted"),
               len({r.identifiers.series_uid for r in countable}) - n_visible)
    for name in ("source", "access", "collection"):
        buckets = {b["value"]: b for b in answer["facets"][name]}
        assert set(buckets) == {_value(r, name) for r in countable}, name
        for value, bucket in buckets.items():
            check_protected(bucket, _series(visible, name, value),
                            _series(countable, name, value))
    unfiltered = client.get("/api/v1/facets", token).json()["facets"]
    for bucket in unfiltered["access"]:
        check_protected(bucket, _series(visible, "access", bucket["value"]),
                        _series(countable, "access", bucket["value"]))


def _countable(everything: list[SeriesRecord], scope: str | None) -> list[SeriesRecord]:
    pred = counts_pred(scope)
    return [r for r in everything if pred(r.access.tier, r.source, r.collection)]


def _value(r: SeriesRecord, name: str) -> str:
    return {"source": r.source, "access": r.access.tier, "collection": r.collection}[name]


def _series(records: list[SeriesRecord], name: str, value: object) -> int:
    return len({r.identifiers.series_uid for r in records if _value(r, name) == value})


def test_numbers_over_records_a_caller_may_not_see_never_come_exact(setup: Setup) -> None:
    """Anonymous callers list open series only; every number holding gated records shows
    them protected: rounded to tens or suppressed, never the exact figure."""
    client, everything, _, _ = setup
    got = client.post("/api/v1/search", json={
        "facets": ["access", "modality"], "counts": True, "page": {"size": 1000}}).json()
    assert {h["access"]["tier"] for h in got["hits"]} == {"open"}
    assert got["total"]["count"] == len(got["hits"])
    gated = [r for r in everything if r.access.tier in ("registration", "controlled")]
    for bucket in got["facets"]["access"]:
        part = bucket.get("restricted")
        if bucket["value"] == "open":
            assert part is None
        else:
            assert part is not None and bucket["visible"] == 0
            assert part["count"] is None or part["count"] % 10 == 0
    exact_gated = len({r.identifiers.series_uid for r in gated})
    assert got["counts"]["series"]["restricted"]["count"] != exact_gated or exact_gated % 10 == 0


@pytest.mark.parametrize("scope", list(SCOPES))
def test_sources_are_listed_only_to_callers_who_may_count_them(
        setup: Setup, scope: str | None) -> None:
    client, everything, issued, _ = setup
    token = issued[scope]
    want = listed_sources(everything, scope)
    seen = listed_visible(everything, scope)
    listing = client.get("/api/v1/sources", token).json()
    assert {s["source"] for s in listing["sources"]} == set(want)
    for status in listing["sources"]:  # each source's series: seen in full exact, rest protected
        name = status["source"]
        value = (status.get("detail") or {}).get("series") or {"count": status["series"]}
        check_protected(value, seen[name], want[name])
        assert status["series"] == value["count"]
    assert {s["source"] for s in listing["index"]["sources"]} == set(want)
    for answer in (client.post("/api/v1/search", token, json={}),
                   client.post("/api/v1/cohort/count", token, json={}),
                   client.get("/api/v1/facets", token)):
        assert {s["source"] for s in answer.json()["index"]["sources"]} == set(want)
    if "vault" not in want:
        for path in ("/api/v1/sources", "/api/v1/facets"):
            assert "vault" not in client.get(path, token).text
        text = client.post("/api/v1/search", token, json={
            "facets": ["source"], "counts": True, "page": {"size": 1000}}).text
        assert "vault" not in text


@pytest.mark.parametrize(("header", "why"), [
    ("Bearer ihub_" + "A" * 43, "unknown token"),
    ("Bearer not-a-token", "malformed token"),
    ("Bearer ", "empty bearer token"),
    ("Bearer", "empty bearer token"),
    ("Basic YWxpY2U6c2VjcmV0", "must be 'Bearer <token>'"),
])
def test_bad_tokens_get_401_with_a_json_body(setup: Setup, header: str, why: str) -> None:
    client = setup[0]
    for method, path, body in (("POST", "/api/v1/search", {"filters": {"nope": [1]}}),
                               ("GET", "/api/v1/sources", None),
                               ("GET", "/api/v1/health", None)):
        got = client.request(method, path, headers={"Authorization": header}, json=body)
        assert got.status_code == 401, (path, got.text)
        assert got.json()["error"] == "invalid_token" and why in got.json()["message"]
        assert got.headers["www-authenticate"].startswith('Bearer realm="imaging-hub", '
                                                          'error="invalid_token"')
        assert "vault" not in got.text and "alpha" not in got.text


def test_a_revoked_token_gets_401_on_its_next_request(setup: Setup) -> None:
    client, _, _, home = setup
    tokens = TokenStore(Settings(home=home).tokens_dir)
    token = tokens.create("short-lived", parse_scope("controlled"))
    assert client.get("/api/v1/sources", token).status_code == 200
    tokens.revoke("short-lived")
    got = client.get("/api/v1/sources", token)
    assert got.status_code == 401 and "revoked" in got.json()["message"]


def test_queries_over_gated_data_are_audited_and_open_ones_are_not(setup: Setup) -> None:
    client, _, issued, home = setup
    audit = AuditLog(Settings(home=home).audit_dir)
    before = len(audit.lines())
    for scope in (None, "open"):
        client.post("/api/v1/cohort/count", issued[scope], json={"filters": {"source": ["beta"]}})
    assert len(audit.lines()) == before
    token = issued["controlled,source:alpha"]
    client.post("/api/v1/cohort/count", token, json={"filters": {"modality": ["CT"]}})
    client.get("/api/v1/records/alpha:9.1.3", token)
    lines = audit.lines()[before:]
    assert [(x["action"], x["caller"], x["origin"]) for x in lines] == [
        ("count", "tok5", "10.9.8.7"), ("record", "tok5", "10.9.8.7")]
    assert lines[0]["scope"] == "open,controlled,source:alpha"
    assert lines[0]["query"]["filters"]["modality"]
    assert lines[1]["query"] == {"id": "alpha:9.1.3"}
    logged = "".join(p.read_text() for p in (home / "audit").rglob("*.jsonl"))
    assert all(t not in logged for t in issued.values() if t)


def test_sequestered_records_do_not_change_what_others_count(tmp_path: Path) -> None:
    """Two open subjects at two sources, linked only by a sequestered source holding both
    their studies: publishing that source must not change the anonymous subject count."""
    settings = Settings(home=tmp_path)
    store = EmbeddedStore(settings.index_dir)
    store.publish(syn.result("alpha", [syn.series("alpha", "lungs", "A1", "S1", "1.1")]))
    store.publish(syn.result("beta", [syn.series("beta", "lungs", "B1", "S2", "2.1")]))
    client = AsgiClient(create_app(store, settings))
    before = client.post("/api/v1/cohort/count", json={}).json()["subjects"]["count"]
    vault = [syn.series("vault", "lungs", "V1", s, f"3.{i}") for i, s in enumerate(("S1", "S2"))]
    store.publish(syn.result("vault", [syn.sequestered(r) for r in vault]))
    after = client.post("/api/v1/cohort/count", json={}).json()["subjects"]["count"]
    assert before == after == 2


def test_kept_answers_are_per_scope_and_every_request_is_audited(tmp_path: Path) -> None:
    publish(tmp_path)
    settings = Settings(home=tmp_path)
    token = TokenStore(settings.tokens_dir).create("kept", parse_scope("controlled"))
    app = create_app(EmbeddedStore(settings.index_dir), settings)
    client = AsgiClient(app)
    body = {"facets": ["access"], "counts": True, "page": {"size": 3}}
    anon = [client.post("/api/v1/search", json=body).content for _ in range(2)]
    mine = [client.post("/api/v1/search", token, json=body).content for _ in range(2)]
    assert anon[0] == anon[1] and mine[0] == mine[1] and anon[0] != mine[0]
    assert (app.state.answers.hits, app.state.answers.misses) == (2, 2)
    lines = AuditLog(settings.audit_dir).lines()
    assert [(x["caller"], x["action"]) for x in lines] == [("kept", "search")] * 2


def test_an_unwritable_audit_log_refuses_audited_queries_only(tmp_path: Path) -> None:
    publish(tmp_path)
    settings = Settings(home=tmp_path)
    token = TokenStore(settings.tokens_dir).create("blocked", parse_scope("registration"))
    settings.audit_dir.write_text("a file where the audit folder belongs")
    client = AsgiClient(create_app(EmbeddedStore(settings.index_dir), settings))
    got = client.post("/api/v1/cohort/count", token, json={})
    assert got.status_code == 503 and got.json()["error"] == "audit_unavailable"
    assert client.post("/api/v1/cohort/count", json={}).status_code == 200
