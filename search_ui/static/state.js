// Search state: URL query string <-> state object <-> API request body. Pure functions, no DOM.
//
// URL shape (shareable, also what the back button restores):
//   ?q=chest&level=study&modality=CT&modality=MR&sex=F&age=60..&study_year=2000..2010&sort=-age
// keyword filters repeat their parameter (values OR'ed), ranges are LO..HI with either bound
// optional (the same syntax as `ihub search -f age=60..`) and repeat too (OR'ed:
// age=60..69.99&age=80..89.99); "(none)" stands for "not recorded" (the API's null).
import { NONE, bucketBounds, bucketCovered, bucketTouched, formatRange, itemKey, parseRange,
  rangesOf, toggleBucket } from "./ranges.js";

export { NONE, bucketBounds, bucketCovered, bucketTouched, formatRange, itemKey, parseRange,
  rangesOf, toggleBucket };

export const LEVELS = [
  { id: "collection", label: "Datasets", unit: ["dataset", "datasets"] },
  { id: "subject", label: "Subjects", unit: ["subject", "subjects"] },
  { id: "study", label: "Studies", unit: ["study", "studies"] },
  { id: "series", label: "Series", unit: ["series", "series"] },
];
export const DEFAULT_LEVEL = "series";

// The fields come from the server (GET /api/v1/facets, the field registry): configure()
// fills these live bindings before the first parseUrl. Each facet: {name, label, range,
// control: "values" | "buckets" | "range", names: {value: label}}.
export let FACETS = [];
export let FACET_NAMES = [];
export let LABELS = {};           // every searchable field's label (chips)
export let RANGE_FIELDS = [];
let BOOLEAN_FIELDS = [];
let KEYWORD_FIELDS = [];
export let FIELD_ORDER = [];
export let SORTS = [];
export let DEFAULT_FACETS = [];
let MISSABLE = [];                // fields some record lacks (the index's "not recorded" buckets)

/** A field's label; before configure(), its name made readable ("study_uid" → "Study uid"). */
export function labelOf(name) {
  const plain = name.replaceAll("_", " ");
  return LABELS[name] || plain.charAt(0).toUpperCase() + plain.slice(1);
}

/** Take the field registry from the API's GET /api/v1/facets answer. */
export function configure(meta) {
  const fields = meta.fields || [];
  FACETS = fields.filter((f) => f.control).map((f) => ({ name: f.name, label: f.label,
    range: f.kind === "range", control: f.control, names: f.display || {} }));
  FACET_NAMES = FACETS.map((f) => f.name);
  LABELS = Object.fromEntries(fields.map((f) => [f.name, f.label]));
  RANGE_FIELDS = fields.filter((f) => f.kind === "range").map((f) => f.name);
  BOOLEAN_FIELDS = fields.filter((f) => f.kind === "boolean").map((f) => f.name);
  KEYWORD_FIELDS = fields.filter((f) => f.kind !== "range").map((f) => f.name);
  FIELD_ORDER = [...KEYWORD_FIELDS, ...RANGE_FIELDS];
  SORTS = (meta.sort_fields || []).flatMap((s) => [s, `-${s}`]);
  DEFAULT_FACETS = meta.default_facets || [];
  MISSABLE = Object.entries(meta.facets || {})
    .filter(([, buckets]) => buckets.some((b) => b.value === null && (b.count > 0 || b.suppressed))).map(([name]) => name);
}

/** State from a query string (location.search). Unknown parameters are ignored. */
export function parseUrl(search) {
  const p = new URLSearchParams(search);
  const filters = {};
  // before configure() (the server could not be asked): every parameter is shown as typed
  const keywords = FIELD_ORDER.length ? KEYWORD_FIELDS
    : [...new Set(p.keys())].filter((k) => !["q", "level", "sort"].includes(k));
  for (const name of keywords) {
    const values = p.getAll(name).filter((v) => v !== "").map((v) => (v === NONE ? null : v));
    if (values.length) filters[name] = [...new Set(values)];
  }
  for (const name of RANGE_FIELDS) {
    const items = p.getAll(name).filter((v) => v !== "").map((v) => (v === NONE ? null : parseRange(v)));
    const seen = new Set();
    const unique = items.filter((x) => !seen.has(itemKey(x)) && seen.add(itemKey(x)));
    if (unique.length) filters[name] = unique;
  }
  const level = LEVELS.some((l) => l.id === p.get("level")) ? p.get("level") : DEFAULT_LEVEL;
  const sort = SORTS.includes(p.get("sort")) ? p.get("sort") : null;
  return { text: (p.get("q") || "").trim() || null, level, sort, filters };
}

