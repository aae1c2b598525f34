"""The HTTP API through a real ``ihub serve`` process over a real IDC slice."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import IDC_SLICE, LiveServer

FACETS = ["source", "collection", "disease_type", "primary_site", "modality", "body_part",
          "sex", "age", "license", "access"]


@pytest.fixture(scope="module")
def client(server: LiveServer) -> httpx.Client:
    return server.client()


def test_search_returns_hits_with_links_facets_counts_and_provenance(
    client: httpx.Client,
) -> None:
    r = client.post("/api/v1/search", json={
        "filters": {"modality": ["CT"], "collection": ["ct_lymph_nodes"]}, "facets": FACETS,
        "page": {"size": 3}, "counts": True})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["index"]["generation"].startswith("gen-")
    assert body["index"]["sources"][0]["version"].startswith("IDC v")
    assert body["total"] == {"count": body["counts"]["series"]["count"], "exact": True,
                             "unit": "series"}
    assert len(body["hits"]) == 3 and body["next"]
    hit = body["hits"][0]
    assert hit["collection"] == "ct_lymph_nodes" and hit["modality"] == "CT"
    rels = {link["rel"] for link in hit["links"]}
    assert {"viewer", "doi", "drs", "download"} <= rels
    assert hit["provenance"]["source"] == "idc"
    assert set(body["facets"]) == set(FACETS)
    # disjunctive: the collection facet ignores the collection filter
    assert {b["value"] for b in body["facets"]["collection"]} > {"ct_lymph_nodes"}


def test_paging_through_http_visits_every_hit_once(client: httpx.Client) -> None:
    body = {"filters": {"collection": ["tcga_chol"]}, "page": {"size": 40}}
    ids: list[str] = []
    while True:
        page = client.post("/api/v1/search", json=body).json()
        ids += [h["id"] for h in page["hits"]]
        if not page["next"]:
            break
        body["page"] = {"size": 40, "after": page["next"]}
    assert len(ids) == len(set(ids)) == page["total"]["count"] > 40


def test_count_breaks_down_by_source_and_collection(client: httpx.Client) -> None:
    r = client.post("/api/v1/cohort/count", json={"filters": {"collection": list(IDC_SLICE)}})
    body = r.json()
    assert set(body["by_collection"]) == set(IDC_SLICE)
    assert body["by_source"]["idc"]["series"] == body["series"]
    assert sum(c["series"]["count"] for c in body["by_collection"].values()) == \
        body["series"]["count"]
    assert all(body[k]["exact"] for k in ("subjects", "studies", "series", "instances"))


def test_collection_level_and_record_lookup(client: httpx.Client) -> None:
    r = client.post("/api/v1/search", json={"level": "collection", "text": "lymph"})
    hits = r.json()["hits"]
    assert [h["collection"] for h in hits] == ["ct_lymph_nodes"]
    rec = client.get(f"/api/v1/records/{hits[0]['id']}").json()
    assert rec["record"]["level"] == "collection" and rec["record"]["links"]
    assert rec["index"]["generation"].startswith("gen-")
    series = client.post("/api/v1/search", json={"page": {"size": 1}}).json()["hits"][0]
    again = client.get(f"/api/v1/records/{series['id']}").json()["record"]
    assert again["identifiers"] == series["identifiers"]
    assert again["links"] == series["links"]
    missing = client.get("/api/v1/records/idc:nope")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def test_facets_sources_and_openapi(client: httpx.Client) -> None:
    facets = client.get("/api/v1/facets").json()
    assert {f["name"] for f in facets["fields"]} >= {"modality", "disease_type", "age"}
    assert sum(b["count"] for b in facets["facets"]["source"]) > 0
    sources = client.get("/api/v1/sources").json()["sources"]
    assert sources[0]["source"] == "idc" and sources[0]["series"] > 0
    assert "age_unparseable" in sources[0]["warnings"]
    spec = client.get("/openapi.json").json()
    assert {"/api/v1/search", "/api/v1/cohort/count", "/api/v1/facets", "/api/v1/sources",
            "/api/v1/records/{record_id}"} <= set(spec["paths"])
    assert client.get("/").status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (b'{"filters": {"colour": ["red"]}}', 422, "unknown filter field 'colour'"),
        (b'{"filters": {"age": {"gte": "old"}}}', 422, "valid number"),
        (b'{"filters": {"age": {"gte": 90, "lte": 10}}}', 422, "inverted range"),
        (b'{"text": "ct", ', 400, "not valid JSON"),
        (b'{"page": {"size": 5000000}}', 422, "page.size"),
        ('{"text": "caf\xe9"}'.encode("latin-1"), 400, "UTF-8"),
        (b'{"page": {"after": "bm90LWEtdG9rZW4"}}', 400, "not a token"),
        (b'{"filters": {"study_year": ["soon"]}}', 422, "takes numbers"),
        (b'{"sort": "collection"}', 422, "cannot sort"),
        (b"[1, 2]", 422, "valid dictionary"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_problem(
    client: httpx.Client, body: bytes, status: int, needle: str,
) -> None:
    r = client.post("/api/v1/search", content=body,
                    headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    err = r.json()
    assert needle in err["message"] + " ".join(d["problem"] + str(d["field"])
                                               for d in err["details"])


def test_oversized_body_is_refused(client: httpx.Client) -> None:
    r = client.post("/api/v1/search", content=b" " * 1_100_000,
                    headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == "body_too_large"


def test_dictionary_describes_fields_vocabularies_and_coverage(client: httpx.Client) -> None:
    r = client.get("/api/v1/dictionary")
    assert r.status_code == 200, r.text
    body = r.json()
    fields = {(f["level"], f["name"]): f for f in body["fields"]}
    region = fields[("series", "body_region")]
    assert region["harmonised"] and region["vocabulary"] == "body_region"
    assert region["kind"] == "keyword" and region["facet"]
    facets = client.get("/api/v1/facets").json()
    per_region = sum(b["count"] for b in facets["facets"]["body_region"]
                     if b["value"] is not None)  # not the 'not recorded' bucket
    series = client.post("/api/v1/cohort/count", json={}).json()["series"]["count"]
    # one region per record: the records with a region are the region facet's sum
    assert region["coverage"]["idc"] == {
        "records": series, "filled": per_region,
        "percent": round(100 * per_region / series, 1)}
    assert fields[("series", "crdc_series_uuid")]["coverage"] is None  # stored only
    vocabularies = {v["name"]: v for v in body["vocabularies"]}
    sources = {t["table"]: t for t in vocabularies["body_part"]["tables"]}
    assert "highdicom" in sources["body_part"]["source"] and sources["body_part"]["licence"]
    assert "etl_flow" in sources["body_part_alias"]["source"]
    lung = next(e for e in vocabularies["body_part"]["entries"] if e["value"] == "39607008")
    assert "LUNG" in lung["raw"] and lung["attributes"]["region"] == "CHEST"
    assert any("content from LOINC" in n for n in body["notices"])
    assert any("SNOMED" in n for n in body["notices"])


def test_facets_show_meanings_of_codes(client: httpx.Client) -> None:
    fields = {f["name"]: f for f in client.get("/api/v1/facets").json()["fields"]}
    assert fields["body_part_code"]["display"]["816094009"] == "Chest (816094009)"
    assert fields["body_region"]["display"]["CHEST+ABDOMEN+PELVIS"] == \
        "Chest, abdomen and pelvis"
    assert fields["modality"]["display"]["CT"] == "CT (Computed Tomography)"


def test_body_region_filter_matches_every_spelling_mapped_to_it(client: httpx.Client) -> None:
    from imaging_hub.indexers import vocab

    v = vocab.load()
    body = client.post("/api/v1/search", json={
        "filters": {"body_region": ["chest"]}, "facets": ["body_part"], "page": {"size": 0},
        "counts": True}).json()
    spellings = {b["value"]: b["count"] for b in body["facets"]["body_part"] if b["count"]}
    assert spellings and all(v.body_part(s)[2] == "CHEST" for s in spellings)  # type: ignore[index]
    by_raw = client.post("/api/v1/cohort/count", json={
        "filters": {"body_part": sorted(spellings)}}).json()
    assert by_raw["series"] == body["counts"]["series"]
