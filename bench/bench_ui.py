"""Search page timings in a real Chromium (Debian's, via Playwright) over a served index.

Measured inside the page (``window.__ihubTimings``, performance.now()):

* first render: navigation start → results, facets and cohort counts in the DOM (and the
  next paint), over several fresh page loads;
* facet click → counts updated: checkbox change event → new counts, facets and hits in the
  DOM, over a cycle of facet clicks (tick/untick modality, sex, licence, an age bucket, a
  collection); ``fetch`` is the part spent waiting for ``POST /api/v1/search`` (hits, facets,
  counts);
* charts: the same starts → the cohort's subject charts drawn (their own request, in
  parallel; pages from before the charts have none and report nothing here);
* complete: the same starts → every part in (charts, matches per dataset, what the filters
  leave out for missing values, asked once the counts are shown).

Targets (issue 5): first render < 1 s, facet click → counts < 300 ms on this machine.

    .venv/bin/ihub serve --port 8811 &            # over the full IDC index
    .venv/bin/python bench/bench_ui.py --url http://127.0.0.1:8811 --loads 5 --rounds 3
    IHUB_HOME=$PWD/.ihub-home .venv/bin/python bench/bench_ui.py   # starts its own server
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, ViewportSize, sync_playwright

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.bench_query import start_server

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
        "--disable-component-update", "--disable-sync", "--disable-quic"]
# (facet, value label) ticked then unticked in turn; each is one measured click
CLICKS = [("modality", "CT"), ("sex", "F"), ("license", "CC BY 4.0"), ("age", "60-69"),
          ("collection", None)]
TARGETS = {"first_render_ms": 1000.0, "facet_click_ms": 300.0}


def serve(home: str) -> tuple[str, subprocess.Popen[bytes]]:
    proc, url = start_server(home)
    return url, proc


def settled(page: Page, before: int) -> None:
    page.wait_for_function("n => Number(document.body.dataset.done || 0) > n", arg=before,
                           timeout=30_000)


def done(page: Page) -> int:
    return int(page.evaluate("Number(document.body.dataset.done || 0)"))


def first_renders(page_factory: Any, url: str, loads: int) -> list[dict[str, float]]:
    out = []
    for _ in range(loads):
        page = page_factory()
        page.goto(url)
        settled(page, 0)
        page.wait_for_function("window.__ihubTimings.firstPaint !== null")
        t = page.evaluate("window.__ihubTimings")
        nav = page.evaluate("performance.getEntriesByType('navigation')[0].toJSON()")
        charts = [c["ms"] for c in t.get("charts", []) if c["cause"] == "first"]
        complete = [c["ms"] for c in t.get("complete", []) if c["cause"] == "first"]
        out.append({"first_render_ms": t["firstRender"], "first_paint_ms": t["firstPaint"],
                    "search_fetch_ms": t["firstFetch"],
                    "dom_content_loaded_ms": nav["domContentLoadedEventEnd"],
                    "charts_ms": charts[0] if charts else None,
                    "complete_ms": complete[0] if complete else None})
        page.context.close()
    return out


def facet_clicks(page: Page, rounds: int
                 ) -> tuple[list[dict[str, Any]], list[float], list[float]]:
    for _ in range(rounds):
        for facet, label in CLICKS:
            box = page.locator(f"fieldset[data-facet={facet}] input[type=checkbox]")
            box = box.first if label is None else box.and_(page.locator(f"[value='{label}']"))
            for _tick in (True, False):
                before = done(page)
                box.click()
                settled(page, before)
    t = page.evaluate("window.__ihubTimings")
    return ([u for u in t["updates"] if u["cause"] == "facet"],
            [c["ms"] for c in t.get("charts", []) if c["cause"] == "facet"],
            [c["ms"] for c in t.get("complete", []) if c["cause"] == "facet"])


def summary(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 1), "min": round(min(values), 1),
            "max": round(max(values), 1), "n": len(values)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", help="a running `ihub serve` (else one is started over --home)")
    ap.add_argument("--home", default=os.environ.get("IHUB_HOME"),
                    help="start `ihub serve` over this IHUB_HOME (default: $IHUB_HOME)")
    ap.add_argument("--loads", type=int, default=5, help="fresh page loads for first render")
    ap.add_argument("--rounds", type=int, default=3, help="passes over the facet click cycle")
    ap.add_argument("--out", type=Path, help="write the results as JSON here")
    args = ap.parse_args(argv)
    proc = None
    if not args.url and not args.home:
        ap.error("give --url of a running server, or --home (or IHUB_HOME) to start one")
    url = args.url
    if not url:
        url, proc = serve(args.home)
    try:
        index = httpx.get(f"{url}/api/v1/sources", timeout=30).json()
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            viewport: ViewportSize = {"width": 1366, "height": 860}

            def fresh() -> Page:
                return browser.new_context(viewport=viewport).new_page()
            loads = first_renders(fresh, url, args.loads)
            page = fresh()
            page.goto(url)
            settled(page, 0)
            clicks, click_charts, click_complete = facet_clicks(page, args.rounds)
            browser.close()
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=20)
    result = {
        "url": url, "series_in_index": sum(s["series"] for s in index["sources"]),
        "first_render_ms": summary([x["first_render_ms"] for x in loads]),
        "first_paint_ms": summary([x["first_paint_ms"] for x in loads]),
        "first_search_fetch_ms": summary([x["search_fetch_ms"] for x in loads]),
        "facet_click_ms": summary([c["ms"] for c in clicks]),
        "facet_click_fetch_ms": summary([c["fetch_ms"] for c in clicks]),
        "targets_ms": TARGETS,
    }
    first_charts = [x["charts_ms"] for x in loads if x["charts_ms"] is not None]
    if first_charts:
        result["first_charts_ms"] = summary(first_charts)
    if click_charts:
        result["facet_click_charts_ms"] = summary(click_charts)
    first_complete = [x["complete_ms"] for x in loads if x["complete_ms"] is not None]
    if first_complete:
        result["first_complete_ms"] = summary(first_complete)
    if click_complete:
        result["facet_click_complete_ms"] = summary(click_complete)
    print(f"search page in Chromium over {url} ({result['series_in_index']:,} series)")
    for key in ("first_render_ms", "first_paint_ms", "first_search_fetch_ms", "first_charts_ms",
                "first_complete_ms", "facet_click_ms", "facet_click_fetch_ms",
                "facet_click_charts_ms", "facet_click_complete_ms"):
        if key not in result:
            continue
        s = result[key]
        target = TARGETS.get(key)
        note = f"   target < {target:.0f}" if target else ""
        print(f"  {key:24} median {s['median']:7.1f}  min {s['min']:7.1f}  max {s['max']:7.1f}"
              f"  (n={s['n']}){note}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0 if all(result[k]["median"] < v for k, v in TARGETS.items()) else 1


if __name__ == "__main__":
    sys.exit(main())
