// The cohort panel: exact counts (overall, by source, by dataset), the counts line that stays
// in view at the top of the filters, and the copy-link button. DOM only, no fetching; the
// counts are POST /api/v1/cohort/count's answer.
import { bytes, countText, countTitle, el, fmt, label } from "./render.js";
import { FACETS, byMatches, labelOf } from "./state.js";

const KINDS = ["subjects", "studies", "series", "instances"];
const ONE = { subjects: "subject", studies: "study", series: "series", instances: "instance" };
const DATASETS_SHOWN = 5;
const ui = { allDatasets: false };

// "≥": a lower bound (some matching series have no value, e.g. no size from QIDO-RS);
// "≈": an estimate. Neither: exact. Counts holding records the caller may count but not see
// are written by countText ("<10", "1,234 + <10", "≈1,250"; README "Small counts").
const exactMark = (c) => (c.missing ? "≥" : c.exact ? "" : "≈");
const markTitle = (c) => countTitle(c) || (c.missing ? `unknown for ${fmt(c.missing)} series: a lower bound`
  : c.exact ? "exact" : "estimate");
const plural = (n, kind) => (n === 1 ? ONE[kind] : kind);
const shownCount = (c) => (c.restricted || c.suppressed ? countText(c) : exactMark(c) + fmt(c.count));
const shownBytes = (c) => (c.restricted || c.suppressed ? countText(c, bytes) : exactMark(c) + bytes(c.count));
const isProtected = (c) => Boolean(c.restricted || c.suppressed);

/** The summary line and the by-source table. */
export function renderCounts(summary, tbody, counts) {
  const allExact = [...KINDS, "bytes"].every((k) => counts[k].exact && !counts[k].missing);
  const guarded = [counts, ...Object.values(counts.by_source)].some((b) => KINDS.some((k) => isProtected(b[k])));
  summary.textContent = KINDS.map((k) => `${shownCount(counts[k])} `
    + `${plural(counts[k].count, k)}`).join(" · ")
    + ` · ${shownBytes(counts.bytes)}`
    + (allExact ? " — exact counts" : guarded
      ? " — “<n”: fewer than n records you may count but not see; ≈: includes such records, rounded; ≥: a lower bound"
      : " — ≥ marks lower bounds, ≈ estimates");
  const row = (name, block, cls) => el("tr", { dataset: { source: name }, class: cls },
    el("th", { scope: "row" }, name === "all" ? "All sources" : name),
    ...KINDS.map((k) => el("td", { dataset: { count: k, value: block[k].count ?? "", exact: block[k].exact,
      suppressed: block[k].suppressed || null }, title: markTitle(block[k]) }, shownCount(block[k]))),
    el("td", { dataset: { count: "bytes", value: block.bytes.count ?? "" }, title: markTitle(block.bytes) },
      shownBytes(block.bytes)));
  tbody.replaceChildren(row("all", counts, "total"),
    ...Object.entries(counts.by_source).map(([s, b]) => row(s, b)));
}

/** Datasets known only by their published facts (a catalogue's): the `estimated_additional`
 * block of the counts, apart from them and labelled as an estimate (never added in). */
export function renderEstimates(root, counts) {
  const block = counts?.estimated_additional;
  root.hidden = !block;
  if (!block) { root.replaceChildren(); return; }
  const est = (e) => (!e ? "not published" : e.estimate === null ? `unknown (${fmt(e.low)}–${fmt(e.high)})`
    : e.low === e.high ? `≈${fmt(e.estimate)}` : `≈${fmt(e.estimate)} (${fmt(e.low)}–${fmt(e.high)})`);
  root.replaceChildren(
    el("h3", {}, "Estimated additional subjects ", el("span", { class: "badge warn" }, "estimate, not counted")),
    el("p", { class: "small", dataset: { estimate: block.subjects.estimate ?? "", low: block.subjects.low,
      high: block.subjects.high } }, `${est(block.subjects)} subjects in datasets known only by their published facts: `
      + "they may hold more of this cohort, and are not in the counts above."),
    el("ul", { class: "small" }, block.datasets.map((d) => el("li", { dataset: { collection: d.collection,
      estimate: d.subjects?.estimate ?? "" } }, el("strong", {}, d.name), ` — ${est(d.subjects)} subjects; ${d.method}`)),
    Object.entries(block.not_estimated).map(([name, why]) => el("li", { class: "muted", dataset: { collection: name } },
      `${name}: not estimated — ${why}`))),
    el("p", { class: "muted small" }, block.method));
}

/** The short counts line at the top of the filter panel (sticky: in view while filtering). */
export function renderStickyCounts(root, counts) {
  if (!counts) {
    root.replaceChildren(el("span", { class: "muted" }, "No counts: the search did not run."));
    return;
  }
  const parts = ["subjects", "studies", "series"].map((k) => el("span", { class: "n",
    dataset: { count: k, value: counts[k].count ?? "" }, title: countTitle(counts[k]) },
  `${shownCount(counts[k])} ${plural(counts[k].count, k)}`));
  root.replaceChildren(el("span", { class: "what" }, "Cohort: "),
    ...parts.flatMap((p, i) => (i ? [" · ", p] : [p])), " ",
    el("a", { href: "#cohort", class: "small" }, "details"));
}

