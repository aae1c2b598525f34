// imaging-hub search page: plain fetch() against /api/v1, the whole state in the URL.
// Timings for the browser tests and bench/bench_ui.py: window.__ihubTimings
//   firstRender  ms from navigation start until results, facets and counts are in the DOM
//   updates[]    {cause, ms, fetch_ms} from a user action (facet click, tab, ...) until the
//                new counts are in the DOM; also performance.measure("ihub:<cause>")
//   charts[]     {cause, ms} from the same start (navigation start for the first load) until
//                the cohort charts are drawn
//   complete[]   {cause, ms} from the same start until every part is in (charts, matches per
//                dataset, what the filters leave out)
// Per search, first (in parallel): hits, facets and exact counts (POST /api/v1/search) and the
// charts' subject-counted facets (POST /api/v1/search, no hits; cheap). Once the counts are on
// screen: matches per dataset (POST /api/v1/cohort/count, by_collection; at the dataset level
// it is awaited with the search, the cards are sorted by it) and what the filters leave out
// for missing values (a count with "not recorded" accepted). The later two never hold up the
// counts on a 2-core server.
import { api } from "./api.js";
import { chartsUnavailable, renderCharts } from "./charts.js";
import { copyLink, exclusions, renderCounts, renderDatasets, renderEstimates, renderExclusions,
  renderStickyCounts } from "./cohort.js";
import { describe, plainProblems } from "./errors.js";
import { cohortBody, download, exportBody, fetchExport } from "./export.js";
import { renderHits } from "./hits.js";
import { levelTotals, readRange, renderChips, renderFacets, renderTabs, el, fmt, tabKeys }
  from "./render.js";
import { LEVELS, chartBody, configure, countBody, formatRange, labelOf, parseUrl, searchBody,
  toUrl, toggleBucket, withFilter, withNotRecorded, withRange } from "./state.js";

const $ = (id) => document.getElementById(id);
// The URL is the state: new states are built from it (also after a failed search, so a
// query that could not run stays what the user asked for until they change it).
const current = () => parseUrl(location.search);
const timings = (window.__ihubTimings = { firstRender: null, firstPaint: null, updates: [],
  charts: [], complete: [] });
const view = { state: null, res: null, byCollection: null, leftOut: null, hits: [], next: null, seq: 0,
  controller: null };
// Datasets are few (IDC: 179): their level loads them all at once, so the cards can be
// sorted by matches.
const PAGE = { collection: 1000 };
let done = 0;
let focusAfter = null;   // data-key (or element id) to focus once the next render is in


function showError(err, retry) {
  const box = $("error");
  const problems = err.status === 422 ? plainProblems(err.details, { label: labelOf, state: current() }) : [];
  const transient = err.status === 0 || err.status >= 500 || err.status === 409;
  box.replaceChildren(...[
    el("p", {}, el("strong", {}, "Problem: "), describe(err, problems)),
    problems.length > 1 ? el("ul", {}, problems.map((p) => el("li", {}, p.text))) : null,
    problems.length ? el("details", { class: "small" }, el("summary", {}, "What the server said"),
      el("code", {}, err.message)) : null,
    view.res ? el("p", { class: "small" }, "The results below are from the previous search.")
      : el("p", { class: "small" }, transient ? "No results yet." : "Fix the part named above, or remove it with the × on its chip."),
    el("div", { class: "alert-actions" },
      transient && retry ? el("button", { type: "button", onclick: retry }, "Retry") : null,
      el("button", { type: "button", class: "linkish", onclick: () => { box.hidden = true; } }, "Dismiss")),
  ].filter(Boolean));
  box.hidden = false;
  if (!view.res) {
    $("cohort-summary").textContent = "No counts: the search did not run.";
    renderStickyCounts($("sticky-counts"), null);
    $("results").replaceChildren();
  }
  for (const name of ["age", "study_year"]) {
    const bad = problems.some((p) => p.field === name);
    for (const b of ["gte", "lte"]) $(`${name}_${b}`)?.setAttribute("aria-invalid", String(bad));
  }
  $("main").classList.toggle("stale", Boolean(view.res));
  document.body.dataset.state = "error";
}

function clearError() {
  $("error").hidden = true;
  $("main").classList.remove("stale");
  document.querySelectorAll("[aria-invalid=true]").forEach((e) => e.setAttribute("aria-invalid", "false"));
}

// --- navigation ----------------------------------------------------------------------------

function navigate(state, cause, t0 = performance.now()) {
  const url = toUrl(state) || location.pathname;
  if (url !== location.search) history.pushState(null, "", url);
  load(cause, t0);
}

