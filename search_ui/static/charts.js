// Cohort charts: age at imaging (decades), sex and modality, counted in SUBJECTS (the API's
// facets with facet_unit "subjects"). Plain inline SVG, no library, no build step.
//
// Accessibility: each chart is an SVG group with <title> and <desc> (the desc lists every
// value in words); each bar shows its count as text and is a button (Enter or Space filters
// by it, like the checkbox in the filter panel). One tab stop per chart: the arrow keys,
// Home and End move between its bars.
import { countText, el, fmt } from "./render.js";
import { CHART_FIELDS, FACETS, bucketCovered, bucketTouched, itemKey, labelOf } from "./state.js";

const NS = "http://www.w3.org/2000/svg";
const WIDTH = 290, LABEL_W = 92, BAR_W = 145, ROW = 16, BAR_H = 11;
const MODALITIES_SHOWN = 8;
const DECADES = ["0-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80-89",
  "90-99", "100+"];
export const NOT_RECORDED = "not recorded";

function svg(tag, attrs = {}, ...kids) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) e.setAttribute(k, v);
  for (const kid of kids.flat()) if (kid !== null && kid !== undefined) e.append(kid);
  return e;
}

/** The three charts into `root` from the subject-counted facets. `on` = the filter panel's
 * handlers: toggle(name, value, checked) and bucket(label, checked). */
export function renderCharts(root, facets, state, on) {
  const figures = CHART_FIELDS.map((name) => chart(name, facets?.[name], state, on));
  const has = (status) => figures.some((f) => f.querySelector(`g.bar.${status}`));
  const notes = [];
  if (has("out")) notes.push("Grey bars are outside your filters: their counts are what adding the value would give.");
  if (has("part")) notes.push("Hatched decades are only partly inside your age range.");
  notes.push("A subject counts once for every value it has, so bars can add up to more than the cohort's subjects.");
  root.replaceChildren(...figures, el("p", { class: "muted small chart-note" }, notes.join(" ")));
}

/** The charts could not be drawn: say why, keep the place. */
export function chartsUnavailable(root, why) {
  root.replaceChildren(el("p", { class: "muted small", role: "status" }, `Charts unavailable: ${why}`));
}

/** Bars of one field: [{value, label, count, status, selected}], in display order. `status` is "in"
 * (in the cohort), "out" (a value the field's filter leaves out: its count is what adding it
 * would give) or "part" (an age decade only partly inside the age filter); `selected`: the
 * field's filter chose it (a click removes it; on any other bar a click adds it). */
export function chartRows(name, buckets, state) {
  const f = FACETS.find((x) => x.name === name);
  const filter = state.filters[name];
  // count: for the bar's length (a suppressed count draws none); text: as the page writes it
  let rows = (buckets || []).map((b) => ({ value: b.value, count: b.count ?? 0, text: countText(b) }));
  if (name === "age") {
    const have = new Map(rows.filter((r) => r.value !== null).map((r) => [String(r.value), r]));
    const known = [...have.keys()].every((v) => DECADES.includes(v));
    const labels = known ? DECADES : [...have.keys()].sort((a, b) => parseInt(a, 10) - parseInt(b, 10));
    rows = [...labels.map((v) => ({ value: v, count: have.get(v)?.count ?? 0, text: have.get(v)?.text ?? fmt(0) })),
      ...rows.filter((r) => r.value === null)];
  } else {
    rows.sort((a, b) => (a.value === null) - (b.value === null) || b.count - a.count);
  }
  return rows.map((r) => {
    const st = status(name, r.value, filter);
    return { ...r, label: r.value === null ? NOT_RECORDED : display(f, r.value), status: st,
      selected: filter !== undefined && st === "in" };
  });
}

function display(f, value) {
  const name = f?.names?.[String(value)];
  if (f?.name === "age") return `${value} y`;
  return name ? `${name} (${value})` : String(value);
}

function status(name, value, filter) {
  if (filter === undefined) return "in";
  const items = Array.isArray(filter) ? filter : [filter];
  if (value === null || name !== "age") {
    return items.map(itemKey).includes(itemKey(value)) ? "in" : "out";
  }
  if (bucketCovered(String(value), items)) return "in";
  return bucketTouched(String(value), items) ? "part" : "out";
}

