"""The search page in a real Chromium against ``ihub serve`` over the IDC slice: counts shown
equal the API's, facet clicks, the URL as state (back button, shared links), hit links,
levels by keyboard, grouped results, manifest export, and a screenshot for CI."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from playwright.sync_api import Browser, Page, expect

from tests.conftest import IDC_SLICE, LiveServer
from tests.ui.conftest import (
    ARTIFACTS,
    VIEWPORT,
    api_counts,
    facet_map,
    open_page,
    settle,
    shown_counts,
    shown_facet,
)

FACETS = ["source", "collection", "disease_type", "primary_site", "modality", "body_part",
          "sex", "age", "license", "access", "commercial_use", "species", "manufacturer"]


def search(client: httpx.Client, **body: Any) -> dict[str, Any]:
    r = client.post("/api/v1/search", json={"facets": FACETS, "counts": True,
                                            "page": {"size": 50}, **body})
    assert r.status_code == 200, r.text
    return r.json()


def query(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def checkbox(page: Page, facet: str, label: str) -> Any:
    """A facet value's checkbox, found the way a screen reader user would: by the group's
    legend and the label text."""
    legend = {"modality": "Modality", "sex": "Sex", "license": "Licence",
              "collection": "Collection", "age": "Age at imaging (years)"}[facet]
    return page.get_by_role("group", name=legend).get_by_role(
        "checkbox", name=re.compile(rf"^{re.escape(label)}\b"))


def test_first_render_shows_the_apis_counts_facets_and_levels(
        page: Page, client: httpx.Client, ui_timings: dict[str, list[float]]) -> None:
    open_page(page)
    ui_timings["first_render_ms"].append(page.evaluate("window.__ihubTimings.firstRender"))
    assert shown_counts(page) == api_counts(client, None, {})
    api = search(client)
    for name in ("modality", "collection", "license", "sex"):
        assert shown_facet(page, name) == facet_map(api["facets"][name]), name
    # tab totals: datasets from the collection facet, the rest from the exact counts
    totals = {lvl: int(page.locator(f"#tab-{lvl} .tab-count").get_attribute("data-total") or -1)
              for lvl in ("collection", "subject", "study", "series")}
    assert totals == {"collection": len(IDC_SLICE), "subject": api["counts"]["subjects"]["count"],
                      "study": api["counts"]["studies"]["count"],
                      "series": api["counts"]["series"]["count"]}
    expect(page.locator("#cohort-summary")).to_contain_text("exact counts")
    expect(page.locator("#index-info")).to_contain_text(api["index"]["generation"])


def test_facet_clicks_update_url_and_counts_and_back_button_restores(
        page: Page, client: httpx.Client, ui_timings: dict[str, list[float]]) -> None:
    open_page(page)
    all_counts = shown_counts(page)
    settle(page, lambda: checkbox(page, "modality", "CT").check())
    assert query(page) == {"modality": ["CT"]}
    ct = api_counts(client, None, {"modality": ["CT"]})
    assert shown_counts(page) == ct != all_counts
    # disjunctive: the modality facet still lists the other modalities with their counts
    assert shown_facet(page, "modality") == facet_map(
        search(client, filters={"modality": ["CT"]})["facets"]["modality"])

    settle(page, lambda: checkbox(page, "sex", "female").check())
    assert query(page) == {"modality": ["CT"], "sex": ["F"]}
    assert shown_counts(page) == api_counts(client, None, {"modality": ["CT"], "sex": ["F"]})
    for cause in page.evaluate("window.__ihubTimings.updates"):
        ui_timings["facet_click_to_counts_ms"].append(cause["ms"])

    settle(page, page.go_back)
    assert query(page) == {"modality": ["CT"]}
    assert shown_counts(page) == ct
    expect(checkbox(page, "sex", "female")).not_to_be_checked()
    expect(checkbox(page, "modality", "CT")).to_be_checked()
    settle(page, page.go_back)
    assert query(page) == {} and shown_counts(page) == all_counts
    settle(page, page.go_forward)
    assert query(page) == {"modality": ["CT"]} and shown_counts(page) == ct


def test_shared_url_opens_the_same_state_in_a_new_browser(
        page: Page, browser: Browser, server: LiveServer, client: httpx.Client) -> None:
    open_page(page)
    page.fill("#q", "chest")
    settle(page, lambda: page.press("#q", "Enter"))
    settle(page, lambda: checkbox(page, "modality", "CT").check())
    page.fill("#age_gte", "60")
    settle(page, lambda: page.press("#age_gte", "Enter"))
    settle(page, lambda: page.click("#tab-study"))
    shared = page.url
    assert query(page) == {"q": ["chest"], "modality": ["CT"], "age": ["60.."],
                           "level": ["study"]}
    ids = page.locator("#results li.hit").evaluate_all("els => els.map(e => e.dataset.id)")

    other = browser.new_context(viewport=VIEWPORT)
    try:
        fresh = other.new_page()
        open_page(fresh, shared)
        expect(fresh.locator("#q")).to_have_value("chest")
        expect(fresh.locator("#age_gte")).to_have_value("60")
        expect(checkbox(fresh, "modality", "CT")).to_be_checked()
        expect(fresh.locator("#tab-study")).to_have_attribute("aria-selected", "true")
        assert shown_counts(fresh) == shown_counts(page) == api_counts(
            client, "chest", {"modality": ["CT"], "age": {"gte": 60}})
        assert fresh.locator("#results li.hit").evaluate_all(
            "els => els.map(e => e.dataset.id)") == ids
        api = search(client, text="chest", level="study",
                     filters={"modality": ["CT"], "age": {"gte": 60}})
        assert ids == [h["id"] for h in api["hits"]]
    finally:
        other.close()


def test_hits_carry_the_apis_links_and_a_link_can_be_followed(
        page: Page, client: httpx.Client) -> None:
    open_page(page, "/?collection=ct_lymph_nodes")
    api = search(client, filters={"collection": ["ct_lymph_nodes"]})
    first = page.locator("#results li.hit").first
    hit = api["hits"][0]
    assert first.get_attribute("data-id") == hit["id"]
    links = {link["rel"]: link["href"] for link in hit["links"]}
    assert first.locator("a[data-rel=viewer]").get_attribute("href") == links["viewer"]
    assert first.locator("a[data-rel=doi]").get_attribute("href") == links["doi"]
    assert first.locator("code[data-rel=download]").get_attribute("data-href") == links["download"]
    assert first.locator("code[data-rel=drs]").text_content() == links["drs"]
    expect(first.locator(".badge.hosts")).to_have_text(f"available at {len(hit['hosts'])} host")
    expect(first.locator(".badge.lic")).to_have_text(hit["access"]["license"])

    # follow the viewer link without leaving the machine: the viewer host is stubbed
    page.context.route("https://viewer.imaging.datacommons.cancer.gov/**", lambda route:
                       route.fulfill(status=200, content_type="text/html",
                                     body="<title>viewer stub</title>"))
    with page.expect_popup() as popup:
        first.locator("a[data-rel=viewer]").click()
    popup.value.wait_for_load_state()
    assert popup.value.url == links["viewer"]


def test_series_are_grouped_by_collection_then_study(page: Page, client: httpx.Client) -> None:
    open_page(page, "/?modality=CT&modality=PT")
    api = search(client, filters={"modality": ["CT", "PT"]})
    expected: list[tuple[str, str, str]] = [
        (h["collection"], h["identifiers"]["study_uid"], h["id"]) for h in api["hits"]]
    shown = page.locator("#results li.hit").evaluate_all("""els => els.map(e => [
        e.closest('section.group').dataset.collection,
        e.closest('article.study').dataset.studyUid, e.dataset.id])""")
    assert [tuple(x) for x in shown] == expected
    per_collection = {b["value"]: b["count"] for b in api["facets"]["collection"]}
    heading = page.locator("section.group").first
    coll = heading.get_attribute("data-collection")
    expect(heading.locator("h3")).to_contain_text(f"{per_collection[coll]:,} matching series")


def test_levels_are_keyboard_operable_and_linked(page: Page, client: httpx.Client) -> None:
    open_page(page, "/?modality=CT")
    page.focus("#tab-series")
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#tab-study")).to_be_focused()
    settle(page, lambda: page.keyboard.press("Enter"))
    assert query(page) == {"modality": ["CT"], "level": ["study"]}
    expect(page.locator("#tab-study")).to_have_attribute("aria-selected", "true")
    studies = search(client, level="study", filters={"modality": ["CT"]})
    expect(page.locator("#shown")).to_contain_text(f"of {studies['total']['count']:,} studies")
    assert page.locator("#results li.hit").first.get_attribute("data-id") == \
        studies["hits"][0]["id"]

    page.keyboard.press("Home")
    expect(page.locator("#tab-collection")).to_be_focused()
    settle(page, lambda: page.keyboard.press("Space"))
    datasets = search(client, level="collection", filters={"modality": ["CT"]})
    by = client.post("/api/v1/cohort/count", json={"filters": {"modality": ["CT"]}}).json()[
        "by_collection"]
    ranked = sorted(datasets["hits"], key=lambda h: (-by[h["collection"]]["subjects"]["count"],
                                                     -by[h["collection"]]["series"]["count"],
                                                     h["collection"]))
    assert page.locator("#results li.card").evaluate_all("els => els.map(e => e.dataset.id)") \
        == [h["id"] for h in ranked]
    assert page.locator("#tab-collection .tab-count").inner_text() == \
        str(datasets["total"]["count"])

    # a dataset card leads to its series (MIDRC-style linked levels)
    card = page.locator("#results li.card").first
    collection, series = ranked[0]["collection"], ranked[0]["series"]
    button = card.get_by_role("button", name=f"{series:,} series of {collection}")
    settle(page, button.click)
    assert query(page) == {"modality": ["CT"], "collection": [collection]}
    assert shown_counts(page) == api_counts(
        client, None, {"modality": ["CT"], "collection": [collection]})


def test_export_streams_every_series_as_csv_jsonl_and_a_zip_with_citations(
        page: Page, client: httpx.Client) -> None:
    open_page(page, "/?collection=ct_lymph_nodes")
    hits: list[dict[str, Any]] = []
    body: dict[str, Any] = {"filters": {"collection": ["ct_lymph_nodes"]}, "page": {"size": 1000}}
    while True:
        got = client.post("/api/v1/search", json=body).json()
        hits += got["hits"]
        if not got["next"]:
            break
        body["page"]["after"] = got["next"]
    ids = [h["id"] for h in hits]
    page.uncheck("#export-citations")
    with page.expect_download() as dl:
        page.click("button[data-export=csv]")
    assert dl.value.suggested_filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(dl.value.path().read_text())))
    assert [r["id"] for r in rows] == ids
    assert all(r["series_uid"] and r["license"] and r["viewer_url"].startswith("https://")
               for r in rows)
    # who and when: sex, age, study date, body part; every link with its host
    text = lambda v: "" if v is None else str(v)  # noqa: E731
    for r, h in zip(rows, hits, strict=True):
        assert (r["sex"], r["age_raw"], r["study_date"], r["body_part"]) == (
            text(h["sex"]), text(h["age_raw"]), text(h["study_date"]), text(h["body_part"]))
        assert (float(r["age"]) if r["age"] else None) == h["age"]
        assert r["links"] == " | ".join(f"{link['host']} {link['rel']} {link['href']}"
                                        for link in h["links"])
    assert any(r["sex"] for r in rows) and any(r["age"] for r in rows)
    assert any(r["study_date"] for r in rows) and any(r["body_part"] for r in rows)
    expect(page.locator("#export-status")).to_contain_text(
        f"Exported {len(ids):,} matching series (index gen-")
    with page.expect_download() as dl:
        page.click("button[data-export=jsonl]")
    lines = [json.loads(x) for x in dl.value.path().read_text().splitlines()]
    assert [r["id"] for r in lines[:-1]] == ids
    assert [r["links"] for r in lines[:-1]] == [
        [{k: link[k] for k in ("host", "rel", "href")} for link in h["links"]] for h in hits]
    trailer = lines[-1]["_export"]
    assert trailer["query"] == {"filters": {"collection": ["ct_lymph_nodes"]}}
    assert [(c["collection"], c["series"]) for c in trailer["citations"]] == [
        ("ct_lymph_nodes", len(ids))]
    assert trailer["citations"][0]["doi"]  # the collection's DOI, to cite
    page.check("#export-citations")  # CSV has no room for citations: a zip holds them
    with page.expect_download() as dl:
        page.click("button[data-export=csv]")
    archive = zipfile.ZipFile(dl.value.path())
    assert archive.namelist() == ["manifest.csv", "CITATION.md", "export.json"]
    assert len(archive.read("manifest.csv").decode().splitlines()) == len(ids) + 1
    assert trailer["citations"][0]["doi"][0] in archive.read("CITATION.md").decode()


def test_save_cohort_shows_its_pinned_id(page: Page, client: httpx.Client) -> None:
    open_page(page, "/?collection=nsclc_radiogenomics&modality=CT")
    page.fill("#cohort-name", "Radiogenomics CT")
    page.click("#save-cohort")
    status = page.locator("#cohort-status")
    expect(status).to_contain_text("Saved “Radiogenomics CT”")
    cohort_id = status.locator("code").inner_text()
    info = client.get(f"/api/v1/cohorts/{cohort_id}").json()
    series = api_counts(client, None, {"collection": ["nsclc_radiogenomics"],
                                       "modality": ["CT"]})["series"]
    assert info["members"] == series > 0 and info["name"] == "Radiogenomics CT"
    expect(status).to_contain_text(f"{series:,} series pinned to index {info['generation']}")
    assert status.get_by_role("link", name="cohort").get_attribute("href").endswith(
        f"/api/v1/cohorts/{cohort_id}")


def test_newcomer_finds_ct_chest_scans_of_women_over_60_under_cc_by(
        page: Page, client: httpx.Client, ui_timings: dict[str, list[float]]) -> None:
    """The issue's 'done when': a few clicks from the start page to counts and links."""
    open_page(page)
    page.fill("#q", "chest")
    settle(page, lambda: page.press("#q", "Enter"))
    for facet, label in (("modality", "CT"), ("sex", "female"), ("age", "60-69"),
                         ("age", "70-79"), ("age", "80-89"), ("license", "CC BY 4.0")):
        settle(page, checkbox(page, facet, label).check)
    filters = {"modality": ["CT"], "sex": ["F"], "age": {"gte": 60, "lte": 89.99},
               "license": ["CC BY 4.0"]}
    assert shown_counts(page) == api_counts(client, "chest", filters)
    assert shown_counts(page)["series"] > 0
    hits = page.locator("#results li.hit")
    expect(hits.first.locator("a[data-rel=viewer]")).to_have_attribute("href", re.compile("^https://"))
    ui_timings["facet_click_to_counts_ms"] += [
        u["ms"] for u in page.evaluate("window.__ihubTimings.updates") if u["cause"] == "facet"]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui-search.png"), full_page=True)
    assert (ARTIFACTS / "ui-search.png").stat().st_size > 10_000


def test_keyboard_facet_toggle_keeps_focus_and_every_control_is_labelled(page: Page) -> None:
    open_page(page)
    box = checkbox(page, "modality", "CT")
    box.focus()
    settle(page, lambda: page.keyboard.press("Space"))
    assert query(page) == {"modality": ["CT"]}
    # the filter panel was redrawn with the new counts; focus stayed on the same checkbox
    expect(checkbox(page, "modality", "CT")).to_be_focused()
    expect(checkbox(page, "modality", "CT")).to_be_checked()
    unlabelled = page.evaluate("""() => [...document.querySelectorAll(
        'input, select, button, a[href]')].filter(e => e.offsetParent !== null).filter(e =>
        !((e.labels && e.labels.length) || e.getAttribute('aria-label')
          || e.getAttribute('aria-labelledby') || e.textContent.trim()))
        .map(e => e.outerHTML.slice(0, 80))""")
    assert unlabelled == []
    expect(page.locator("#cohort-summary")).to_have_attribute("aria-live", "polite")