async function load(cause, t0 = performance.now()) {
  const state = parseUrl(location.search);
  const seq = ++view.seq;
  view.controller?.abort();
  const controller = (view.controller = new AbortController());
  syncForm(state);
  document.body.dataset.state = "loading";
  $("results").setAttribute("aria-busy", "true");
  const charts = loadCharts(state, seq, cause, t0, controller.signal);
  const cards = state.level === "collection";
  try {
    const f0 = performance.now();
    const [res, count] = await Promise.all([
      api("/api/v1/search", searchBody(state, { size: PAGE[state.level] }), controller.signal),
      cards ? api("/api/v1/cohort/count", countBody(state), controller.signal) : null]);
    const fetchMs = performance.now() - f0;
    if (seq !== view.seq) return;
    Object.assign(view, { state, res, hits: res.hits, next: res.next, leftOut: null,
      byCollection: count?.by_collection ?? null });
    clearError();
    render();
    record(cause, t0, fetchMs);
    await Promise.all([charts, loadDatasets(state, seq, controller.signal), leftOut(state, seq, controller.signal)]);
    if (seq === view.seq) timings.complete.push({ cause, ms: performance.now() - t0 });
  } catch (err) {
    if (err.name === "AbortError" || seq !== view.seq) return;
    renderFrame(state, view.res ? null : {});
    showError(err, () => load("retry"));
  } finally {
    if (seq === view.seq) {
      $("results").removeAttribute("aria-busy");
      document.body.dataset.done = String(++done);
    }
  }
}

/** What all the filters leave out for missing values: the widened cohort minus this one. */
async function leftOut(state, seq, signal) {
  const wider = withNotRecorded(state);
  if (!wider) return;
  try {
    const wide = (await api("/api/v1/search", searchBody(wider, { facets: [], size: 0 }), signal)).counts;
    if (seq !== view.seq) return;
    const counts = view.res.counts;
    // a difference of protected counts (records the caller may not see) would mislead
    if (![wide, counts].every((c) => c.series.exact && c.subjects.exact)) return;
    view.leftOut = { series: wide.series.count - counts.series.count,
      subjects: wide.subjects.count - counts.subjects.count };
    renderLeftOut();
  } catch { /* the per-filter lines stay; the total is left out */ }
}

/** Matching subjects, studies and series per dataset (unless the search brought them). */
async function loadDatasets(state, seq, signal) {
  try {
    if (!view.byCollection) {
      const count = await api("/api/v1/cohort/count", countBody(state), signal);
      if (seq !== view.seq) return;
      view.byCollection = count.by_collection;
    }
    renderDatasets($("cohort-datasets"), view.byCollection, (collection) =>
      navigate(withFilter(current(), "collection", [collection]), "dataset"));
  } catch (err) {
    if (err.name === "AbortError" || seq !== view.seq) return;
    $("cohort-datasets").replaceChildren(el("p", { class: "muted small" }, `Matches per dataset unavailable: ${err.message}`));
  } finally {
    if (seq === view.seq) $("cohort-datasets").removeAttribute("aria-busy");
  }
}

function renderLeftOut() {
  const { state, res } = view;
  renderExclusions($("cohort-excluded"), $("sticky-excluded"), exclusions(state, res.counts), view.leftOut);
}

/** The cohort charts: their own request, drawn whenever it answers (after the counts, or
 * before them: the panel is there either way). */
async function loadCharts(state, seq, cause, t0, signal) {
  $("charts").setAttribute("aria-busy", "true");
  try {
    const res = await api("/api/v1/search", chartBody(state), signal);
    if (seq !== view.seq) return;
    renderCharts($("charts"), res.facets, state, facetHandlers);
    timings.charts.push({ cause, ms: performance.now() - t0 });
  } catch (err) {
    if (err.name === "AbortError" || seq !== view.seq) return;
    chartsUnavailable($("charts"), err.status === 422 ? "the search could not run." : err.message);
  } finally {
    if (seq === view.seq) $("charts").removeAttribute("aria-busy");
  }
}

function record(cause, t0, fetchMs) {
  const t1 = performance.now();
  if (timings.firstRender === null) {
    timings.firstRender = t1;
    timings.firstFetch = fetchMs;
    performance.mark("ihub:first-render");
    requestAnimationFrame(() => setTimeout(() => { timings.firstPaint = performance.now(); }, 0));
  } else {
    timings.updates.push({ cause, ms: t1 - t0, fetch_ms: fetchMs });
    performance.measure(`ihub:${cause}`, { start: t0, end: t1 });
  }
}

