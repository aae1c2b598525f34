"""``POST /api/v1/export`` (in-process over httpx's ASGI transport): every format parsed back
the way the tool that reads it parses it, citations in or beside every export, the caller's
visibility, empty exports and bad input."""

from __future__ import annotations

import csv
import io
import json
import re
import shlex
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from imaging_hub.access import parse_scope
from imaging_hub.audit import AuditLog
from imaging_hub.config import Settings
from imaging_hub.indexers.tcia import USAGE_POLICY
from imaging_hub.schemas.manifests import ExportSummary
from imaging_hub.schemas.records import SeriesRecord
from imaging_hub.search_ui.api import create_app
from imaging_hub.search_ui.manifests import COLUMNS
from imaging_hub.store.embedded import EmbeddedStore
from imaging_hub.tokens import TokenStore
from tests.api import export_data as data
from tests.api.access_data import AsgiClient

Setup = tuple[AsgiClient, dict[str, list[SeriesRecord]], str, Path]
UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
GUID = re.compile(r"^dg\.[A-Za-z0-9]+/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-"
                  r"[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    home = tmp_path_factory.mktemp("export-home")
    recs = data.publish_home(home)
    settings = Settings(home=home)
    token = TokenStore(settings.tokens_dir).create("clinician", parse_scope("controlled"))
    return AsgiClient(create_app(EmbeddedStore(settings.index_dir), settings)), recs, token, home


def _export(client: AsgiClient, fmt: str, token: str | None = None,
            **body: Any) -> tuple[str, dict[str, str]]:
    got = client.post("/api/v1/export", token, json={"format": fmt, **body})
    assert got.status_code == 200, got.text
    return got.text, dict(got.headers)


def _visible(recs: dict[str, list[SeriesRecord]], controlled: bool) -> dict[str, SeriesRecord]:
    """Series UID -> the record a hit shows (its first source in index order)."""
    out: dict[str, SeriesRecord] = {}
    for source in sorted(recs):
        for r in recs[source]:
            if r.access.tier == "open" or controlled:
                out.setdefault(str(r.identifiers.series_uid), r)
    return out


def _text(v: object) -> str:
    return "" if v is None else str(v)


def test_csv_parses_back_with_the_page_columns(setup: Setup) -> None:
    client, recs, _, home = setup
    text, headers = _export(client, "csv")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    want = _visible(recs, controlled=False)
    assert tuple(rows[0]) == COLUMNS
    assert {r["series_uid"] for r in rows} == set(want) and len(rows) == len(want)
    assert headers["x-index-generation"] == EmbeddedStore(home / "index").generation_name()
    assert headers["x-series-matched"] == str(len(want))
    assert headers["content-type"].startswith("text/csv")
    for row in rows:
        r = want[row["series_uid"]]
        assert (row["sex"], row["age_raw"], row["study_date"], row["body_part"]) == (
            _text(r.sex), _text(r.age_raw), _text(r.study_date), _text(r.body_part))
        assert (float(row["age"]) if row["age"] else None) == r.age
        assert row["series_description"] == _text(r.series_description)  # quoted, intact
        assert row["id"] == r.id and row["license"] == r.access.license
    shared = next(x for x in rows if x["series_uid"] == str(recs["idc"][0].identifiers.series_uid))
    assert shared["hosts"] == "idc tcia"  # the controlled PACS copy is not named
    assert shared["s3_url"].startswith("s3://idc-open-data/")
    assert "tcia policy " + USAGE_POLICY in shared["links"]
    assert "pacs" not in shared["links"]


def test_tsv_has_one_line_per_series_and_no_tab_inside_a_field(setup: Setup) -> None:
    client, recs, _, _ = setup
    text, _ = _export(client, "tsv", filters={"source": ["idc"]})
    lines = text.splitlines()
    rows = list(csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE))
    assert rows[0] == list(COLUMNS) and all(len(r) == len(COLUMNS) for r in rows)
    assert len(rows) - 1 == len(recs["idc"])
    by_uid = {r[COLUMNS.index("series_uid")]: r for r in rows[1:]}
    odd = by_uid[str(recs["idc"][1].identifiers.series_uid)]
    assert odd[COLUMNS.index("series_description")] == 'axial thin "1 mm" recon, soft'