function chart(name, buckets, state, on) {
  const id = `chart-${name}`;
  const label = labelOf(name);
  let rows = chartRows(name, buckets, state);
  const known = rows.filter((r) => r.value !== null);
  const more = name === "modality" ? Math.max(0, known.length - MODALITIES_SHOWN) : 0;
  if (more) rows = [...known.slice(0, MODALITIES_SHOWN), ...rows.filter((r) => r.value === null)];
  const fig = el("figure", { class: "chart", dataset: { chart: name } },
    el("figcaption", { id: `${id}-h` }, label, el("span", { class: "muted" }, " · subjects")));
  if (!rows.some((r) => r.count > 0 || r.text !== fmt(r.count))) {
    fig.append(el("p", { class: "muted small" }, buckets ? "no values among the matches" : "counts unavailable"));
    return fig;
  }
  const top = Math.max(1, ...rows.map((r) => r.count));
  const words = rows.map((r) => `${r.label}: ${r.text}${r.status === "out" ? " (outside the filter)" : ""}`);
  const pic = svg("svg", { class: "bars", role: "group", viewBox: `0 0 ${WIDTH} ${rows.length * ROW + 2}`,
    width: WIDTH, height: rows.length * ROW + 2, "aria-labelledby": `${id}-t`, "aria-describedby": `${id}-d` },
  svg("title", { id: `${id}-t` }, `${label}: subjects of the cohort`),
  svg("desc", { id: `${id}-d` }, `Subjects with a matching series, by ${label.toLowerCase()}`
    + ` (a subject counts once per value it has): ${words.join("; ")}.`),
  rows.map((r, i) => bar(name, r, i, top, on)));
  roving(pic);
  fig.append(pic);
  if (more) fig.append(el("p", { class: "muted small chart-note" }, `${more} more modalities in the Modality filter.`));
  return fig;
}

function bar(name, r, i, top, on) {
  const y = i * ROW + 1;
  const w = r.count ? Math.max(1.5, (BAR_W * r.count) / top) : 0;
  const g = svg("g", { class: `bar ${r.status}`, role: "button", tabindex: "-1",
    "aria-label": `${r.label}: ${r.text} ${r.count === 1 ? "subject" : "subjects"}`
      + (r.status === "out" ? ", outside the filter" : r.status === "part" ? ", partly inside the age range" : ""),
    "data-value": r.value === null ? "" : String(r.value), "data-count": String(r.count),
    "data-status": r.status, "aria-pressed": String(r.selected) },
  svg("title", {}, `${r.label}: ${r.text} subjects — Enter or click to `
    + `${r.selected ? "remove it from" : "add it to"} the filter`),
  svg("rect", { class: "row", x: 0, y: y - 1, width: WIDTH, height: ROW }),
  svg("text", { class: "lbl", x: LABEL_W - 6, y: y + BAR_H - 1, "text-anchor": "end" }, truncate(r.label, 15)),
  svg("rect", { class: "fill", x: LABEL_W, y, width: w.toFixed(1), height: BAR_H, rx: 2 }),
  svg("text", { class: "num", x: LABEL_W + w + 4, y: y + BAR_H - 1 }, r.text));
  const act = () => (name === "age" ? on.bucket(String(r.value), !r.selected)
    : on.toggle(name, r.value === null ? null : String(r.value), !r.selected));
  g.addEventListener("click", act);
  g.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); act(); }
  });
  return g;
}

function truncate(text, n) {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}

/** One tab stop per chart; arrows, Home and End move the focus between bars. */
function roving(pic) {
  const bars = [...pic.querySelectorAll("g.bar")];
  if (!bars.length) return;
  bars[0].setAttribute("tabindex", "0");
  pic.addEventListener("keydown", (ev) => {
    const i = bars.indexOf(document.activeElement);
    if (i < 0) return;
    const to = { ArrowDown: i + 1, ArrowRight: i + 1, ArrowUp: i - 1, ArrowLeft: i - 1, Home: 0,
      End: bars.length - 1 }[ev.key];
    if (to === undefined) return;
    ev.preventDefault();
    const next = bars[Math.max(0, Math.min(bars.length - 1, to))];
    bars.forEach((b) => b.setAttribute("tabindex", b === next ? "0" : "-1"));
    next.focus();
  });
}
