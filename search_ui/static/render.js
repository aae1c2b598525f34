// Rendering: facets, cohort counts, level tabs, grouped hits. DOM only, no fetching.
import { FACETS, LEVELS, NONE, RANGE_FIELDS, bucketCovered, formRange, formatRange, itemKey,
  labelOf } from "./state.js";

const nf = new Intl.NumberFormat("en-US");
export const fmt = (n) => (n === null || n === undefined ? "–" : nf.format(n));

/** Element builder: el("a", {href, class: "x", dataset: {...}, onclick}, ...children). */
export function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "dataset") Object.assign(e.dataset, v);
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "checked" || k === "value") e[k] = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat(Infinity)) if (kid !== null && kid !== undefined && kid !== false) e.append(kid);
  return e;
}

/** A count as the page shows it (the API's protected numbers, README "Small counts and
 * estimates"): exact "1,234"; suppressed "<10"; a visible part with a suppressed restricted
 * part "1,234 + <10"; with a rounded restricted part "≈1,250". `show` formats the numbers. */
export function countText(c, show = fmt) {
  if (!c) return "–";
  const r = c.restricted;
  const hiddenSum = Boolean(r && r.count === null && r.high === null);  // instances, bytes
  if (c.count === null || c.count === undefined) return c.suppressed && !hiddenSum ? `<${c.threshold}` : "–";
  if (!r) return show(c.count);
  if (r.count === null) return hiddenSum ? `≥${show(c.count)}` : `${show(c.count)} + <${r.threshold}`;
  return `≈${show(c.count)}`;
}

/** The tooltip of a protected count: what is counted exactly and what is protected. */
export function countTitle(c, show = fmt) {
  const r = c?.restricted;
  if (!r) return null;
  const hidden = r.count === null
    ? (r.high === null ? `a hidden part from records you may count but not see (${r.method})`
      : `fewer than ${fmt(r.threshold)} you may count but not see (suppressed)`)
    : `${show(r.low)} to ${show(r.high)} you may count but not see (${r.method})`;
  return `${show(c.visible ?? 0)} you may see, plus ${hidden}`;
}

export function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "kB", "MB", "GB", "TB", "PB"];
  let i = 0, x = n;
  while (x >= 1000 && i < units.length - 1) { x /= 1000; i += 1; }
  return `${x >= 100 || i === 0 ? Math.round(x) : x.toFixed(1)} ${units[i]}`;
}

// --- facets ------------------------------------------------------------------------------

const FACET_SHOWN = 8;
const ui = { expanded: new Set(), find: {} };   // per-facet view state kept across renders

/** The filter panel. `on` = {toggle(name, value, checked), bucket(label, checked),
 * range(name, {gte, lte}) } */
export function renderFacets(root, facets, state, on) {
  root.replaceChildren(...FACETS.map((f) => (f.control === "range"
    ? rangeBox(f.name, f.label, state, on, RANGE_LIMITS[f.name] || {})
    : facetBox(f, facets[f.name], state, on))));
}

const RANGE_LIMITS = { study_year: { min: 1900, max: 2100, step: 1 },
  age: { min: 0, max: 130, step: "any" } };