def test_jsonl_lines_and_the_last_line_says_how_to_cite(setup: Setup) -> None:
    client, recs, _, _ = setup
    text, _ = _export(client, "jsonl", filters={"collection": ["lungs", "LUNGS"]})
    lines = [json.loads(x) for x in text.splitlines()]
    series, trailer = lines[:-1], lines[-1]
    want = {u for u, r in _visible(recs, False).items() if r.collection in ("lungs", "LUNGS")}
    assert {s["series_uid"] for s in series} == want and len(series) == len(want)
    assert all(set(s) == set(COLUMNS) for s in series)
    assert all(isinstance(s["links"], list) and isinstance(s["hosts"], list) for s in series)
    summary = ExportSummary.model_validate(trailer["_export"])
    assert summary.written == summary.matched == len(want)
    cited = {(c.source, c.collection): c for c in summary.citations}
    assert set(cited) == {("idc", "lungs"), ("tcia", "LUNGS")}
    assert cited[("idc", "lungs")].citation == data.CITATIONS[("idc", "lungs")][0]
    assert cited[("idc", "lungs")].doi == ["10.7937/LUNG-1"]
    assert sum(c.series for c in cited.values()) == len(want)
    assert [(p.host, p.url) for p in summary.usage_policies] == [("tcia", USAGE_POLICY)]
    assert summary.query == {"filters": {"collection": ["lungs", "LUNGS"]}}


def test_s5cmd_lines_follow_idc_manifests(setup: Setup) -> None:
    client, recs, _, _ = setup
    text, _ = _export(client, "s5cmd")
    commands, comments = [], []
    for line in text.splitlines():  # what 's5cmd run' does: trim, skip blanks and '#'
        line = line.strip()
        if not line:
            continue
        (comments if line.startswith("#") else commands).append(line)
    grammar = re.compile(r"^cp s3://[a-z0-9][a-z0-9.-]+/[0-9a-f-]{36}/\* \.$")
    assert commands and all(grammar.match(c) for c in commands)
    assert all(shlex.split(c)[0] == "cp" and len(shlex.split(c)) == 3 for c in commands)
    # idc-index reads the series UUID as the fourth path part of each line
    uuids = [re.match(r"(?:.*?/){3}([^/?#]+)", c).group(1) for c in commands]  # type: ignore[union-attr]
    assert sorted(uuids) == sorted(str(r.identifiers.crdc_series_uuid) for r in recs["idc"])
    visible = _visible(recs, False)
    trailer = " ".join(comments)
    assert f"{len(commands)} series listed of {len(visible)} matching" in trailer
    assert f"not listed: {len(visible) - len(commands)} (no_s3_location)" in trailer
    assert data.CITATIONS[("idc", "lungs")][0] in trailer and USAGE_POLICY in trailer
    assert comments[0].startswith("# imaging-hub export, index generation gen-")


def test_gen3_manifest_is_a_json_list_of_object_ids(setup: Setup) -> None:
    client, recs, _, _ = setup
    text, headers = _export(client, "gen3")
    entries = json.loads(text)
    assert headers["content-type"] == "application/json"
    assert isinstance(entries, list) and all(GUID.match(e["object_id"]) for e in entries)
    want = {f"dg.4DFC/{r.identifiers.crdc_series_uuid}" for r in recs["idc"]}
    want |= {r.identifiers.source_native["object_id"] for r in recs["midrc"]}
    assert {e["object_id"] for e in entries} == want and len(entries) == len(want)
    midrc = [e for e in entries if e["source"] == "midrc"]
    assert midrc and all(e["commons_url"] == data.COMMONS for e in midrc)
    assert all("commons_url" not in e for e in entries if e["source"] == "idc")
    assert all(e["subject_id"] for e in entries)


def test_tcia_manifest_reads_like_the_data_retriever_expects(setup: Setup) -> None:
    client, recs, _, _ = setup
    text, _ = _export(client, "tcia")
    lines = text.splitlines()
    keys = [x.split("=", 1)[0] for x in lines[:6]]
    assert keys == ["downloadServerUrl", "includeAnnotation", "noOfrRetry", "databasketId",
                    "manifestVersion", "ListOfSeriesToDownload"]
    assert lines[0].startswith("downloadServerUrl=https://")
    assert lines[5] == "ListOfSeriesToDownload=" and lines[4] == "manifestVersion=3.0"
    assert re.match(r"^databasketId=manifest-\d+\.tcia$", lines[3])
    uids = lines[6:]  # tcia_utils.manifestToList: everything after the six header lines
    assert all(UID.match(u) for u in uids)
    assert sorted(uids) == sorted(str(r.identifiers.series_uid) for r in recs["tcia"])