const noun = (name) => labelOf(name).replace(/\s*\(.*\)$/, "").toLowerCase();

/** What each active filter excludes only for lacking its field (the counts'
 * `missing_excluded`: records matching everything else asked), as sentences:
 * [{field, text, series, subjects}] for the filters that exclude any. */
export function exclusions(state, counts) {
  const out = [];
  for (const [name, m] of Object.entries(counts?.missing_excluded || {})) {
    if (!m.series && !m.detail?.series) continue;
    const v = state.filters[name];
    const items = v === undefined ? [] : Array.isArray(v) ? v : [v];
    const f = FACETS.find((x) => x.name === name);
    const chosen = items.map((x) => (typeof x === "object" ? formatItem(x) : label(f || {}, x))).join(" or ");
    const n = (k) => (m.detail?.[k] ? countText(m.detail[k]) : fmt(m[k]));
    out.push({ field: name, series: m.series ?? 0, subjects: m.subjects ?? 0,
      text: `${labelOf(name)} = ${chosen} also excludes ${n("series")} series`
        + ` (${n("subjects")} ${m.subjects === 1 ? "subject" : "subjects"}) with no ${noun(name)} recorded` });
  }
  return out;
}

const formatItem = (r) => (r.gte === undefined ? `≤ ${r.lte}` : r.lte === undefined ? `≥ ${r.gte}`
  : `${r.gte}–${r.lte}`);

/** The exclusions under the counts, and in short in the sticky counts line. `total` is what
 * all the filters together leave out for missing values ({subjects, series}: the cohort with
 * "not recorded" accepted everywhere, minus the cohort), or null until it is known. Records
 * lacking two filtered fields are in the total but in neither field's own line. */
export function renderExclusions(list, short, found, total) {
  const several = total ? total.series - found.reduce((n, x) => n + x.series, 0) : 0;
  const all = total && total.series > 0 ? el("li", { class: "total", dataset: { field: "*",
    count: total.series, subjects: total.subjects, several } }, "In all, accepting “not recorded” in "
    + `these filters would add ${fmt(total.series)} series of ${fmt(total.subjects)} subjects`
    + (several > 0 ? `; ${fmt(several)} of them lack more than one of these fields.` : ".")) : null;
  list.replaceChildren(...found.map((x) => el("li", { dataset: { field: x.field, count: x.series,
    subjects: x.subjects } }, x.text)),
    ...(all ? [all] : []));
  list.hidden = !found.length && !all;
  short.textContent = all ? `Also left out for having no value: ${fmt(total.series)} series`
    : found.length ? `Also left out for having no value: ${found.map((x) => `${noun(x.field)} `
      + `${fmt(x.series)}`).join(" · ")} series` : "";
  short.hidden = !short.textContent;
}

/** Matching subjects, studies and series per dataset, most subjects first; the first few
 * rows, then all of them on request. `onPick(collection)` narrows the search to one. */
export function renderDatasets(root, byCollection, onPick) {
  const rows = byMatches(byCollection);
  if (!rows.length) {
    root.replaceChildren(el("p", { class: "muted small" }, "No dataset has matching series."));
    return;
  }
  const shown = ui.allDatasets ? rows : rows.slice(0, DATASETS_SHOWN);
  const cell = (block, k) => el("td", { dataset: { count: k, value: block[k].count ?? "" },
    title: markTitle(block[k]) }, shownCount(block[k]));
  const table = el("table", { id: "datasets-table", class: "counts" },
    el("caption", {}, `Matching datasets: ${fmt(rows.length)}`,
      el("span", { class: "muted" }, " — most matching subjects first")),
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Dataset"),
      ...["Subjects", "Studies", "Series"].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, shown.map(([id, block]) => el("tr", { dataset: { collection: id } },
      el("th", { scope: "row" }, el("button", { type: "button", class: "linkish coll",
        "aria-label": `Only the dataset ${id}`, title: "Narrow the search to this dataset",
        onclick: () => onPick(id) }, id)),
      cell(block, "subjects"), cell(block, "studies"), cell(block, "series")))));
  const toggle = rows.length > DATASETS_SHOWN ? el("button", { type: "button", class: "linkish small",
    "aria-expanded": String(ui.allDatasets), dataset: { key: "datasets:all" },
    onclick: () => { ui.allDatasets = !ui.allDatasets; renderDatasets(root, byCollection, onPick); } },
  ui.allDatasets ? "Show fewer" : `Show all ${fmt(rows.length)} datasets`) : null;
  root.replaceChildren(table, toggle);
}

/** Copy the page's address (the whole search is in it); says what happened in `status`.
 * Where the clipboard is refused, the address is shown selected for Ctrl+C. */
export async function copyLink(button, status) {
  const url = location.href;
  button.dataset.copied = url;
  try {
    await navigator.clipboard.writeText(url);
    status.textContent = "Link copied: it opens this search with the same filters.";
  } catch {
    const box = el("input", { type: "text", readonly: true, value: url, class: "copy-url",
      "aria-label": "Link to this search" });
    status.replaceChildren("Copy this link (Ctrl+C): ", box);
    box.focus();
    box.select();
  }
}
