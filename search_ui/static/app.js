// imaging-hub search page: plain fetch() against /api/v1, all state in the URL.
"use strict";
const FACETS = ["source", "collection", "disease_type", "primary_site", "modality", "body_part",
                "sex", "age", "license", "access"];
const $ = (id) => document.getElementById(id);
let nextToken = null;

function stateFromUrl() {
  const p = new URLSearchParams(location.search);
  const filters = {};
  for (const f of FACETS) if (f !== "age" && p.getAll(f).length) filters[f] = p.getAll(f);
  const gte = p.get("age_gte"), lte = p.get("age_lte");
  if (gte || lte) filters.age = Object.fromEntries(
    [["gte", gte], ["lte", lte]].filter(([, v]) => v !== null && v !== "").map(([k, v]) => [k, Number(v)]));
  return { text: p.get("q") || null, filters };
}

function pushState(state) {
  const p = new URLSearchParams();
  if (state.text) p.set("q", state.text);
  for (const [f, v] of Object.entries(state.filters)) {
    if (f === "age") { if (v.gte !== undefined) p.set("age_gte", v.gte); if (v.lte !== undefined) p.set("age_lte", v.lte); }
    else v.forEach((x) => p.append(f, x));
  }
  history.pushState(null, "", "?" + p.toString());
  run();
}

async function api(path, body) {
  const r = await fetch(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const data = await r.json().catch(() => ({ message: `HTTP ${r.status}` }));
  if (!r.ok) throw new Error(data.message || `HTTP ${r.status}`);
  return data;
}

function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const k of kids) e.append(k);
  return e;
}

function renderFacets(facets, state) {
  const nav = $("facets"); nav.replaceChildren();
  for (const f of FACETS) {
    if (f === "age" || !facets[f]) continue;
    const fs = el("fieldset", {}, el("legend", {}, f.replace("_", " ")));
    const chosen = new Set(state.filters[f] || []);
    for (const b of facets[f].slice(0, 15)) {
      const box = el("input", { type: "checkbox", "data-facet": f, value: String(b.value) });
      box.checked = chosen.has(String(b.value));
      box.addEventListener("change", () => {
        const s = stateFromUrl(), vals = new Set(s.filters[f] || []);
        box.checked ? vals.add(box.value) : vals.delete(box.value);
        if (vals.size) s.filters[f] = [...vals]; else delete s.filters[f];
        pushState(s);
      });
      fs.append(el("label", {}, el("span", {}, box, " " + b.value), el("span", { class: "count" }, b.count.toLocaleString())));
    }
    nav.append(fs);
  }
}

function renderCounts(c) {
  const row = (name, b) => el("tr", {}, el("th", {}, name), ...["subjects", "studies", "series", "instances"].map((k) => el("td", { "data-count": k }, b[k].count.toLocaleString())));
  const t = el("table", {}, el("tr", {}, el("th", {}, ""), ...["subjects", "studies", "series", "instances"].map((k) => el("th", {}, k))), row("all", c));
  for (const [s, b] of Object.entries(c.by_source)) t.append(row(s, b));
  $("counts").replaceChildren(t);
}

function renderHits(hits, append) {
  const ol = $("hits"); if (!append) ol.replaceChildren();
  for (const h of hits) {
    const links = h.links.map((l) => { const a = el("a", { href: l.href, rel: "noopener", target: "_blank" }, l.rel); return [a, " "]; }).flat();
    ol.append(el("li", {}, el("strong", {}, `${h.collection} · ${h.modality || "?"} · ${h.series_description || "(no description)"}`),
      el("div", { class: "muted" }, `subject ${h.subject_id} · ${h.sex || "sex ?"} · ${h.age ?? "age ?"} y · ${h.instances} instances`),
      el("div", {}, el("span", { class: "badge" }, h.access.license || "licence ?"), el("span", { class: "badge" }, h.access.tier), ...links)));
  }
}

async function run(append = false) {
  const state = stateFromUrl();
  $("q").value = state.text || "";
  $("age_gte").value = state.filters.age?.gte ?? ""; $("age_lte").value = state.filters.age?.lte ?? "";
  $("error").hidden = true;
  try {
    const body = { text: state.text, filters: state.filters, facets: append ? [] : FACETS, counts: !append, page: { size: 20, after: append ? nextToken : null } };
    const res = await api("/api/v1/search", body);
    if (!append) { renderFacets(res.facets, state); renderCounts(res.counts); }
    renderHits(res.hits, append);
    nextToken = res.next; $("more").hidden = !nextToken;
    $("index").textContent = `index ${res.index.generation} · ` + res.index.sources.map((s) => `${s.source}: ${s.version}`).join(", ");
  } catch (e) {
    $("error").textContent = `Could not search: ${e.message}`; $("error").hidden = false;
  }
}

$("search").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const s = stateFromUrl();
  s.text = $("q").value.trim() || null;
  const gte = $("age_gte").value, lte = $("age_lte").value;
  if (gte || lte) { s.filters.age = {}; if (gte) s.filters.age.gte = Number(gte); if (lte) s.filters.age.lte = Number(lte); } else delete s.filters.age;
  pushState(s);
});
$("more").addEventListener("click", () => run(true));
window.addEventListener("popstate", () => run());
run();