def test_dicomweb_rows_carry_well_formed_wado_rs_urls(setup: Setup) -> None:
    client, recs, token, _ = setup
    anonymous, _ = _export(client, "dicomweb")
    assert anonymous.splitlines() == ["source,wado_rs_root,study_uid,series_uid,url"]
    text, _ = _export(client, "dicomweb", token)
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert {r["series_uid"] for r in rows} == {str(r.identifiers.series_uid)
                                               for r in recs["pacs"]}
    for row in rows:
        url = urlparse(row["url"])
        assert (url.scheme, url.hostname, url.port) == ("http", "127.0.0.1", 8042)
        assert row["url"] == (f"{data.WADO_ROOT}/studies/{row['study_uid']}/series/"
                              f"{row['series_uid']}")
        assert row["wado_rs_root"] == data.WADO_ROOT and row["source"] == "pacs"


def test_the_caller_sees_only_what_its_scope_allows(setup: Setup) -> None:
    client, recs, token, home = setup
    anonymous = json.loads(_export(client, "jsonl")[0].splitlines()[-1])["_export"]
    gated_text, _ = _export(client, "jsonl", token)
    gated = [json.loads(x) for x in gated_text.splitlines()]
    assert anonymous["matched"] == len(_visible(recs, False))
    assert gated[-1]["_export"]["matched"] == len(_visible(recs, True))
    shared = next(s for s in gated[:-1]
                  if s["series_uid"] == str(recs["idc"][0].identifiers.series_uid))
    assert shared["hosts"] == ["idc", "pacs", "tcia"]
    assert any(c["source"] == "pacs" for c in gated[-1]["_export"]["citations"])
    assert not any(c["source"] == "pacs" for c in anonymous["citations"])
    logged = [x for x in AuditLog(Settings(home=home).audit_dir).lines()
              if x["action"] == "export"]
    assert logged and logged[-1]["caller"] == "clinician"  # gated callers are audited


def test_bundle_holds_the_manifest_the_citations_and_the_summary(setup: Setup) -> None:
    client, recs, _, _ = setup
    got = client.post("/api/v1/export", json={"format": "tcia", "bundle": True})
    assert got.status_code == 200 and got.headers["content-type"] == "application/zip"
    assert got.headers["content-disposition"].endswith('.zip"')
    archive = zipfile.ZipFile(io.BytesIO(got.content))
    assert archive.namelist() == ["manifest.tcia", "CITATION.md", "export.json"]
    manifest = archive.read("manifest.tcia").decode().splitlines()
    assert len(manifest[6:]) == len(recs["tcia"])
    summary = ExportSummary.model_validate_json(archive.read("export.json"))
    assert summary.written == len(recs["tcia"]) and summary.skipped["not_at_tcia"] > 0
    cite = archive.read("CITATION.md").decode()
    assert data.CITATIONS[("tcia", "LUNGS")][0] in cite and USAGE_POLICY in cite


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "s5cmd", "gen3", "tcia", "dicomweb"])
def test_an_export_matching_nothing_is_an_empty_manifest(setup: Setup, fmt: str) -> None:
    client, _, _, _ = setup
    got = client.post("/api/v1/export", json={"format": fmt,
                                              "filters": {"collection": ["none"]}})
    assert got.status_code == 200 and got.headers["x-series-matched"] == "0"
    text = got.text
    if fmt in ("csv", "tsv", "dicomweb"):
        assert len(text.splitlines()) == 1  # the header row
    elif fmt == "jsonl":
        assert json.loads(text)["_export"]["written"] == 0
    elif fmt == "gen3":
        assert json.loads(text) == []
    elif fmt == "tcia":
        assert text.splitlines()[-1] == "ListOfSeriesToDownload="
    else:
        assert all(x.startswith("#") for x in text.splitlines() if x.strip())


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"format": "xlsx"}, 422, "format"),
    ({}, 422, "format"),
    ({"format": "csv", "filters": {"colour": ["red"]}}, 422, "filters"),
    ({"format": "csv", "page": {"size": 5}}, 422, "page"),
    ({"format": "csv", "bundle": "maybe"}, 422, "bundle"),
])
def test_bad_input_is_a_4xx_naming_the_problem(setup: Setup, body: dict[str, Any],
                                                status: int, field: str) -> None:
    client, _, _, _ = setup
    got = client.post("/api/v1/export", json=body)
    assert got.status_code == status
    assert field in got.json()["message"]
    malformed = client.post("/api/v1/export", content=b"{format: csv",
                            headers={"content-type": "application/json"})
    assert malformed.status_code == 400