function facetBox(f, buckets, state, on) {
  const box = el("fieldset", { class: "facet", dataset: { facet: f.name } },
    el("legend", {}, f.label));
  if (f.control === "buckets") box.append(rangeForm(f.name, state, on, RANGE_LIMITS[f.name] || {}));
  const chosen = new Set((Array.isArray(state.filters[f.name]) ? state.filters[f.name] : []).map(itemKey));
  const ticked = (b) => (b.value !== null && f.control === "buckets"
    ? bucketCovered(String(b.value), state.filters[f.name]) : chosen.has(itemKey(b.value)));
  if (!buckets?.length) {
    box.append(el("p", { class: "muted small" },
      buckets ? "no values among the matches" : "counts unavailable"));
    return box;
  }
  const long = buckets.length > FACET_SHOWN && !f.range;
  const open = ui.expanded.has(f.name);
  const needle = (ui.find[f.name] || "").toLowerCase();
  let shown = buckets;
  // "not recorded" (null) is always shown, last: the records a filter on this field drops
  if (long && !open) shown = buckets.filter((b, i) => i < FACET_SHOWN || ticked(b) || b.value === null);
  if (f.range) shown = [...buckets].sort((a, b) => (a.value === null) - (b.value === null)
    || Number.parseInt(a.value, 10) - Number.parseInt(b.value, 10));
  shown = [...shown.filter((b) => b.value !== null), ...shown.filter((b) => b.value === null)];
  if (long && open) {
    box.append(el("input", { type: "search", class: "find", placeholder: `find a ${f.label.toLowerCase()}`,
      "aria-label": `Find ${f.label} values`, value: ui.find[f.name] || "",
      dataset: { key: `find:${f.name}` },
      oninput: (ev) => { ui.find[f.name] = ev.target.value; filterValues(box, ev.target.value); } }));
  }
  const list = el("ul", { class: "values" });
  const top = Math.max(1, ...buckets.map((b) => b.count ?? 0));
  for (const b of shown) {
    const value = itemKey(b.value);
    const input = el("input", { type: "checkbox", value, checked: ticked(b),
      dataset: { facet: f.name, key: `f:${f.name}:${value}` },
      onchange: (ev) => (b.value === null ? on.toggle(f.name, null, ev.target.checked)
        : f.range ? on.bucket(value, ev.target.checked) : on.toggle(f.name, value, ev.target.checked)) });
    list.append(el("li", { class: [b.count === 0 ? "zero" : "", b.value === null ? "none" : ""].join(" ").trim() || null,
      style: `--bar: ${Math.round((1000 * (b.count ?? 0)) / top) / 10}%` }, el("label", {},
      input, el("span", { class: "v" }, label(f, b.value)),
      el("span", { class: "count", dataset: { count: b.count ?? "", suppressed: b.suppressed || null },
        title: countTitle(b) }, countText(b)))));
  }
  box.append(list);
  if (long && open && needle) filterValues(box, needle);
  if (long) {
    box.append(el("button", { type: "button", class: "linkish", "aria-expanded": String(open),
      dataset: { key: `more:${f.name}` },
      onclick: () => { if (open) { ui.expanded.delete(f.name); ui.find[f.name] = ""; }
        else ui.expanded.add(f.name); on.refacet(); } },
    open ? "Show fewer" : `Show all ${fmt(buckets.length)}`));
  }
  return box;
}

/** Hide the values of an expanded facet that do not contain `needle` (no re-render, so the
 * find box keeps focus and caret). */
function filterValues(box, needle) {
  const n = needle.trim().toLowerCase();
  let visible = 0;
  for (const li of box.querySelectorAll("ul.values li")) {
    li.hidden = Boolean(n) && !li.querySelector(".v").textContent.toLowerCase().includes(n);
    visible += li.hidden ? 0 : 1;
  }
  let none = box.querySelector(".none");
  if (!none) {
    none = el("p", { class: "none muted small", role: "status" });
    box.querySelector("ul.values").after(none);
  }
  none.textContent = visible ? "" : `no value contains “${needle.trim()}”`;
  none.hidden = Boolean(visible);
}

/** How the page names a facet value ("not recorded" for the API's null). */
export function label(f, value) {
  if (value === null || value === NONE) return "not recorded";
  const name = f.names?.[String(value)];
  return name ? `${name}${f.name === "sex" ? ` (${value})` : ""}` : String(value);
}

function rangeBox(name, legend, state, on, limits) {
  return el("fieldset", { class: "facet", dataset: { facet: name } }, el("legend", {}, legend),
    rangeForm(name, state, on, limits));
}