function syncForm(state) {
  $("q").value = state.text || "";
  $("sort").value = state.sort || "";
  $("sort-wrap").hidden = state.level !== "series";
  document.title = `${state.text ? `${state.text} · ` : ""}imaging-hub search`;
}

// --- rendering -----------------------------------------------------------------------------

function render() {
  const { state, res } = view;
  const active = document.activeElement?.dataset?.key;
  renderFrame(state, res.facets);
  if (res.facets_timed_out?.length) {
    $("facets").prepend(el("p", { class: "alert small", role: "status" },
      `Counts for ${res.facets_timed_out.join(", ")} took too long and are left out of this answer.`));
  }
  const counts = res.counts;
  renderCounts($("cohort-summary"), $("cohort-table").tBodies[0], counts);
  renderEstimates($("cohort-estimates"), counts);
  renderStickyCounts($("sticky-counts"), counts);
  renderLeftOut();
  $("facet-unit").textContent = { collections: "datasets" }[res.facet_unit] || res.facet_unit;
  $("cohort-datasets").setAttribute("aria-busy", "true");
  renderTabs($("levels"), state, levelTotals(res, state), (level) => navigate({ ...current(), level }, "level"));
  exportable(counts.series.visible ?? counts.series.count);  // series the caller may list
  renderList();
  const ix = res.index;
  $("index-info").textContent = `Index ${ix.generation} · ` + ix.sources
    .map((s) => `${s.source}: ${s.version}, harvested ${s.harvested_at.slice(0, 16).replace("T", " ")} UTC`).join("; ");
  restoreFocus(focusAfter || active);
  focusAfter = null;
  document.body.dataset.state = "ready";
}

/** Filter panel and chips (also drawn when a search failed, so the query can be fixed). */
function renderFrame(state, facets) {
  if (facets) renderFacets($("facets"), facets, state, facetHandlers);
  renderChips($("chips"), state, (name) => {
    focusAfter = "q";
    navigate(name === "text" ? { ...state, text: null } : withFilter(state, name, null), "chip");
  }, clearAll);
}

function renderList() {
  const { state, res, hits, next } = view;
  renderHits($("results"), state.level, hits, res.facets, drill, { byCollection: view.byCollection,
    suggestions: res.suggestions || [], onSuggest: (field, value) => {
      focusAfter = "results";
      navigate(withFilter({ ...current(), text: null }, field, [value]), "suggestion");
    } });
  $("results").setAttribute("aria-labelledby", `tab-${state.level}`);
  const unit = LEVELS.find((l) => l.id === state.level).unit;
  $("shown").textContent = res.total.count || res.total.restricted
    ? `Showing ${fmt(hits.length)} of ${fmt(res.total.count)} ${unit[res.total.count === 1 ? 0 : 1]}`
      + (res.total.exact ? "" : " (estimated)") + restrictedNote(res.total.restricted) : "";
  $("more").hidden = !next;
}

/** Matching records the caller may count but not list (the total's restricted part). */
function restrictedNote(part) {
  if (!part) return "";
  const n = part.count === null ? `fewer than ${fmt(part.threshold)}` : `${fmt(part.low)} to ${fmt(part.high)}`;
  return ` · ${n} more you may count but not see (access needed)`;
}

function restoreFocus(key) {
  if (!key) return;
  const target = $(key) || document.querySelector(`[data-key="${CSS.escape(key)}"]`);
  target?.focus({ preventScroll: true });
}

const facetHandlers = {
  toggle(name, value, checked) {
    const t0 = performance.now();
    const state = current();
    const values = new Set(Array.isArray(state.filters[name]) ? state.filters[name] : []);
    if (checked) values.add(value); else values.delete(value);
    navigate(withFilter(state, name, [...values]), "facet", t0);
  },
  bucket(label, checked) {
    const t0 = performance.now();
    const state = current();
    navigate(withFilter(state, "age", toggleBucket(label, state.filters.age, checked)), "facet", t0);
  },
  range(name, range) {
    const state = current();
    navigate(withFilter(state, name, withRange(state.filters[name], range)), "range");
  },
  refacet() {
    const active = document.activeElement?.dataset?.key;
    renderFacets($("facets"), view.res.facets, view.state, facetHandlers);
    restoreFocus(active);
  },
};

function drill(filters, level) {
  let state = { ...current(), level };
  for (const [name, values] of Object.entries(filters)) state = withFilter(state, name, values);
  focusAfter = "results";
  navigate(state, "drill");
}