/** Query string (with leading "?", or "" for the empty state) of a state; stable order. */
export function toUrl(state) {
  const p = new URLSearchParams();
  if (state.text) p.set("q", state.text);
  if (state.level && state.level !== DEFAULT_LEVEL) p.set("level", state.level);
  for (const name of FIELD_ORDER) {
    const v = state.filters[name];
    if (v === undefined) continue;
    (Array.isArray(v) ? v : [v]).forEach((x) => p.append(name, itemKey(x)));
  }
  if (state.sort && state.level === "series") p.set("sort", state.sort);
  const s = p.toString();
  return s ? `?${s}` : "";
}

/** The API's filters object for a state: lists of values (booleans as booleans), ranges
 * as {gte, lte} items, null for "not recorded". */
export function apiFilters(state) {
  const out = {};
  for (const [name, v] of Object.entries(state.filters)) {
    const items = Array.isArray(v) ? v : [v];
    out[name] = BOOLEAN_FIELDS.includes(name)
      ? items.map((x) => (x === "true" ? true : x === "false" ? false : x)) : items;
  }
  return out;
}

/** POST /api/v1/search body for a state. */
export function searchBody(state, { facets = FACETS.filter((f) => f.control !== "range")
  .map((f) => f.name), counts = true, size = 50,
  after = null, level = state.level } = {}) {
  const body = { text: state.text, filters: apiFilters(state), facets, level, counts,
    page: { size, after } };
  if (level === "series" && state.sort) body.sort = state.sort;
  return body;
}

/** POST /api/v1/cohort/count body for a state. */
export function countBody(state) {
  return { text: state.text, filters: apiFilters(state) };
}

// The cohort's charts: these facets counted in subjects, no hits, no counts.
export const CHART_FIELDS = ["age", "sex", "modality"];

/** POST /api/v1/search body for the cohort charts of a state. */
export function chartBody(state) {
  return { text: state.text, filters: apiFilters(state), facets: CHART_FIELDS,
    facet_unit: "subjects", counts: false, page: { size: 0 } };
}

/** by_collection entries ([id, counts]) most matching subjects first, then series, then
 * id; a suppressed count (null) sorts as unknown, after every known one. */
export function byMatches(byCollection) {
  const n = (block, kind) => block?.[kind]?.count ?? -1;
  return Object.entries(byCollection || {}).sort(([a, x], [b, y]) =>
    n(y, "subjects") - n(x, "subjects") || n(y, "series") - n(x, "series") || (a < b ? -1 : a > b ? 1 : 0));
}

export function withFilter(state, name, values) {
  const filters = { ...state.filters };
  if (values === null || (Array.isArray(values) && !values.length)) delete filters[name];
  else filters[name] = values;
  return { ...state, filters };
}

/** The state with "not recorded" (null) added to every filter on a field some record lacks,
 * or null when no filter can leave a record out for lacking its value. The cohort count of
 * this state minus the cohort's own is what the filters leave out for missing values. */
export function withNotRecorded(state) {
  let changed = false;
  const filters = {};
  for (const [name, v] of Object.entries(state.filters)) {
    const items = Array.isArray(v) ? v : [v];
    const add = MISSABLE.includes(name) && !items.includes(null);
    filters[name] = add ? [...items, null] : v;
    changed ||= add;
  }
  return changed ? { ...state, filters } : null;
}

/** The single range a range field's from/to form shows ({} when it has none or several). */
export function formRange(filter) {
  const ranges = (Array.isArray(filter) ? filter : filter ? [filter] : [])
    .filter((x) => x && typeof x === "object");
  return ranges.length === 1 ? ranges[0] : {};
}

/** A range field's filter after its form is applied: the typed range replaces the ranges,
 * "not recorded" (null) stays chosen; an empty form leaves only that. */
export function withRange(filter, range) {
  const missing = Array.isArray(filter) && filter.includes(null) ? [null] : [];
  const typed = range.gte === undefined && range.lte === undefined ? [] : [range];
  const out = [...typed, ...missing];
  return out.length ? out : null;
}