/** Two number inputs; Enter or "Apply" sets the range (either bound may be empty). */
function rangeForm(name, state, on, { min, max, step }) {
  const r = formRange(state.filters[name]);
  const what = name === "age" ? "age in years" : name.replace("_", " ");
  const input = (bound, text) => el("label", { class: "bound" }, text,
    el("input", { type: "number", id: `${name}_${bound}`, name: `${name}_${bound}`, min, max, step,
      "aria-label": `${bound === "gte" ? "minimum" : "maximum"} ${what}`,
      inputmode: "decimal", value: r[bound] ?? "", dataset: { key: `range:${name}:${bound}` } }));
  return el("form", { class: "range", dataset: { range: name, shown: formatRange(r) },
    onsubmit: (ev) => { ev.preventDefault(); on.range(name, readRange(name)); } },
  input("gte", "from"), input("lte", "to"),
  el("button", { type: "submit", "aria-label": `Apply ${what} range`, dataset: { key: `apply:${name}` } }, "Apply"));
}

/** The range typed into a range form: {gte, lte} (numbers, or text the API will reject). */
export function readRange(name) {
  const r = {};
  for (const bound of ["gte", "lte"]) {
    const input = document.getElementById(`${name}_${bound}`);
    if (!input) continue;
    const raw = input.value.trim();
    if (raw === "" && input.validity.badInput) r[bound] = "not a number";
    else if (raw !== "") r[bound] = Number(raw);
  }
  return r;
}

// --- cohort panel, tabs, chips --------------------------------------------------------------

/** Totals per level: datasets from the collection facet (values with matches), the others
 * from the counts. */
export function levelTotals(res, state) {
  const selected = Array.isArray(state.filters.collection) ? new Set(state.filters.collection) : null;
  const datasets = (res.facets.collection || [])
    .filter((b) => (b.count > 0 || b.suppressed) && b.value !== null && (!selected || selected.has(String(b.value)))).length;
  const c = res.counts;
  return { collection: { count: datasets }, subject: c?.subjects, study: c?.studies,
    series: c?.series };
}

export function renderTabs(root, state, totals, onLevel) {
  const tabs = LEVELS.map((l) => el("button", {
    type: "button", role: "tab", id: `tab-${l.id}`, "aria-controls": "results",
    "aria-selected": String(l.id === state.level), tabindex: l.id === state.level ? "0" : "-1",
    dataset: { level: l.id, key: `tab:${l.id}` }, onclick: () => onLevel(l.id) },
  l.label, " ", el("span", { class: "tab-count", dataset: { total: totals[l.id]?.count ?? "" },
    title: countTitle(totals[l.id]) }, totals[l.id] ? countText(totals[l.id]) : fmt(null))));
  root.replaceChildren(...tabs);
}

/** Arrow keys move between tabs (focus only; Enter/Space activates: each tab is a query). */
export function tabKeys(root) {
  root.addEventListener("keydown", (ev) => {
    const tabs = [...root.querySelectorAll("[role=tab]")];
    const i = tabs.indexOf(document.activeElement);
    if (i < 0) return;
    const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[ev.key];
    if (to === undefined) return;
    ev.preventDefault();
    tabs[(to + tabs.length) % tabs.length].focus();
  });
}

export function renderChips(root, state, onRemove, onClear) {
  const chips = [];
  if (state.text) chips.push(chip(`text: ${state.text}`, () => onRemove("text")));
  for (const [name, v] of Object.entries(state.filters)) {
    const f = FACETS.find((x) => x.name === name);
    const say = (x) => (x === null ? "not recorded" : typeof x === "object"
      ? formatRange(x).replace("..", " – ") : f ? label(f, x) : String(x));
    const text = (Array.isArray(v) ? v : [v]).map(say).join(" or ");
    chips.push(chip(`${labelOf(name)}: ${text}`, () => onRemove(name)));
  }
  if (chips.length > 1) chips.push(el("button", { type: "button", class: "linkish", onclick: onClear }, "Clear all"));
  root.replaceChildren(...chips);
}

const chip = (text, remove) => el("span", { class: "chip" }, el("span", { class: "chip-text" }, text),
  el("button", { type: "button", "aria-label": `Remove filter ${text}`, title: "Remove", onclick: remove }, "×"));

export { RANGE_FIELDS };