function clearAll() {
  focusAfter = "q";
  const { level, sort } = current();
  navigate({ text: null, level, sort, filters: {} }, "clear");
}

async function more() {
  const { state, next } = view;
  const button = $("more");
  button.disabled = true;
  try {
    const res = await api("/api/v1/search", searchBody(state, { facets: [], counts: false, after: next }));
    if (view.state !== state) return;
    view.hits = view.hits.concat(res.hits);
    view.next = res.next;
    renderList();
  } catch (err) {
    if (err.status === 409) { load("stale"); return; }
    showError(err, more);
  } finally {
    button.disabled = false;
  }
}

/** Export buttons only when there is something to export. */
function exportable(series) {
  const none = !series;
  document.querySelectorAll("[data-export]").forEach((b) => {
    b.disabled = none;
    if (none) b.setAttribute("aria-describedby", "export-status"); else b.removeAttribute("aria-describedby");
  });
  const status = $("export-status");
  if (none) status.textContent = "Nothing to export: no series match this search.";
  else if (status.textContent.startsWith("Nothing to export")) status.textContent = "";
}

async function exportManifest(format) {
  const state = current();
  const status = $("export-status");
  if (!view.res?.counts?.series.count) return;
  const buttons = document.querySelectorAll("[data-export]");
  buttons.forEach((b) => { b.disabled = true; });
  status.textContent = "Exporting every matching series…";
  try {
    const result = await fetchExport(exportBody(state, format, $("export-citations").checked));
    download(result.name, result.blob);
    status.textContent = `Exported ${fmt(result.matched)} matching series (index ${result.generation}) `
      + `as ${result.name}.`;
  } catch (err) {
    status.textContent = "";
    showError(err, () => exportManifest(format));
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
    exportable(view.res?.counts?.series.count);
  }
}

/** Save the search's series as a cohort pinned to this index generation; show its link. */
async function saveCohort(ev) {
  ev.preventDefault();
  const status = $("cohort-status");
  const name = $("cohort-name").value.trim() || "cohort";
  const button = $("save-cohort");
  button.disabled = true;
  try {
    const saved = await api("/api/v1/cohorts", cohortBody(current(), name));
    const link = `${location.origin}/api/v1/cohorts/${saved.id}`;
    status.replaceChildren(`Saved “${saved.name}”: ${fmt(saved.members)} series pinned to index `
      + `${saved.generation}. Id `, el("code", {}, saved.id), " — ",
    el("a", { href: link }, "cohort"), " · ",
    el("a", { href: `${link}/export?format=csv` }, "export its series (CSV)"));
  } catch (err) {
    status.textContent = "";
    showError(err, () => saveCohort(ev));
  } finally {
    button.disabled = false;
  }
}

// --- wiring --------------------------------------------------------------------------------

$("search").addEventListener("submit", (ev) => {
  ev.preventDefault();
  let state = current();
  state = { ...state, text: $("q").value.trim() || null };
  for (const name of ["age", "study_year"]) {
    const form = document.querySelector(`form[data-range="${name}"]`);
    if (!form) continue;
    const r = readRange(name);
    // an untouched form (e.g. empty beside ticked decades) leaves the filter as it is
    if (formatRange(r) !== form.dataset.shown) state = withFilter(state, name, withRange(state.filters[name], r));
  }
  navigate(state, "text");
});
$("sort").addEventListener("change", (ev) => navigate({ ...current(), sort: ev.target.value || null }, "sort"));
$("clear-all").addEventListener("click", clearAll);
$("copy-link").addEventListener("click", () => copyLink($("copy-link"), $("copy-status")));
$("more").addEventListener("click", more);
document.querySelectorAll("[data-export]").forEach((b) =>
  b.addEventListener("click", () => exportManifest(b.dataset.export)));
$("cohort-form").addEventListener("submit", saveCohort);
document.querySelectorAll("a[data-example]").forEach((a) => a.addEventListener("click", (ev) => {
  ev.preventDefault();
  history.pushState(null, "", a.getAttribute("href"));
  load("example");
}));
tabKeys($("levels"));
window.addEventListener("popstate", () => load("history"));

/** The fields (labels, controls, sorts) come from the server's field registry. */
async function start() {
  try {
    configure(await api("/api/v1/facets"));
  } catch (err) {
    const state = parseUrl(location.search);
    syncForm(state);
    renderFrame(state, {});
    showError(err, () => { $("error").hidden = true; start(); });
    document.body.dataset.done = String(++done);
    return;
  }
  renderTabs($("levels"), parseUrl(location.search), {}, () => {});
  load("first", 0);  // first-load timings count from navigation start
}
start();
