// The data dictionary page: GET /api/v1/dictionary rendered as a table of fields (type,
// vocabulary, coverage per source) and one panel per vocabulary (provenance, values and the
// raw spellings mapped to them). The find box hides rows and values that do not match.
import { el, fmt } from "./render.js";

const $ = (id) => document.getElementById(id);

function coverageCell(c) {
  if (!c) return el("td", { class: "cov muted" }, "–");
  return el("td", { class: "cov", title: `${fmt(c.filled)} of ${fmt(c.records)} records` },
    `${c.percent.toFixed(1)} %`,
    el("span", { class: "bar", "aria-hidden": "true" },
      el("span", { style: `width: ${Math.min(100, c.percent)}%` })));
}

function searchOf(f) {
  if (!f.kind) return "stored";
  return [f.kind, f.facet ? "facet" : null, f.text ? "text" : null].filter(Boolean).join(", ");
}

function fieldRows(doc, sources) {
  return doc.fields.map((f) => el("tr", {
    class: f.harmonised ? "harmonised" : null,
    dataset: { field: f.name, level: f.level, find: `${f.name} ${f.label} ${f.description}`.toLowerCase() },
  },
  el("td", { class: "name" }, el("code", {}, f.name), el("span", { class: "label" }, f.label)),
  el("td", {}, f.level), el("td", {}, f.type), el("td", {}, searchOf(f)),
  el("td", {}, f.vocabulary ? el("a", { href: `#vocab-${f.vocabulary}` }, f.vocabulary) : "",
    f.harmonised ? el("span", { class: "badge hosts", title: "computed from raw fields" }, "harmonised") : ""),
  el("td", {}, f.description),
  ...sources.map((s) => coverageCell(f.coverage ? f.coverage[s] : null))));
}

function tableSource(t) {
  const parts = [el("strong", {}, t.title || t.table), ` — ${t.source}`];
  if (t.version) parts.push(`; version ${t.version}`);
  if (t.retrieved) parts.push(`; retrieved ${t.retrieved}`);
  parts.push(`; licence: ${t.licence}; ${fmt(t.rows)} rows`);
  if (t.override) parts.push(el("span", { class: "badge warn" }, `override ${t.override}: ${fmt(t.override_rows)} rows`));
  if (t.url) parts.push(" ", el("a", { href: t.url, rel: "noopener" }, "source"));
  return el("li", { dataset: { table: t.table } }, ...parts);
}

function entryRow(e) {
  const attrs = Object.entries(e.attributes || {}).filter(([, v]) => v)
    .map(([k, v]) => `${k}: ${v}`).join("; ");
  return el("tr", { dataset: { value: e.value, find: `${e.value} ${e.label} ${e.raw.join(" ")}`.toLowerCase() } },
    el("td", {}, el("code", {}, e.value || "—")), el("td", {}, e.label),
    el("td", { class: "raw" }, e.raw.join(", ")), el("td", {}, attrs));
}

function vocabulary(v) {
  return el("article", { class: "vocab", id: `vocab-${v.name}`, dataset: { vocab: v.name } },
    el("h3", {}, v.name),
    el("p", {}, v.description),
    el("p", { class: "from" }, `Computed from: ${v.harmonised_from.join(", ")}`),
    el("ul", { class: "tables" }, v.tables.map(tableSource)),
    el("details", {}, el("summary", {}, `${fmt(v.entries.length)} values`),
      el("table", { class: "entries" },
        el("thead", {}, el("tr", {}, ["value", "label", "raw spellings mapped to it", "attributes"]
          .map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, v.entries.map(entryRow)))));
}

function render(doc) {
  const sources = [...new Set(doc.fields.flatMap((f) => Object.keys(f.coverage || {})))].sort();
  $("fields").tHead.replaceChildren(el("tr", {},
    ["Field", "Level", "Type", "Search", "Vocabulary", "Description"].map((h) => el("th", { scope: "col" }, h)),
    sources.map((s) => el("th", { scope: "col", dataset: { source: s } }, `Coverage: ${s}`))));
  $("fields").tBodies[0].replaceChildren(...fieldRows(doc, sources));
  $("vocabularies").replaceChildren(...doc.vocabularies.map(vocabulary));
  $("notices").replaceChildren(...doc.notices.map((n) => el("li", {}, n)));
  const harmonised = doc.fields.filter((f) => f.harmonised).length;
  $("summary").textContent = `${doc.fields.length} fields (${harmonised} harmonised), `
    + `${doc.vocabularies.length} vocabularies, coverage over ${sources.length} source${sources.length === 1 ? "" : "s"}`
    + (doc.index ? "" : " (nothing is published yet: no coverage)") + ".";
  $("index-info").textContent = doc.index ? `Index generation ${doc.index.generation}; vocabularies ${doc.vocabulary_version}`
    : `Vocabularies ${doc.vocabulary_version}`;
}

function find(needle) {
  const n = needle.trim().toLowerCase();
  for (const row of document.querySelectorAll("[data-find]")) row.hidden = Boolean(n) && !row.dataset.find.includes(n);
  for (const box of document.querySelectorAll(".vocab")) {
    const hits = box.querySelectorAll("tbody tr:not([hidden])").length;
    box.querySelector("details").open = Boolean(n) && hits > 0;
  }
}

async function main() {
  try {
    const r = await fetch("/api/v1/dictionary");
    const body = await r.json();
    if (!r.ok) throw new Error(body.message || `HTTP ${r.status}`);
    render(body);
    document.body.dataset.state = "ready";
  } catch (err) {
    $("error").hidden = false;
    $("error").textContent = `The dictionary could not be loaded: ${err.message}`;
    $("summary").textContent = "";
    document.body.dataset.state = "error";
  }
  $("find").addEventListener("input", (ev) => find(ev.target.value));
  $("find-form").addEventListener("submit", (ev) => ev.preventDefault());
}

main();
