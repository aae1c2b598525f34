"""Gen3 Guppy filters answered like Guppy would: (1) over synthetic records, against an
evaluator written from Guppy's semantics (not from schemas.guppy); (2) through a real
``ihub serve`` over the IDC slice, equal to the same question asked with native filters;
(3) errors as 400s naming the operator or field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from imaging_hub.schemas.query import CohortQuery, SearchRequest
from imaging_hub.schemas.records import SeriesRecord
from imaging_hub.store.base import IndexStore
from imaging_hub.store.embedded import EmbeddedStore
from tests.conftest import LiveServer
from tests.store import synthetic as syn

# Guppy field -> the record's values, and how the hub spells them (BIH / MIDRC names)
SEX = {"Female": "F", "Male": "M", "Other": "O"}


def values(r: SeriesRecord, field: str) -> list[Any]:
    coll = syn.COLLECTIONS.get(r.collection) if (r.source, r.collection) in \
        syn.COLLECTION_RECORDS else None
    got: list[Any] = {
        "Modality": [r.modality], "PatientSex": [r.sex], "PatientAge": [r.age],
        "collection_id": [r.collection], "disease_type": list(coll[1]) if coll else [],
        "study_year": [r.study_year],
    }[field]
    return [v for v in got if v is not None]


def guppy_eval(r: SeriesRecord, f: dict[str, Any]) -> bool:
    """Guppy's semantics (src/server/es/filter.js over Elasticsearch term queries)."""
    (op, body), = f.items()
    if op.lower() in ("and", "or"):
        parts = [guppy_eval(r, x) for x in body]
        return all(parts) if op.lower() == "and" else (any(parts) if parts else True)
    if op == "nested":
        return guppy_eval(r, {k: v for k, v in body.items() if k != "path"})
    (field, operand), = body.items()
    have = values(r, field)
    wanted = [SEX.get(v, v) if field == "PatientSex" else v
              for v in (operand if isinstance(operand, list) else [operand])]
    if op in ("=", "IN"):
        return any(v in have for v in wanted) or ("no data" in wanted and not have)
    if op == "!=" and field in ("PatientAge", "study_year"):
        return bool(have) and have[0] != wanted[0]
    if op in ("!=", "EXCLUDES_ANY"):
        return not any(v in have for v in wanted)
    if op == "CONTAINS_ALL":
        return all(v in have for v in wanted)
    if op == "EXCLUDES_ALL":
        return not all(v in have for v in wanted)
    compare = {">": float.__gt__, ">=": float.__ge__, "<": float.__lt__, "<=": float.__le__}
    return bool(have) and compare[op](float(have[0]), float(wanted[0]))


FILTERS: list[dict[str, Any]] = [
    {"AND": [{"IN": {"Modality": ["CT", "MR"]}}, {">=": {"PatientAge": 30}},
             {"<": {"PatientAge": 70}}]},
    {"OR": [{"=": {"Modality": "SM"}}, {"AND": [{"=": {"PatientSex": "Female"}},
                                                {"EXCLUDES_ANY": {"Modality": ["CT"]}}]}]},
    {"AND": [{"!=": {"PatientAge": 65.5}}, {"IN": {"collection_id": ["lungs", "brains"]}}]},
    {"AND": [{"!=": {"Modality": ["SEG", "PT"]}}, {"=": {"PatientSex": "no data"}}]},
    {"OR": [{"CONTAINS_ALL": {"disease_type": ["Lung Cancer", "Non-Cancer"]}},
            {"EXCLUDES_ALL": {"disease_type": ["Glioblastoma"]}}]},
    {"nested": {"path": "imaging_studies", "AND": [
        {"IN": {"Modality": ["PT", "SEG"]}}, {"OR": [{">": {"PatientAge": 80}},
                                                      {"IN": {"PatientSex": ["no data"]}}]}]}},
    {"AND": [{"IN": {"study_year": [1999, 2020]}}, {"!=": {"study_year": 2020}},
             {"EXCLUDES_ANY": {"disease_type": ["Breast Cancer"]}}]},
    {"AND": []},
]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[IndexStore, list[SeriesRecord]]:
    data = syn.random_records(seed=23)
    store = EmbeddedStore(Path(tmp_path_factory.mktemp("guppy")) / "index")
    store.publish(syn.result("alpha", data["alpha"], syn.COLLECTIONS))
    store.publish(syn.result("mirror", data["mirror"], ["lungs"]))
    return store, data["alpha"] + data["mirror"]


@pytest.mark.parametrize("guppy", FILTERS)
def test_guppy_filters_count_like_guppy_would(
        loaded: tuple[IndexStore, list[SeriesRecord]], guppy: dict[str, Any]) -> None:
    store, records = loaded
    hits = [r for r in records if guppy_eval(r, guppy)]
    got = store.count(CohortQuery.model_validate({"filters": guppy}))
    want = syn.oracle_counts(hits, records)
    assert {k: getattr(got, k).count for k in ("subjects", "studies", "series")} == {
        k: want[k] for k in ("subjects", "studies", "series")}
    page = store.search(SearchRequest.model_validate({"filters": guppy, "page": {"size": 0}}))
    assert page.total.count == want["series"]


# -- the IDC slice, through a real server -----------------------------------------------------
PAIRS: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({"AND": [{"IN": {"Modality": ["CT", "PT"]}}, {">=": {"PatientAge": 50}},
              {"<=": {"PatientAge": 70}}]},
     {"filters": {"modality": ["CT", "PT"], "age": {"gte": 50, "lte": 70}}}),
    ({"AND": [{"=": {"PatientSex": "Female"}},
              {"IN": {"collection_id": ["nsclc_radiogenomics", "cptac_lscc"]}}]},
     {"filters": {"sex": ["F"], "collection": ["nsclc_radiogenomics", "cptac_lscc"]}}),
    ({"OR": [{"=": {"modality": "SM"}}, {"AND": [{"=": {"body_part_examined": "CHEST"}},
                                                 {"EXCLUDES_ANY": {"sex": ["Male"]}}]}]},
     {"where": {"any": [{"field": "modality", "any_of": ["SM"]}, {"all": [
         {"field": "body_part", "any_of": ["CHEST"]},
         {"not": {"field": "sex", "any_of": ["M"]}}]}]}}),
    ({"AND": [{"!=": {"age_at_imaging": 60}},
              {"IN": {"project_id": ["tcga_chol", "nsclc_radiomics_genomics"]}}]},
     {"filters": {"age": [{"lt": 60}, {"gt": 60}],
                  "collection": ["tcga_chol", "nsclc_radiomics_genomics"]}}),
    ({"nested": {"path": "imaging_studies", "AND": [
        {"IN": {"study_modality": ["CT"]}}, {">": {"age_at_imaging": 70}}]}},
     {"filters": {"modality": ["CT"], "age": {"gt": 70}}}),
    ({"=": {"PatientSex": "no data"}}, {"filters": {"sex": [None]}}),
]


@pytest.fixture(scope="module")
def client(server: LiveServer) -> httpx.Client:
    return server.client()


@pytest.mark.parametrize(("guppy", "native"), PAIRS)
def test_guppy_answers_equal_native_answers_on_the_idc_slice(
        client: httpx.Client, guppy: dict[str, Any], native: dict[str, Any]) -> None:
    everything = client.post("/api/v1/cohort/count", json={}).json()["series"]["count"]
    g = client.post("/api/v1/cohort/count", json={"filters": guppy})
    n = client.post("/api/v1/cohort/count", json=native)
    assert g.status_code == n.status_code == 200, (g.text, n.text)
    assert g.json() == n.json()
    assert 0 < g.json()["series"]["count"] < everything  # the filter selects something
    facets = ["modality", "sex", "collection", "age"]
    g = client.post("/api/v1/search", json={"filters": guppy, "facets": facets,
                                            "page": {"size": 5}, "counts": True})
    n = client.post("/api/v1/search", json={**native, "facets": facets,
                                            "page": {"size": 5}, "counts": True})
    assert g.status_code == n.status_code == 200, (g.text, n.text)
    for key in ("total", "counts", "facets"):
        assert g.json()[key] == n.json()[key], key
    assert [h["id"] for h in g.json()["hits"]] == [h["id"] for h in n.json()["hits"]]


@pytest.mark.parametrize(("guppy", "code", "named"), [
    ({"AND": [{"IN": {"Modality": ["CT"]}}, {"excludeifany": {"sex": ["M"]}}]},
     "unsupported_filter", "excludeifany"),
    ({"IN": {"commons_name": ["IDC"]}}, "unsupported_filter", "commons_name"),
    ({"search": {"keyword": "lung"}}, "unsupported_filter", "search"),
    ({"AND": [{">=": {"PatientAge": "sixty"}}]}, "invalid_filter", "PatientAge"),
])
def test_unsupported_guppy_filters_are_400s_naming_the_culprit(
        client: httpx.Client, guppy: dict[str, Any], code: str, named: str) -> None:
    for path in ("/api/v1/search", "/api/v1/cohort/count"):
        got = client.post(path, json={"filters": guppy})
        assert got.status_code == 400, got.text
        body = got.json()
        assert body["error"] == code and named in body["message"]
        assert body["details"][0]["field"].startswith("filters.")


def test_cli_takes_a_guppy_filter_inline_or_from_a_file(idc_home: Path, tmp_path: Path) -> None:
    import json
    import os
    import subprocess

    from tests.conftest import VENV_BIN

    def count(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(VENV_BIN / "ihub"), "count", "--json", *args],
                              capture_output=True, text=True, timeout=120,
                              env={**os.environ, "IHUB_HOME": str(idc_home)})

    guppy = {"AND": [{"IN": {"Modality": ["CT", "PT"]}}, {">=": {"PatientAge": 50}}]}
    (tmp_path / "f.json").write_text(json.dumps(guppy))
    native = count("-f", "modality=CT,PT", "-f", "age=50..")
    inline = count("--guppy", json.dumps(guppy))
    from_file = count("--guppy", f"@{tmp_path / 'f.json'}")
    assert native.returncode == inline.returncode == from_file.returncode == 0, inline.stderr
    assert json.loads(native.stdout)["series"] == json.loads(inline.stdout)["series"] == \
        json.loads(from_file.stdout)["series"]
    bad = count("--guppy", json.dumps({"IN": {"commons_name": ["IDC"]}}))
    assert bad.returncode == 2 and "commons_name" in bad.stderr
    both = count("--guppy", json.dumps(guppy), "-f", "modality=CT")
    assert both.returncode == 2 and "not both" in both.stderr
